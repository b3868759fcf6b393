package db

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"gorm.io/gorm"

	"github.com/cleanmail/cleanmail/db/dbtest"
)

// testStores runs fn on a fresh SQLite file and on a fresh PostgreSQL
// schema (CLEANMAIL_TEST_DATABASE_URL, or the local server when it answers;
// with the variable set, an unreachable server fails the test), the two at
// once: fn must share nothing else between them (go test -race tells).
func testStores(t *testing.T, fn func(t *testing.T, s *Store)) {
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		fn(t, openTestStore(t, dbtest.SQLite(t)))
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		fn(t, openTestStore(t, dbtest.Postgres(t)))
	})
}

func openTestStore(t testing.TB, u string) *Store {
	s, err := Open(Options{URL: u})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

func newTestDomain(name string) *NewDomain {
	return &NewDomain{
		Domain: Domain{Name: name, Status: StatusEnabled, WblistPriority: "USER", DefaultLanguage: "EN", SenderVerifyOn: true, OutgoingSubnets: []string{}},
		Policy: Policy{Name: "Politique-" + name, Incoming: true, MailSizeLimit: 21, SpamScore: 5},
	}
}

func TestMigrateIsIdempotent(t *testing.T) {
	testStores(t, func(t *testing.T, s *Store) {
		applied, err := s.Migrate(context.Background())
		if err != nil || len(applied) != 0 {
			t.Fatalf("second Migrate = %v, %v; want nothing applied", applied, err)
		}
		ok, err := s.Migrated(context.Background())
		if err != nil || !ok {
			t.Fatalf("Migrated = %v, %v; want true", ok, err)
		}
	})
}

func TestConcurrentCreateSameName(t *testing.T) {
	testStores(t, func(t *testing.T, s *Store) {
		const n = 8
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				name := "race.example"
				if i%2 == 1 {
					name = "RACE.example" // case-insensitive uniqueness
				}
				_, errs[i] = s.CreateDomain(context.Background(), newTestDomain(name))
			}()
		}
		wg.Wait()
		created := 0
		for _, err := range errs {
			switch {
			case err == nil:
				created++
			case errors.Is(err, ErrConflict):
			default:
				t.Errorf("unexpected error: %v", err)
			}
		}
		if created != 1 {
			t.Errorf("%d creations succeeded, want exactly 1", created)
		}
	})
}

