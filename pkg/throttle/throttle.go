// Package throttle implements limits on repeated failures per key (a
// client address, a token prefix): a token bucket per key that each
// failure drains and time refills, so that a key that failed too often
// is told to wait before it is even tried again.
//
// Buckets are x/time/rate limiters; the keys live in a bounded LRU whose
// entries expire once their bucket would be full again, so memory stays
// bounded whatever the number of keys an attacker rotates through.
package throttle

import (
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"
	"golang.org/x/time/rate"
)

// Options configure New.
type Options struct {
	// PerMinute is how many failures a key may have in a minute, in a
	// burst or spread out. If zero or negative, nothing is throttled.
	PerMinute int
	// MaxKeys bounds the number of keys remembered. If zero, 100,000 is
	// used; the least recently failing keys are forgotten first.
	MaxKeys int
}

// Limiter counts failures per key. It is safe for concurrent use. A nil
// *Limiter throttles nothing.
type Limiter struct {
	limit rate.Limit
	burst int
	mu    sync.Mutex // serialises get-or-create of a key's bucket
	keys  *expirable.LRU[string, *rate.Limiter]
}

// New returns a Limiter, or nil when opts.PerMinute disables throttling.
func New(opts Options) *Limiter {
	if opts.PerMinute <= 0 {
		return nil
	}
	maxKeys := opts.MaxKeys
	if maxKeys <= 0 {
		maxKeys = 100_000
	}
	// A bucket holds a minute's failures and refills in a minute: after
	// that, an entry is the same as a new one and can go.
	return &Limiter{
		limit: rate.Limit(float64(opts.PerMinute) / 60),
		burst: opts.PerMinute,
		keys:  expirable.NewLRU[string, *rate.Limiter](maxKeys, nil, time.Minute+time.Second),
	}
}

// Delay returns how long key must wait before its next attempt: zero
// while it has failures left.
func (l *Limiter) Delay(key string) time.Duration {
	if l == nil {
		return 0
	}
	b, ok := l.keys.Get(key)
	if !ok {
		return 0
	}
	now := time.Now()
	if b.TokensAt(now) >= 1 {
		return 0
	}
	r := b.ReserveN(now, 1)
	defer r.CancelAt(now)
	return r.DelayFrom(now)
}

// Fail records one failure of key.
func (l *Limiter) Fail(key string) {
	if l == nil {
		return
	}
	l.mu.Lock()
	b, ok := l.keys.Get(key)
	if !ok {
		b = rate.NewLimiter(l.limit, l.burst)
	}
	// Add again even when present: it renews the entry's expiry.
	l.keys.Add(key, b)
	l.mu.Unlock()
	b.Allow()
}
