package db

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/cleanmail/cleanmail/pkg/fault"
)

// Store.Tx composes store calls into one transaction: they see each other's
// writes, commit together, or leave nothing behind.
func TestTxComposesStoreCalls(t *testing.T) {
	testStores(t, func(t *testing.T, s *Store) {
		ctx := context.Background()

		// Committed together; the reads inside see the writes before the
		// commit, and the reads outside do not.
		var a, b int64
		err := s.Tx(ctx, func(ctx context.Context) error {
			var err error
			if a, err = s.CreateDomain(ctx, newTestDomain("a.example")); err != nil {
				return err
			}
			if err := s.DomainExists(ctx, a); err != nil {
				t.Errorf("inside the transaction, the new domain is missing: %v", err)
			}
			if err := s.DomainExists(context.Background(), a); !errors.Is(err, ErrNotFound) {
				t.Errorf("outside the transaction, the uncommitted domain is seen: %v", err)
			}
			// The reads scanned by hand (query) read on the transaction too.
			if v, err := s.GetDomain(ctx, a); err != nil || v.Name != "a.example" || v.Policy == nil {
				t.Errorf("inside the transaction, GetDomain = %+v, %v; want the new domain with its policy", v, err)
			}
			if l, err := s.DomainLineage(ctx, a); err != nil || l.Domain.Name != "a.example" {
				t.Errorf("inside the transaction, DomainLineage = %+v, %v", l, err)
			}
			if _, err := s.GetDomain(context.Background(), a); !errors.Is(err, ErrNotFound) {
				t.Errorf("outside the transaction, GetDomain of the uncommitted domain: %v, want not found", err)
			}
			b, err = s.CreateDomain(ctx, newTestDomain("b.example"))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range []int64{a, b} {
			if err := s.DomainExists(ctx, id); err != nil {
				t.Errorf("domain %d after the commit: %v", id, err)
			}
		}

		// A later failure rolls back the earlier writes, and the failure
		// is fn's, unchanged.
		refused := errors.New("refused")
		var c int64
		err = s.Tx(ctx, func(ctx context.Context) error {
			var err error
			if c, err = s.CreateDomain(ctx, newTestDomain("c.example")); err != nil {
				return err
			}
			return refused
		})
		if !errors.Is(err, refused) {
			t.Errorf("Tx = %v, want fn's error", err)
		}
		if err := s.DomainExists(ctx, c); !errors.Is(err, ErrNotFound) {
			t.Errorf("the domain of a rolled-back Tx: %v, want not found", err)
		}

		// A store call that fails inside (a conflict) rolls back its own
		// part only; fn may go on, and what it wrote before stays.
		var d int64
		err = s.Tx(ctx, func(ctx context.Context) error {
			var err error
			if d, err = s.CreateDomain(ctx, newTestDomain("d.example")); err != nil {
				return err
			}
			if _, err := s.CreateDomain(ctx, newTestDomain("a.example")); fault.KindOf(err) != fault.Conflict {
				t.Errorf("a second a.example inside the Tx: %v, want a conflict", err)
			}
			// Nested: joins the transaction.
			return s.Tx(ctx, func(ctx context.Context) error { return s.DomainExists(ctx, d) })
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.DomainExists(ctx, d); err != nil {
			t.Errorf("domain d after a Tx that survived a conflict: %v", err)
		}
	})
}

// A Tx is bound in time like every store call: fn that outlives the store's
// timeout is rolled back, and its writes are gone.
func TestTxIsBounded(t *testing.T) {
	testStores(t, func(t *testing.T, s *Store) {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		var e int64
		err := s.Tx(ctx, func(ctx context.Context) error {
			var err error
			if e, err = s.CreateDomain(ctx, newTestDomain("e.example")); err != nil {
				return err
			}
			<-ctx.Done()
			_, err = s.CreateDomain(ctx, newTestDomain("f.example"))
			return err
		})
		if fault.KindOf(err) != fault.Unavailable {
			t.Errorf("Tx past its deadline = %v, want unavailable", err)
		}
		if err := s.DomainExists(context.Background(), e); !errors.Is(err, ErrNotFound) {
			t.Errorf("the domain of a Tx cut at its deadline: %v, want not found", err)
		}
		// And the writer is free again (SQLite): a write goes through.
		if _, err := s.CreateDomain(context.Background(), newTestDomain("g.example")); err != nil {
			t.Errorf("a write after the cut Tx: %v", err)
		}
	})
}

// LockAdmin holds the account until the Tx ends: a concurrent change of it
// waits, so what the Tx decided on is still true when it commits.
func TestLockAdminHoldsTheRow(t *testing.T) {
	testStores(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		a := &Admin{Login: "locked", Enabled: true}
		if err := s.CreateAdmin(ctx, a); err != nil {
			t.Fatal(err)
		}
		changed := make(chan error, 1)
		err := s.Tx(ctx, func(ctx context.Context) error {
			if _, err := s.LockAdmin(ctx, a.ID); err != nil {
				return err
			}
			go func() {
				_, err := s.UpdateAdmin(context.Background(), a.ID, func(a *Admin) error { a.SysAdmin = true; return nil })
				changed <- err
			}()
			select {
			case err := <-changed:
				t.Errorf("the account changed (%v) while a Tx held it", err)
				changed <- err
			case <-time.After(300 * time.Millisecond):
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := <-changed; err != nil {
			t.Errorf("the change after the Tx: %v", err)
		}
	})
}

// Two replicas claiming the due diagnostics at once share them out: each
// entity is claimed once, and a lapsed claim can be taken again.
func TestClaimDueIsOncePerRound(t *testing.T) {
	testStores(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		const n = 40
		for i := range n {
			if _, err := s.CreateDomain(ctx, newTestDomain(fmt.Sprintf("d%d.example", i))); err != nil {
				t.Fatal(err)
			}
		}
		now := time.Now().Unix()
		got := make(chan []int64, 2)
		for range 2 {
			go func() {
				var mine []int64
				for {
					ids, err := s.ClaimDue(ctx, ObjectDomain, now, now-3600, now+60, 7)
					if err != nil {
						t.Error(err)
					}
					if len(ids) == 0 {
						break
					}
					mine = append(mine, ids...)
				}
				got <- mine
			}()
		}
		seen := map[int64]int{}
		for range 2 {
			for _, id := range <-got {
				seen[id]++
			}
		}
		if len(seen) != n {
			t.Errorf("%d domains claimed, want %d", len(seen), n)
		}
		for id, c := range seen {
			if c != 1 {
				t.Errorf("domain %d claimed %d times", id, c)
			}
		}
		// Checked recently: not due. Claims lapsed: due again.
		if ids, _ := s.ClaimDue(ctx, ObjectDomain, now, now-3600, now+60, 100); len(ids) != 0 {
			t.Errorf("claimed again while the claims hold: %v", ids)
		}
		if ids, _ := s.ClaimDue(ctx, ObjectDomain, now+120, now-3600, now+180, 100); len(ids) != n {
			t.Errorf("%d claimed once the claims lapsed, want %d", len(ids), n)
		}
		if ids, _ := s.ClaimDue(ctx, ObjectPlatform, now, now-3600, now+60, 100); len(ids) != 0 {
			t.Errorf("platforms claimed: %v (the test domains have none)", ids)
		}
	})
}
