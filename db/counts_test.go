package db

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"gorm.io/gorm"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/database"

	"github.com/cleanmail/cleanmail/db/dbtest"
)

func newUser(domainID int64, email string) *User {
	return &User{DomainID: domainID, Email: email, Status: UserEnabled, Language: "EN", SenderVerifyOn: true}
}

// The totals of the unfiltered lists are the kept counts, and the counts
// follow every write: creations, deletions, a rolled-back transaction, a
// purge's cascade; a sender rule that expired is left out of its owner's
// total as of its list.
func TestRowCountsFollowWrites(t *testing.T) {
	testStores(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		check := func(when string) {
			t.Helper()
			if err := s.CheckCounts(ctx); err != nil {
				t.Fatalf("%s: %v", when, err)
			}
		}
		d1, err := s.CreateDomain(ctx, newTestDomain("north.example"))
		if err != nil {
			t.Fatal(err)
		}
		d2, err := s.CreateDomain(ctx, newTestDomain("south.example"))
		if err != nil {
			t.Fatal(err)
		}
		var users []int64
		for i := range 5 {
			u := newUser(d1, fmt.Sprintf("u%d@north.example", i))
			if err := s.CreateUser(ctx, u); err != nil {
				t.Fatal(err)
			}
			users = append(users, u.ID)
		}
		for i := range 2 {
			if err := s.CreateUser(ctx, newUser(d2, fmt.Sprintf("u%d@south.example", i))); err != nil {
				t.Fatal(err)
			}
		}
		// A transaction that fails takes its count with it.
		failed := errors.New("changed my mind")
		err = s.Tx(ctx, func(ctx context.Context) error {
			if err := s.CreateUser(ctx, newUser(d1, "ghost@north.example")); err != nil {
				return err
			}
			return failed
		})
		if !errors.Is(err, failed) {
			t.Fatalf("Tx = %v, want %v", err, failed)
		}
		var rules []WblistRule
		for i := range 3 {
			rules = append(rules, WblistRule{DomainID: &d1, Value: fmt.Sprintf("s%d@spam.example", i), Type: "BLOCK"})
		}
		rules = append(rules, WblistRule{UserID: &users[0], Value: "friend@ok.example", Type: "ALLOW"},
			WblistRule{UserID: &users[1], Value: "friend@ok.example", Type: "ALLOW"})
		if _, err := s.AddWblistRules(ctx, rules); err != nil {
			t.Fatal(err)
		}
		if _, err := s.CreateEmailAlias(ctx, d1, "team@north.example", []string{"u1@north.example"}); err != nil {
			t.Fatal(err)
		}
		check("after the creations")

		total := func(what string, list func() (int64, error), want int64) {
			t.Helper()
			n, err := list()
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			if n != want {
				t.Errorf("%s: total %d, want %d", what, n, want)
			}
		}
		users1 := func() (int64, error) {
			_, n, _, err := s.ListUsers(ctx, UserFilter{DomainID: &d1}, Page{PageSize: 1})
			return n, err
		}
		allUsers := func() (int64, error) {
			_, n, _, err := s.ListUsers(ctx, UserFilter{}, Page{PageSize: 1})
			return n, err
		}
		rules1 := func() (int64, error) {
			_, n, _, err := s.ListWblistRules(ctx, DomainOwner(d1), WblistFilter{}, Page{PageSize: 1})
			return n, err
		}
		total("users", allUsers, 7)
		total("users of north", users1, 5)
		total("rules of north", rules1, 3)
		total("domains", func() (int64, error) {
			_, n, _, err := s.ListDomains(ctx, DomainFilter{}, Page{PageSize: 1})
			return n, err
		}, 2)

		// An expired rule that waits for the purge is not listed, nor
		// counted in the total.
		exec := func(q string) {
			t.Helper()
			if err := s.write(ctx, func(gdb *gorm.DB) error { return gdb.Exec(q).Error }); err != nil {
				t.Fatal(err)
			}
		}
		exec("UPDATE wblist_rules SET expire_at = 1 WHERE value = 's0@spam.example'")
		total("rules of north, one expired", rules1, 2)

		// A domain's enabled users are counted as their status changes,
		// and an update that changes no status changes no count.
		active := func(when string, want int64) {
			t.Helper()
			v, err := s.GetDomain(ctx, d1)
			if err != nil {
				t.Fatal(err)
			}
			if v.ActiveUsersCount != want {
				t.Errorf("%s: activeUsersCount %d, want %d", when, v.ActiveUsersCount, want)
			}
			check(when)
		}
		active("five enabled", 5)
		exec("UPDATE users SET status = 'DISABLED' WHERE email IN ('u2@north.example', 'u3@north.example')")
		active("two disabled", 3)
		exec("UPDATE users SET language = 'FR'")
		active("no status changed", 3)
		exec("UPDATE users SET status = 'ENABLED' WHERE email = 'u3@north.example'")
		active("one enabled again", 4)

		// The lists read the kept count: a count set wrong shows, and
		// CheckCounts names it.
		exec("UPDATE row_counts SET n = n + 100 WHERE tbl = 'users' AND col = ''")
		total("users, count set wrong", allUsers, 107)
		if err := s.CheckCounts(ctx); err == nil || !strings.Contains(err.Error(), "users.=0: kept 107, 7 rows") {
			t.Errorf("CheckCounts with a count set wrong = %v", err)
		}
		exec("UPDATE row_counts SET n = n - 100 WHERE tbl = 'users' AND col = ''")

		if err := s.DeleteUser(ctx, users[0]); err != nil {
			t.Fatal(err)
		}
		check("after a user's deletion (and its rules')")
		total("users of north after a deletion", users1, 4)

		// A purge deletes the domain's rows by cascade, and its counts
		// and its users' with them, as a user's deletion does its own.
		past := nowMillis() - 1
		err = s.UpdateDomain(ctx, d1, func(e *DomainEdit) error {
			e.Domain.Status, e.Domain.DeletionDate, e.Domain.PurgeDate = StatusDeleted, &past, &past
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if n, err := s.PurgeDomains(ctx, nowMillis()); err != nil || n != 1 {
			t.Fatalf("PurgeDomains = %d, %v", n, err)
		}
		check("after the purge")
		total("users after the purge", allUsers, 2)
		gdb, cancel := s.db(ctx)
		defer cancel()
		var left int64
		err = gdb.Raw("SELECT COUNT(*) FROM row_counts WHERE col = 'domain_id' AND val = ? OR col = 'user_id' AND val IN ?", d1, users).Scan(&left).Error
		if err != nil || left != 0 {
			t.Errorf("counts of the deleted owners left: %d, %v", left, err)
		}
	})
}

// PurgeDomains deletes any number of due domains, a batch a transaction,
// and their counts with them.
func TestPurgeDomainsInBatches(t *testing.T) {
	testStores(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		const due = 2*purgeBatch + 1
		// The due domains' first batch holds more users than one
		// statement of dropCounts names (1,000), each with a rule.
		series := dbtest.Series(s.Dialect() == Postgres, due)
		err := s.write(ctx, func(gdb *gorm.DB) error {
			for _, q := range []string{
				`INSERT INTO domains (name, status, wblist_priority, default_language, auto_provisioning_on, sender_verify_on, outgoing_subnets, creation_date, purge_date)
					SELECT 'p' || i || '.example', 'DELETED', 'USER', 'EN', FALSE, TRUE, '[]', 1, 1 FROM ` + series,
				`INSERT INTO users (domain_id, email, status, language, sender_verify_on, creation_date)
					SELECT 1 + i % 3, 'u' || i || '@p.example', 'ENABLED', 'EN', TRUE, 1 FROM ` + series,
				`INSERT INTO wblist_rules (user_id, value, type, created_at) SELECT id, 'spam@x.example', 'BLOCK', 1 FROM users`,
			} {
				if err := gdb.Exec(q).Error; err != nil {
					return fmt.Errorf("%w\n%s", err, q)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		kept, err := s.CreateDomain(ctx, newTestDomain("kept.example"))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.CreateUser(ctx, newUser(kept, "u@kept.example")); err != nil {
			t.Fatal(err)
		}
		if n, err := s.PurgeDomains(ctx, nowMillis()); err != nil || n != due {
			t.Fatalf("PurgeDomains = %d, %v; want %d", n, err, due)
		}
		if err := s.CheckCounts(ctx); err != nil {
			t.Fatal(err)
		}
		if _, n, _, err := s.ListDomains(ctx, DomainFilter{}, Page{PageSize: 1}); err != nil || n != 1 {
			t.Errorf("domains left: %d, %v; want 1", n, err)
		}
		gdb, cancel := s.db(ctx)
		defer cancel()
		var left int64
		if err := gdb.Raw("SELECT COUNT(*) FROM row_counts WHERE col = 'user_id' OR col LIKE 'domain_id%' AND val <> ?", kept).Scan(&left).Error; err != nil || left != 0 {
			t.Errorf("counts of the purged domains and their users left: %d, %v", left, err)
		}
	})
}

// Concurrent writers of one list keep its counts exact: on PostgreSQL they
// update the same count rows from their own transactions.
func TestRowCountsUnderConcurrentWrites(t *testing.T) {
	testStores(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		var domains []int64
		for _, name := range []string{"east.example", "west.example"} {
			id, err := s.CreateDomain(ctx, newTestDomain(name))
			if err != nil {
				t.Fatal(err)
			}
			domains = append(domains, id)
		}
		const writers, each = 8, 12
		var wg sync.WaitGroup
		errs := make(chan error, writers*each)
		for w := range writers {
			wg.Go(func() {
				for i := range each {
					d := domains[(w+i)%2]
					u := newUser(d, fmt.Sprintf("w%d-%d@x%d.example", w, i, d))
					if err := s.CreateUser(ctx, u); err != nil {
						errs <- err
						continue
					}
					if i%3 == 0 {
						if err := s.DeleteUser(ctx, u.ID); err != nil {
							errs <- err
						}
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if err := s.CheckCounts(ctx); err != nil {
			t.Fatal(err)
		}
		_, n, _, err := s.ListUsers(ctx, UserFilter{}, Page{PageSize: 1})
		if want := int64(writers * (each - each/3)); err != nil || n != want {
			t.Errorf("users: total %d, %v; want %d", n, err, want)
		}
	})
}

// A page embeds its relations in a fixed number of queries: a page of one
// row and a page of thirty cost the same count of statements.
func TestPageQueriesAreBounded(t *testing.T) {
	testStores(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		for i := range 30 {
			d, err := s.CreateDomain(ctx, newTestDomain(fmt.Sprintf("d%02d.example", i)))
			if err != nil {
				t.Fatal(err)
			}
			if err := s.CreateUser(ctx, newUser(d, fmt.Sprintf("u@d%02d.example", i))); err != nil {
				t.Fatal(err)
			}
			if _, err := s.AddDomainAliases(ctx, d, []string{fmt.Sprintf("alias%02d.example", i)}); err != nil {
				t.Fatal(err)
			}
		}
		n := countQueries(t, s)
		for _, l := range []struct {
			name string
			page func(size int) (int, error)
		}{
			{"domains", func(size int) (int, error) {
				v, _, _, err := s.ListDomains(ctx, DomainFilter{}, Page{PageSize: size})
				return len(v), err
			}},
			{"domains by name", func(size int) (int, error) {
				v, _, _, err := s.ListDomains(ctx, DomainFilter{Name: "d*"}, Page{PageSize: size})
				return len(v), err
			}},
			{"users", func(size int) (int, error) {
				v, _, _, err := s.ListUsers(ctx, UserFilter{}, Page{PageSize: size})
				return len(v), err
			}},
		} {
			queries := map[int]int64{}
			for _, size := range []int{1, 30} {
				n.Store(0)
				got, err := l.page(size)
				if err != nil || got != size {
					t.Fatalf("%s: page of %d: %d rows, %v", l.name, size, got, err)
				}
				queries[size] = n.Load()
			}
			if queries[1] != queries[30] {
				t.Errorf("%s: %d statements for a page of 1, %d for 30", l.name, queries[1], queries[30])
			}
			t.Logf("%s: %d statements a page", l.name, queries[30])
		}
	})
}

// A database that has rows before migration 00014 gets their counts, and
// its Down leaves the schema as 00013 left it.
func TestRowCountsMigration(t *testing.T) {
	testStores(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		fsys, err := s.migrations()
		if err != nil {
			t.Fatal(err)
		}
		pool, err := s.SQL()
		if err != nil {
			t.Fatal(err)
		}
		dialect := database.DialectSQLite3
		if s.Dialect() == Postgres {
			dialect = database.DialectPostgres
		}
		p, err := goose.NewProvider(dialect, pool, fsys)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.DownTo(ctx, 13); err != nil {
			t.Fatalf("down to 13: %v", err)
		}
		series := dbtest.Series(s.Dialect() == Postgres, 30)
		for _, q := range []string{
			`INSERT INTO domains (name, status, wblist_priority, default_language, auto_provisioning_on, sender_verify_on, outgoing_subnets, creation_date)
				SELECT 'm' || i || '.example', 'ENABLED', 'USER', 'EN', FALSE, TRUE, '[]', 1 FROM ` + series,
			`INSERT INTO users (domain_id, email, status, language, sender_verify_on, creation_date)
				SELECT 1 + i % 4, 'u' || i || '@m.example', CASE WHEN i % 3 = 0 THEN 'DISABLED' ELSE 'ENABLED' END, 'EN', TRUE, 1 FROM ` + series,
			`INSERT INTO wblist_rules (user_id, value, type, created_at) SELECT id, 'spam@x.example', 'BLOCK', 1 FROM users WHERE id % 2 = 0`,
		} {
			if _, err := pool.ExecContext(ctx, q); err != nil {
				t.Fatalf("%v\n%s", err, q)
			}
		}
		if _, err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		if err := s.CheckCounts(ctx); err != nil {
			t.Fatal(err)
		}
		v, err := s.GetDomain(ctx, 2)
		if err != nil || v.ActiveUsersCount != 6 {
			t.Errorf("domain 2: %d active users, %v; want 6 (8 users, 2 of them disabled)", v.ActiveUsersCount, err)
		}
	})
}
