package throttle

import (
	"fmt"
	"testing"
	"time"
)

func TestLimiterThrottlesAfterItsFailures(t *testing.T) {
	l := New(Options{PerMinute: 3})
	for i := range 3 {
		if d := l.Delay("a"); d != 0 {
			t.Fatalf("after %d failures: delay %v, want 0", i, d)
		}
		l.Fail("a")
	}
	d := l.Delay("a")
	if d <= 0 || d > 20*time.Second+time.Millisecond {
		t.Fatalf("after 3 failures at 3 a minute: delay %v, want about 20s", d)
	}
	// Asking does not drain: the delay stays the same.
	if again := l.Delay("a"); again > d {
		t.Errorf("a second Delay grew the wait: %v then %v", d, again)
	}
	if d := l.Delay("b"); d != 0 {
		t.Errorf("another key: delay %v, want 0", d)
	}
}

func TestLimiterRefills(t *testing.T) {
	l := New(Options{PerMinute: 600}) // one failure back every 100 ms
	for range 600 {
		l.Fail("a")
	}
	if l.Delay("a") == 0 {
		t.Fatal("no delay after a full burst")
	}
	time.Sleep(150 * time.Millisecond)
	if d := l.Delay("a"); d != 0 {
		t.Errorf("after a refill period: delay %v, want 0", d)
	}
}

func TestLimiterBoundsItsKeys(t *testing.T) {
	l := New(Options{PerMinute: 1, MaxKeys: 10})
	for i := range 100 {
		l.Fail(fmt.Sprint(i))
	}
	if n := l.keys.Len(); n != 10 {
		t.Errorf("%d keys remembered, want 10", n)
	}
	if l.Delay("99") == 0 {
		t.Error("the most recent key is not throttled")
	}
}

func TestDisabled(t *testing.T) {
	l := New(Options{})
	if l != nil {
		t.Fatal("PerMinute 0 should disable throttling")
	}
	l.Fail("a")
	if l.Delay("a") != 0 {
		t.Error("a nil limiter throttled")
	}
}
