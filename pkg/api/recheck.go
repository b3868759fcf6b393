package api

import (
	"context"
	"math"
	"sync"
	"time"

	"github.com/cleanmail/cleanmail/db"
)

// Recheck configures the periodic re-check of every domain's DNS and every
// platform's relays, which keeps GET /health current.
type Recheck struct {
	// Interval is how old a diagnostic may get; zero: no periodic
	// re-check.
	Interval time.Duration
	// Tick is how often a replica takes a share of the due entities:
	// about total × Tick / Interval of them, so that a round is spread
	// over the interval instead of bursting. One minute when zero.
	Tick time.Duration
	// Concurrency bounds the checks running at once in this replica; 8
	// when zero.
	Concurrency int
	// Context ends the re-check (the server's lifetime).
	Context context.Context
}

// recheckLoop re-checks, every tick, the share of the due domains and
// platforms this replica claims (db.ClaimDue: each is claimed by one
// replica per round), until the context ends.
func (s *Server) recheckLoop(r Recheck) {
	t := time.NewTicker(r.Tick)
	defer t.Stop()
	for {
		if s.ready() { // not before the database is migrated
			if _, err := s.recheckRound(r.Context, r, time.Now()); err != nil && r.Context.Err() == nil {
				s.log.Warn("periodic re-check", "err", err)
			}
		}
		select {
		case <-r.Context.Done():
			return
		case <-t.C:
		}
	}
}

// recheckRound claims this tick's share of the due entities and checks
// them, at most r.Concurrency at once; it returns how many it checked.
func (s *Server) recheckRound(ctx context.Context, r Recheck, now time.Time) (int, error) {
	total, err := s.store.CountChecked(ctx)
	if err != nil {
		return 0, err
	}
	batch := int(math.Ceil(float64(total) * float64(r.Tick) / float64(r.Interval)))
	batch = min(max(batch, 1), 10_000)
	// A claim outlives a check (its lookups and connections are bounded)
	// and lapses before the next round.
	lease := now.Add(min(max(2*r.Tick, 5*time.Minute), r.Interval)).Unix()
	cutoff := now.Add(-r.Interval).Unix()
	sem := make(chan struct{}, r.Concurrency)
	var wg sync.WaitGroup
	checked := 0
	kinds := []db.ObjectKind{db.ObjectDomain, db.ObjectPlatform}
	if s.dns == nil {
		kinds = kinds[1:] // no resolver: the domains' checks would all fail
	}
	for _, kind := range kinds {
		ids, err := s.store.ClaimDue(ctx, kind, now.Unix(), cutoff, lease, batch)
		if err != nil {
			return checked, err
		}
		for _, id := range ids {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				n := s.recheckInFlight.Add(1)
				defer s.recheckInFlight.Add(-1)
				for p := s.recheckPeak.Load(); n > p && !s.recheckPeak.CompareAndSwap(p, n); p = s.recheckPeak.Load() {
				}
				var err error
				if kind == db.ObjectDomain {
					_, err = s.diagnoseDomain(ctx, id)
				} else {
					_, _, err = s.diagnosePlatform(ctx, id)
				}
				if err != nil && ctx.Err() == nil {
					s.log.Warn("periodic re-check", "kind", kind, "id", id, "err", err)
				}
			})
			checked++
		}
	}
	wg.Wait()
	return checked, nil
}