func TestAliasConflictsWithDomain(t *testing.T) {
	testStores(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		a, err := s.CreateDomain(ctx, newTestDomain("a.example"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.CreateDomain(ctx, newTestDomain("b.example")); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AddDomainAliases(ctx, a, []string{"B.example"}); !errors.Is(err, ErrConflict) {
			t.Errorf("alias equal to a domain: err = %v, want ErrConflict", err)
		}
		if _, err := s.AddDomainAliases(ctx, a, []string{"c.example"}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.CreateDomain(ctx, newTestDomain("c.example")); !errors.Is(err, ErrConflict) {
			t.Errorf("domain equal to an alias: err = %v, want ErrConflict", err)
		}
	})
}

func TestPurgeCascades(t *testing.T) {
	testStores(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		id, err := s.CreateDomain(ctx, newTestDomain("gone.example"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.AddDomainAliases(ctx, id, []string{"alias.example"}); err != nil {
			t.Fatal(err)
		}
		past := nowMillis() - 1
		err = s.UpdateDomain(ctx, id, func(e *DomainEdit) error {
			e.Domain.Status, e.Domain.DeletionDate, e.Domain.PurgeDate = StatusDeleted, &past, &past
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		n, err := s.PurgeDomains(ctx, nowMillis())
		if err != nil || n != 1 {
			t.Fatalf("PurgeDomains = %d, %v; want 1", n, err)
		}
		if _, err := s.GetDomain(ctx, id); !errors.Is(err, ErrNotFound) {
			t.Errorf("purged domain: err = %v, want ErrNotFound", err)
		}
		// Its names are free again, alias included.
		if _, err := s.CreateDomain(ctx, newTestDomain("alias.example")); err != nil {
			t.Errorf("alias name not released by the purge: %v", err)
		}
		var policies int64
		gdb, cancel := s.db(ctx)
		defer cancel()
		gdb.Model(&Policy{}).Where("domain_id = ?", id).Count(&policies)
		if policies != 0 {
			t.Errorf("%d policies left after the purge", policies)
		}
	})
}

func TestListFiltersAreLiteral(t *testing.T) {
	testStores(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		for _, n := range []string{"abc.example", "a_c.example", "xyz.example"} {
			if _, err := s.CreateDomain(ctx, newTestDomain(n)); err != nil {
				t.Fatal(err)
			}
		}
		for _, tc := range []struct {
			m    Match
			want int64
		}{
			{"a_c*", 1}, // _ is literal, not "any character"
			{"a*", 2},
			{"*.EXAMPLE", 3},
			{"*b*", 1},
			{"%", 0},
		} {
			_, total, _, err := s.ListDomains(ctx, DomainFilter{Name: tc.m}, Page{PageSize: 10})
			if err != nil || total != tc.want {
				t.Errorf("name=%q: total %d, %v; want %d", tc.m, total, err, tc.want)
			}
		}
	})
}

// TestUnanchoredFilterPages: a page of a `*ab*` filter (sorted from its
// matches on PostgreSQL, findPage) holds the rows, in the order, offset
// and length of any other page.
func TestUnanchoredFilterPages(t *testing.T) {
	testStores(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		for _, n := range []string{"ab1.example", "xb2.example", "b3.example", "zz.example", "Cb4.example", "db5.example"} {
			if _, err := s.CreateDomain(ctx, newTestDomain(n)); err != nil {
				t.Fatal(err)
			}
		}
		for _, tc := range []struct {
			m    Match
			p    Page
			want []string
		}{
			{"*b*", Page{PageSize: 10}, []string{"ab1.example", "b3.example", "Cb4.example", "db5.example", "xb2.example"}},
			{"*b*", Page{PageSize: 2, Offset: 1, Sort: "-name"}, []string{"db5.example", "Cb4.example"}},
			{"*B?.example", Page{PageSize: 10}, nil},
			{"*.EXAMPLE", Page{PageSize: 2, Offset: 4, Sort: "id"}, []string{"Cb4.example", "db5.example"}},
		} {
			views, total, _, err := s.ListDomains(ctx, DomainFilter{Name: tc.m}, tc.p)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, v := range views {
				got = append(got, v.Name)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("name=%q %+v: %v (of %d), want %v", tc.m, tc.p, got, total, tc.want)
			}
		}
	})
}

// Safety nets of translate: what the API's bounds and checks keep out,
// should it reach the database anyway, is the request's fault (400, 422),
// not an internal failure.
func TestTranslateBlamesTheRequest(t *testing.T) {
	testStores(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		if s.Dialect() == Postgres {
			// Random text does not compress: past 2,704 bytes an index
			// row does not fit its page.
			b := make([]byte, 3000)
			_, _ = rand.Read(b)
			for i := range b {
				b[i] = 'a' + b[i]%26
			}
			if err := s.CreateBroker(ctx, &Broker{Name: string(b)}); !errors.Is(err, ErrInvalid) {
				t.Errorf("a name too long for its index: err = %v, want ErrInvalid", err)
			}
		}
		unknown := int64(9999)
		err := s.tx(ctx, func(tx *gorm.DB) error {
			return tx.Create(&Authority{AdminID: 1, DomainID: &unknown, Permissions: []string{"DOMAIN_READ"}}).Error
		})
		if !errors.Is(err, ErrUnprocessable) {
			t.Errorf("a reference to nothing: err = %v, want ErrUnprocessable", err)
		}
	})
}

// TestPostgresKeepsIdleConnections: ten queries at once, twice, run on the
// same ten connections; none is closed for want of an idle slot (with
// database/sql's default of 2, eight were closed each time and reopened).
func TestPostgresKeepsIdleConnections(t *testing.T) {
	t.Parallel()
	s := openTestStore(t, dbtest.Postgres(t))
	pool, err := s.SQL()
	if err != nil {
		t.Fatal(err)
	}
	pids := map[int]bool{}
	for round := range 2 {
		var wg sync.WaitGroup
		var mu sync.Mutex
		for range 10 {
			wg.Go(func() {
				var pid int
				if err := pool.QueryRow("SELECT pg_backend_pid() FROM pg_sleep(0.05)").Scan(&pid); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				defer mu.Unlock()
				if round == 1 && !pids[pid] {
					t.Errorf("the second round ran on a new connection (backend %d)", pid)
				}
				pids[pid] = true
			})
		}
		wg.Wait()
	}
	if st := pool.Stats(); st.MaxIdleClosed != 0 {
		t.Errorf("%d connections closed for want of an idle slot", st.MaxIdleClosed)
	}
}

// TestPostgresPoolOptions: the pool's bounds are the options' (a bound on
// open connections caps the idle ones too).
func TestPostgresPoolOptions(t *testing.T) {
	s, err := Open(Options{URL: dbtest.Postgres(t), Pool: Pool{MaxOpen: 3, MaxIdle: 8}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	pool, err := s.SQL()
	if err != nil {
		t.Fatal(err)
	}
	if st := pool.Stats(); st.MaxOpenConnections != 3 {
		t.Errorf("max open %d, want 3", st.MaxOpenConnections)
	}
	// Four queries at once through three connections: one waits.
	done := make(chan error, 4)
	for range 4 {
		go func() {
			_, err := pool.Exec("SELECT pg_sleep(0.1)")
			done <- err
		}()
	}
	for range 4 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if st := pool.Stats(); st.WaitCount == 0 || st.OpenConnections > 3 || st.Idle > 3 {
		t.Errorf("stats %+v: want a wait, at most 3 open and idle", st)
	}
}

// TestOptimizeGathersSQLiteStatistics: after Optimize, SQLite's planner
// has statistics of the tables that have rows (sqlite_stat1).
func TestOptimizeGathersSQLiteStatistics(t *testing.T) {
	s := openTestStore(t, dbtest.SQLite(t))
	ctx := context.Background()
	for i := range 3 {
		if _, err := s.CreateDomain(ctx, newTestDomain(fmt.Sprintf("d%d.example", i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Optimize(ctx); err != nil {
		t.Fatal(err)
	}
	pool, _ := s.SQL()
	var n int
	if err := pool.QueryRow("SELECT count(*) FROM sqlite_stat1 WHERE tbl = 'domains'").Scan(&n); err != nil || n == 0 {
		t.Errorf("statistics of domains: %d rows, %v", n, err)
	}
	pg := openTestStore(t, dbtest.Postgres(t))
	if err := pg.Optimize(ctx); err != nil {
		t.Errorf("PostgreSQL: %v", err)
	}
}

// TestPostgresJITOff: the store's sessions run without JIT compilation,
// unless the URL asks for it.
func TestPostgresJITOff(t *testing.T) {
	base := dbtest.Postgres(t)
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	for _, c := range []struct{ url, want string }{{base, "off"}, {base + sep + "jit=on", "on"}} {
		s, err := Open(Options{URL: c.url})
		if err != nil {
			t.Fatal(err)
		}
		gdb, cancel := s.db(context.Background())
		var jit string
		err = gdb.Raw("SHOW jit").Scan(&jit).Error
		cancel()
		s.Close()
		if err != nil || jit != c.want {
			t.Errorf("%s: jit = %q, %v; want %q", redactURL(c.url), jit, err, c.want)
		}
	}
}
