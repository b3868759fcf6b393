package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cleanmail/cleanmail/db/dbtest"
)

// TestExplainLists seeds a realistic size in SQL, runs every list call
// the API makes (first page, each documented filter, each sort both ways,
// a deep offset; each call's count and its embedded relations included),
// records the statements the store really runs, and has the database
// explain each one: a large table (over largeTable rows) read whole fails
// the test, naming the list, the call, the statement and the plan.
//
// On PostgreSQL each statement runs under EXPLAIN (ANALYZE, FORMAT JSON),
// which tells how many rows each step read. Read whole is:
//   - a sequential scan;
//   - an index walked without a condition (a sort's index, a merge
//     join's) through more than largeTable of its entries: a page that
//     walks its sort index stops at its limit, unless the planner
//     misjudged how soon it meets its matches.
//
// On SQLite EXPLAIN QUERY PLAN tells how a statement reads, not how much.
// Read whole is a SCAN of a table, without an index or through one (SCAN
// … USING [COVERING] INDEX), in a statement that has no LIMIT or must sort
// its matches first (a temporary b-tree); a page read in its sort's order
// stops at its limit.
//
// An unfiltered list reads its total from its kept count (db/counts.go),
// which the seeding's statements keep (checked after it: CheckCounts).
//
// Allowed, and said so per call (allowance):
//   - broad: the filter matches most of the table; its count reads the
//     matches from an index alone (index-only), never from the table;
//   - deep: a deep offset walks the sort's index up to its offset (a
//     keyset page, after a cursor from as deep, must not: it is strict,
//     and reads at most keysetRead rows of a table on PostgreSQL, and
//     starts its index at its cursor on SQLite);
//   - noIndexSQLite: a filter SQLite cannot serve from an index (a LIKE
//     with a leading wildcard: its b-trees serve prefixes only); it tests
//     every row, logged with the reason.
//
// The size: 50,000 domains, 200,000 users, and rules, aliases, filters,
// administrators and options in proportion (scaled), seeded in SQL in a
// few seconds a database; the test takes about 15 s on a 2-core machine
// (its SQLite half is skipped under the race detector: minutes there).
// CLEANMAIL_EXPLAIN_SCALE=n multiplies the size (n=20 gives the issue's
// 1,000,000 domains, with 4,000,000 users: minutes to seed; on demand).
// go test -v logs what each count reads and which indexes no list uses.
func TestExplainLists(t *testing.T) {
	scale := 1
	if v := os.Getenv("CLEANMAIL_EXPLAIN_SCALE"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("CLEANMAIL_EXPLAIN_SCALE=%q: want a positive integer", v)
		}
		scale = n
	}
	z := dbtest.Scaled(scale)
	testStores(t, func(t *testing.T, s *Store) {
		if raceDetector && s.Dialect() == SQLite {
			// Seeding and explaining take minutes there, and the test
			// has nothing concurrent of its own to check.
			t.Skip("SQLite under the race detector: run without -race")
		}
		start := time.Now()
		pool, err := s.SQL()
		if err != nil {
			t.Fatal(err)
		}
		dbtest.Seed(t, pool, s.Dialect() == Postgres, z)
		if err := s.CheckCounts(context.Background()); err != nil {
			t.Fatalf("after seeding: %v", err)
		}
		tables := tableSizes(t, s)
		t.Logf("seeded and analysed in %v: %v", time.Since(start).Round(time.Millisecond), tables)
		ctx := context.Background()
		used := map[string]bool{}
		for _, c := range explainCalls(z) {
			if c.prepare != nil {
				if err := c.prepare(ctx, s); err != nil {
					t.Errorf("%s: %s: %v", c.list, c.name, err)
					continue
				}
			}
			stmts, err := s.Record(ctx, func(ctx context.Context) error { return c.run(ctx, s) })
			if err != nil {
				t.Errorf("%s: %s: %v", c.list, c.name, err)
				continue
			}
			if len(stmts) == 0 {
				t.Errorf("%s: %s: no statement recorded", c.list, c.name)
			}
			for _, st := range stmts {
				e := checkPlan(t, s, tables, c, st)
				for _, note := range e.notes {
					t.Logf("%s: %s: %s", c.list, c.name, note)
				}
				for _, name := range e.indexes {
					used[name] = true
				}
			}
		}
		if s.Dialect() == Postgres {
			// What the lists leave to the other calls (lookups by key,
			// uniqueness, the decision, the purges).
			var unused []string
			for _, name := range indexNames(t, s) {
				if !used[name] {
					unused = append(unused, name)
				}
			}
			t.Logf("indexes no list call used: %s", strings.Join(unused, ", "))
		}
		t.Logf("explained in %v", time.Since(start).Round(time.Millisecond))
	})
}

// largeTable is the size from which reading a table whole fails the test.
const largeTable = 10_000

// tableSizes counts the rows of every table of the schema.
func tableSizes(t *testing.T, s *Store) map[string]int64 {
	t.Helper()
	pool, err := s.SQL()
	if err != nil {
		t.Fatal(err)
	}
	q := "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite%'"
	if s.Dialect() == Postgres {
		q = "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
	}
	rows, err := pool.Query(q)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, name)
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, name := range tables {
		var n int64
		if err := pool.QueryRow("SELECT count(*) FROM " + name).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			out[name] = n
		}
	}
	return out
}

// indexNames lists the indexes of the schema.
func indexNames(t *testing.T, s *Store) []string {
	t.Helper()
	pool, err := s.SQL()
	if err != nil {
		t.Fatal(err)
	}
	rows, err := pool.Query("SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() ORDER BY indexname")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		out = append(out, name)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// explainCall is one call of a list as the API makes it.
type explainCall struct {
	list, name string
	// prepare, if set, runs before the call, unexplained (a keyset call
	// gets its cursor from the page before).
	prepare func(ctx context.Context, s *Store) error
	run     func(ctx context.Context, s *Store) error
	// keyset: the call reads a page after a cursor, which must start at
	// the cursor.
	keyset bool
	allow  allowance
	// noIndexSQLite says why SQLite reads the whole table for this call.
	noIndexSQLite string
}

// allowance is what a call may read whole, beyond its rows.
type allowance int

const (
	strict allowance = 0
	// broad: the filter matches most of the table; its count reads every
	// match, from an index alone (index-only), never from the table.
	broad allowance = 1 << iota
	// deep: a deep offset walks the sort's index up to its offset; the
	// keyset page after a cursor from as deep is what is flat.
	deep
)

// keysetRead is the most rows of a large table a keyset page may read on
// PostgreSQL: its page and the row after it (41), found as the first page
// finds them, which may be among other rows of an index (a mailbox's
// sender rules on the id's index: one row in seventeen; a domain's users
// on the status's: one in twenty), once for each run the page reads. A
// deep offset reads a hundred times more.
const keysetRead = 2_000

// sqliteNoInfix is why SQLite reads a table whole for `*ab*` and `*ab`.
const sqliteNoInfix = "a LIKE '%…': SQLite's indexes serve no leading wildcard"

func explainCalls(z dbtest.Size) []explainCall {
	var calls []explainCall
	add := func(c explainCall) { calls = append(calls, c) }
	page := func(sort string) Page { return Page{PageSize: 40, Sort: sort} }
	// sorts is every sort of spec, each way.
	sorts := func(spec ListSpec) []string {
		var out []string
		for _, f := range slices.Sorted(maps.Keys(spec.Sorts)) {
			out = append(out, f, "-"+f)
		}
		return out
	}
	ptr := func(v int64) *int64 { return &v }
	str := func(v string) *string { return &v }
	reaches := map[string]*Reach{
		"a domain administrator's reach (3 domains)": {DomainIDs: []int64{1, 2, 3}},
		"a customer administrator's reach":           {CustomerIDs: []int64{42}},
		"a broker administrator's reach":             {BrokerIDs: []int64{7}},
	}
	// keyset adds the page after a cursor that the page at deep.Offset
	// (unexplained) gives: a page deep in the list, as a client following
	// the Link headers reaches it. Strict, beyond the count's allowance.
	keyset := func(list, name string, count allowance, noIdx string, deep Page, page func(ctx context.Context, s *Store, p Page) (*Cursor, error)) {
		var after *Cursor
		add(explainCall{list: list, name: name, allow: count, noIndexSQLite: noIdx, keyset: true,
			prepare: func(ctx context.Context, s *Store) error {
				var err error
				if after, err = page(ctx, s, deep); err == nil && after == nil {
					err = fmt.Errorf("no page follows offset %d", deep.Offset)
				}
				return err
			},
			run: func(ctx context.Context, s *Store) error {
				_, err := page(ctx, s, Page{PageSize: deep.PageSize, Sort: deep.Sort, After: after})
				return err
			}})
	}

	domains := func(name string, f DomainFilter, p Page, allow allowance, noIdx string) {
		add(explainCall{list: "domains", name: name, allow: allow, noIndexSQLite: noIdx, run: func(ctx context.Context, s *Store) error {
			_, _, _, err := s.ListDomains(ctx, f, p)
			return err
		}})
	}
	domains("first page", DomainFilter{}, page(""), strict, "")
	for _, sort := range sorts(DomainList) {
		domains("sort="+sort, DomainFilter{}, page(sort), strict, "")
	}
	domains("deep offset (four fifths in)", DomainFilter{}, Page{Offset: z.Domains * 4 / 5, PageSize: 40}, deep, "")
	domainsAfter := func(f DomainFilter) func(ctx context.Context, s *Store, p Page) (*Cursor, error) {
		return func(ctx context.Context, s *Store, p Page) (*Cursor, error) {
			_, _, next, err := s.ListDomains(ctx, f, p)
			return next, err
		}
	}
	for _, sort := range append([]string{""}, sorts(DomainList)...) {
		keyset("domains", "keyset page four fifths in, sort="+sort, strict, "", Page{Offset: z.Domains * 4 / 5, PageSize: 40, Sort: sort}, domainsAfter(DomainFilter{}))
	}
	// Half the domains have no external id: the page after the one at
	// offset n/2 - 60 (its rows n/2 - 20 to n/2 + 19) goes from the
	// values to the NULLs, or back.
	for _, sort := range []string{"externalId", "-externalId"} {
		keyset("domains", "keyset page across the NULLs, sort="+sort, strict, "", Page{Offset: z.Domains/2 - 60, PageSize: 40, Sort: sort}, domainsAfter(DomainFilter{}))
	}
	keyset("domains", "keyset page, status=PENDING", strict, "", Page{Offset: z.Domains / 50 / 2, PageSize: 40}, domainsAfter(DomainFilter{Status: str(StatusPending)}))
	keyset("domains", "keyset page, name infix", strict, sqliteNoInfix, Page{Offset: 100, PageSize: 40, Sort: "-name"}, domainsAfter(DomainFilter{Name: "*424*"}))
	domains("name exact", DomainFilter{Name: "D4242.example"}, page(""), strict, "")
	domains("name prefix", DomainFilter{Name: "d4242*"}, page(""), strict, "")
	domains("name infix", DomainFilter{Name: "*4242*"}, page(""), strict, sqliteNoInfix)
	domains("name suffix", DomainFilter{Name: "*4242.example"}, page(""), strict, sqliteNoInfix)
	domains("status=ENABLED", DomainFilter{Status: str(StatusEnabled)}, page(""), broad, "")
	domains("status=PENDING", DomainFilter{Status: str(StatusPending)}, page(""), strict, "")
	domains("externalId exact", DomainFilter{ExternalID: "EXT-4242"}, page(""), strict, "")
	domains("externalId infix", DomainFilter{ExternalID: "*4242*"}, page(""), strict, sqliteNoInfix)
	domains("platformName exact", DomainFilter{PlatformName: "mx42.hoster.example"}, page(""), strict, "")
	domains("platformName infix", DomainFilter{PlatformName: "*x1742.*"}, page(""), strict, sqliteNoInfix)
	domains("customerId", DomainFilter{CustomerID: ptr(42)}, page(""), strict, "")
	domains("platformId", DomainFilter{PlatformID: ptr(4242)}, page(""), strict, "")
	for _, name := range slices.Sorted(maps.Keys(reaches)) {
		domains(name, DomainFilter{Reach: reaches[name]}, page(""), strict, "")
	}

	users := func(name string, f UserFilter, p Page, allow allowance, noIdx string) {
		add(explainCall{list: "users", name: name, allow: allow, noIndexSQLite: noIdx, run: func(ctx context.Context, s *Store) error {
			_, _, _, err := s.ListUsers(ctx, f, p)
			return err
		}})
	}
	users("first page", UserFilter{}, page(""), strict, "")
	for _, sort := range sorts(UserList) {
		users("sort="+sort, UserFilter{}, page(sort), strict, "")
	}
	users("deep offset (three quarters in)", UserFilter{}, Page{Offset: z.Users * 3 / 4, PageSize: 40}, deep, "")
	usersAfter := func(f UserFilter) func(ctx context.Context, s *Store, p Page) (*Cursor, error) {
		return func(ctx context.Context, s *Store, p Page) (*Cursor, error) {
			_, _, next, err := s.ListUsers(ctx, f, p)
			return next, err
		}
	}
	for _, sort := range append([]string{""}, sorts(UserList)...) {
		keyset("users", "keyset page three quarters in, sort="+sort, strict, "", Page{Offset: z.Users * 3 / 4, PageSize: 40, Sort: sort}, usersAfter(UserFilter{}))
	}
	users("email exact", UserFilter{Email: "U4240@D1.example"}, page(""), strict, "")
	users("email prefix", UserFilter{Email: "u4242*"}, page(""), strict, "")
	users("email infix", UserFilter{Email: "*4242@*"}, page(""), strict, sqliteNoInfix)
	users("platformName exact", UserFilter{PlatformName: "mx42.hoster.example"}, page(""), strict, "")
	users("platformName infix", UserFilter{PlatformName: "*x1742.*"}, page(""), strict, sqliteNoInfix)
	for _, name := range slices.Sorted(maps.Keys(reaches)) {
		users(name, UserFilter{Reach: reaches[name]}, page(""), strict, "")
	}
	big := int64(1)
	small := int64(4242)
	users("domain users, first page (the large domain)", UserFilter{DomainID: &big}, page(""), strict, "")
	for _, sort := range sorts(UserList) {
		users("domain users, sort="+sort, UserFilter{DomainID: &big}, page(sort), strict, "")
	}
	users("domain users, deep offset (three quarters in)", UserFilter{DomainID: &big}, Page{Offset: z.Users / dbtest.BigUsers * 3 / 4, PageSize: 40}, strict, "")
	for _, sort := range append([]string{""}, sorts(UserList)...) {
		keyset("users", "domain users, keyset page three quarters in, sort="+sort, strict, "", Page{Offset: z.Users / dbtest.BigUsers * 3 / 4, PageSize: 40, Sort: sort}, usersAfter(UserFilter{DomainID: &big}))
	}
	users("domain users, email infix", UserFilter{DomainID: &big, Email: "*424*"}, page(""), strict, "")
	users("domain users, platformName", UserFilter{DomainID: &big, PlatformName: "mx1.hoster.example"}, page(""), strict, "")
	users("domain users, first page (a small domain)", UserFilter{DomainID: &small}, page(""), strict, "")

	admins := func(name string, f AdminFilter, p Page, allow allowance, noIdx string) {
		add(explainCall{list: "admins", name: name, allow: allow, noIndexSQLite: noIdx, run: func(ctx context.Context, s *Store) error {
			_, _, _, err := s.ListAdmins(ctx, f, p)
			return err
		}})
	}
	admins("first page", AdminFilter{}, page(""), strict, "")
	for _, sort := range sorts(AdminList) {
		admins("sort="+sort, AdminFilter{}, page(sort), strict, "")
	}
	admins("deep offset (three quarters in)", AdminFilter{}, Page{Offset: z.Admins * 3 / 4, PageSize: 40}, deep, "")
	for _, sort := range append([]string{""}, sorts(AdminList)...) {
		keyset("admins", "keyset page three quarters in, sort="+sort, strict, "", Page{Offset: z.Admins * 3 / 4, PageSize: 40, Sort: sort},
			func(ctx context.Context, s *Store, p Page) (*Cursor, error) {
				_, _, next, err := s.ListAdmins(ctx, AdminFilter{}, p)
				return next, err
			})
	}
	admins("search exact", AdminFilter{Search: "Admin4242"}, page(""), strict, "")
	admins("search prefix", AdminFilter{Search: "admin4242*"}, page(""), strict, "")
	admins("search infix", AdminFilter{Search: "*4242*"}, page(""), strict, sqliteNoInfix)
	for _, name := range slices.Sorted(maps.Keys(reaches)) {
		admins("managed within "+name, AdminFilter{Managed: reaches[name], Self: 1}, page(""), strict, "")
	}
	admins("on domain 1", AdminFilter{OnDomain: &big}, page(""), strict, "")
	admins("on domain 1, one account", AdminFilter{OnDomain: &big, ID: ptr(2)}, Page{PageSize: 1}, strict, "")

	aliases := func(name string, f EmailAliasFilter, p Page) {
		add(explainCall{list: "e-mail aliases", name: name, run: func(ctx context.Context, s *Store) error {
			_, _, _, err := s.ListEmailAliases(ctx, 1, f, p)
			return err
		}})
	}
	aliases("first page", EmailAliasFilter{}, page(""))
	for _, sort := range sorts(EmailAliasList) {
		aliases("sort="+sort, EmailAliasFilter{}, page(sort))
	}
	aliases("deep offset (three quarters in)", EmailAliasFilter{}, Page{Offset: z.EmailAliases / dbtest.BigUsers * 3 / 4, PageSize: 40})
	for _, sort := range append([]string{""}, sorts(EmailAliasList)...) {
		keyset("e-mail aliases", "keyset page three quarters in, sort="+sort, strict, "", Page{Offset: z.EmailAliases / dbtest.BigUsers * 3 / 4, PageSize: 40, Sort: sort},
			func(ctx context.Context, s *Store, p Page) (*Cursor, error) {
				_, _, next, err := s.ListEmailAliases(ctx, 1, EmailAliasFilter{}, p)
				return next, err
			})
	}
	aliases("email infix", EmailAliasFilter{Email: "*424*"}, page(""))
	aliases("recipient exact", EmailAliasFilter{Recipient: "u4240@d1.example"}, page(""))
	aliases("recipient infix", EmailAliasFilter{Recipient: "*4242*"}, page(""))

	for _, o := range []struct {
		what  string
		owner WblistOwner
	}{{"domain", DomainOwner(1)}, {"mailbox", UserOwner(1)}} {
		rules := func(name string, f WblistFilter, p Page) {
			add(explainCall{list: "sender rules of a " + o.what, name: name, run: func(ctx context.Context, s *Store) error {
				_, _, _, err := s.ListWblistRules(ctx, o.owner, f, p)
				return err
			}})
		}
		rules("first page", WblistFilter{}, page(""))
		for _, sort := range sorts(WblistList(o.owner)) {
			rules("sort="+sort, WblistFilter{}, page(sort))
		}
		rules("deep offset (three quarters in)", WblistFilter{}, Page{Offset: z.Rules / 17 * 3 / 4, PageSize: 40})
		for _, sort := range append([]string{""}, sorts(WblistList(o.owner))...) {
			keyset("sender rules of a "+o.what, "keyset page three quarters in, sort="+sort, strict, "", Page{Offset: z.Rules / 17 * 3 / 4, PageSize: 40, Sort: sort},
				func(ctx context.Context, s *Store, p Page) (*Cursor, error) {
					_, _, next, err := s.ListWblistRules(ctx, o.owner, WblistFilter{}, p)
					return next, err
				})
		}
		rules("type=BLOCK", WblistFilter{Type: "BLOCK"}, page(""))
		rules("value exact", WblistFilter{Value: "sender4242@spam42.example"}, page(""))
		rules("value infix", WblistFilter{Value: "*4242*"}, page(""))
		rules("type=ALLOW, sort=-createdDate", WblistFilter{Type: "ALLOW"}, page("-createdDate"))
	}

	for _, action := range []string{"", "DENY"} {
		for _, sort := range append([]string{""}, sorts(AttachmentFilterList)...) {
			add(explainCall{list: "attachment filters", name: "action=" + action + " sort=" + sort, run: func(ctx context.Context, s *Store) error {
				_, _, _, err := s.ListAttachmentFilters(ctx, 1, action, page(sort))
				return err
			}})
		}
	}
	for _, sort := range append([]string{""}, sorts(AttachmentFilterList)...) {
		keyset("attachment filters", "keyset page three quarters in, sort="+sort, strict, "", Page{Offset: z.Filters / dbtest.BigRules * 3 / 4, PageSize: 40, Sort: sort},
			func(ctx context.Context, s *Store, p Page) (*Cursor, error) {
				_, _, next, err := s.ListAttachmentFilters(ctx, 1, "", p)
				return next, err
			})
	}
	for _, action := range []string{"", "WHITELIST_URI_HOST"} {
		for _, sort := range append([]string{""}, sorts(UriFilterList)...) {
			add(explainCall{list: "URI filters", name: "action=" + action + " sort=" + sort, run: func(ctx context.Context, s *Store) error {
				_, _, _, err := s.ListUriFilters(ctx, 1, action, page(sort))
				return err
			}})
		}
	}
	for _, sort := range append([]string{""}, sorts(UriFilterList)...) {
		keyset("URI filters", "keyset page three quarters in, sort="+sort, strict, "", Page{Offset: z.Filters / dbtest.BigRules * 3 / 4, PageSize: 40, Sort: sort},
			func(ctx context.Context, s *Store, p Page) (*Cursor, error) {
				_, _, next, err := s.ListUriFilters(ctx, 1, "", p)
				return next, err
			})
	}
	for _, sort := range append([]string{""}, sorts(DomainAliasList)...) {
		add(explainCall{list: "domain aliases", name: "sort=" + sort, run: func(ctx context.Context, s *Store) error {
			_, _, _, err := s.ListDomainAliases(ctx, 1, page(sort))
			return err
		}})
	}
	for _, sort := range append([]string{""}, sorts(PolicyList)...) {
		add(explainCall{list: "policies", name: "sort=" + sort, run: func(ctx context.Context, s *Store) error {
			_, _, _, err := s.ListPolicies(ctx, 1, PolicyFilter{}, page(sort))
			return err
		}})
	}
	for _, o := range []OptionOwner{{Scope: ScopePlatform}, {Scope: ScopeCustomer, ID: 42}, {Scope: ScopeDomain, ID: 4242}, {Scope: ScopeUser, ID: 4244}} {
		add(explainCall{list: "options", name: string(o.Scope), run: func(ctx context.Context, s *Store) error {
			_, err := s.ListOptions(ctx, o)
			return err
		}})
	}
	customers := func(name string, f CustomerFilter) {
		add(explainCall{list: "customers", name: name, run: func(ctx context.Context, s *Store) error {
			_, _, _, err := s.ListCustomers(ctx, f, page(""))
			return err
		}})
	}
	customers("first page", CustomerFilter{})
	customers("name infix", CustomerFilter{Name: "*424*"})
	customers("externalId exact", CustomerFilter{ExternalID: "c4242"})
	customers("brokerId", CustomerFilter{BrokerID: ptr(7)})
	for _, sort := range append([]string{""}, sorts(CustomerList)...) {
		keyset("customers", "keyset page three quarters in, sort="+sort, strict, "", Page{Offset: z.Customers * 3 / 4, PageSize: 40, Sort: sort},
			func(ctx context.Context, s *Store, p Page) (*Cursor, error) {
				_, _, next, err := s.ListCustomers(ctx, CustomerFilter{}, p)
				return next, err
			})
	}
	add(explainCall{list: "brokers", name: "first page", run: func(ctx context.Context, s *Store) error {
		_, _, _, err := s.ListBrokers(ctx, "", page(""))
		return err
	}})
	add(explainCall{list: "outgoing providers", name: "first page", run: func(ctx context.Context, s *Store) error {
		_, _, _, err := s.ListOutgoingProviders(ctx, "", page(""))
		return err
	}})
	return calls
}

// explained is what checkPlan found in a statement's plan.
type explained struct {
	// problems fail the test.
	problems []string
	// notes are logged: what a count read of large tables, what SQLite
	// read whole for want of an index.
	notes []string
	// indexes the plan used (PostgreSQL).
	indexes []string
	// plan is the plan as text, for a failure.
	plan string
}

// checkPlan explains st and fails when it reads a large table whole.
func checkPlan(t *testing.T, s *Store, tables map[string]int64, c explainCall, st Statement) explained {
	t.Helper()
	pool, err := s.SQL()
	if err != nil {
		t.Fatal(err)
	}
	var e explained
	if s.Dialect() == Postgres {
		e, err = explainPostgres(pool, tables, c, st)
	} else {
		e, err = explainSQLite(pool, tables, c, st)
	}
	if err != nil {
		t.Errorf("%s: %s: explain: %v\n%s", c.list, c.name, err, st.SQL)
		return e
	}
	if len(e.problems) > 0 {
		t.Errorf("%s: %s: %s\n  %s\n  args %v\n%s", c.list, c.name, strings.Join(e.problems, "; "), st.SQL, st.Vars, e.plan)
	}
	return e
}

// pgNode is a node of PostgreSQL's EXPLAIN (ANALYZE, FORMAT JSON).
type pgNode struct {
	NodeType         string   `json:"Node Type"`
	Relation         string   `json:"Relation Name"`
	Index            string   `json:"Index Name"`
	IndexCond        string   `json:"Index Cond"`
	ActualRows       float64  `json:"Actual Rows"`
	ActualLoops      float64  `json:"Actual Loops"`
	RemovedByFilter  float64  `json:"Rows Removed by Filter"`
	RemovedByRecheck float64  `json:"Rows Removed by Index Recheck"`
	Plans            []pgNode `json:"Plans"`
}

// read is how many rows (index entries, for an index-only scan) the node
// went through: those it gave and those it dropped, in all its loops.
func (n pgNode) read() int64 {
	return int64((n.ActualRows + n.RemovedByFilter + n.RemovedByRecheck) * n.ActualLoops)
}

// explainPostgres runs st under EXPLAIN ANALYZE: the plan, and how many
// rows each of its steps read.
func explainPostgres(pool *sql.DB, tables map[string]int64, c explainCall, st Statement) (explained, error) {
	var e explained
	var out string
	if err := pool.QueryRow("EXPLAIN (ANALYZE, FORMAT JSON) "+st.SQL, st.Vars...).Scan(&out); err != nil {
		return e, err
	}
	var doc []struct{ Plan pgNode }
	if err := json.Unmarshal([]byte(out), &doc); err != nil || len(doc) != 1 {
		return e, fmt.Errorf("unreadable plan %q: %v", out, err)
	}
	count := strings.HasPrefix(st.SQL, "SELECT count(*)")
	// A keyset call's pages (not its count, nor the relations its rows
	// embed, which are the first page's too).
	page := c.keyset && !count && strings.Contains(st.SQL, " LIMIT ")
	var walk func(n pgNode)
	walk = func(n pgNode) {
		for _, p := range n.Plans {
			walk(p)
		}
		if n.Index != "" {
			e.indexes = append(e.indexes, n.Index)
		}
		rows := tables[n.Relation]
		if rows <= largeTable {
			return
		}
		read := n.read()
		if count && read > largeTable {
			e.notes = append(e.notes, fmt.Sprintf("the count reads %d of the %d rows of %s (%s)", read, rows, n.Relation, n.NodeType))
		}
		if page && read > keysetRead {
			e.problems = append(e.problems, fmt.Sprintf("a keyset page reads %d rows of %s (%s on %s), more than %d", read, n.Relation, n.NodeType, n.Index, keysetRead))
		}
		indexOnly := n.NodeType == "Index Only Scan"
		switch {
		case n.NodeType == "Seq Scan":
			e.problems = append(e.problems, fmt.Sprintf("a sequential scan of %s (%d rows)", n.Relation, rows))
		case (n.NodeType == "Index Scan" || indexOnly) && n.IndexCond == "" && read > largeTable:
			if !(count && c.allow&broad != 0 && indexOnly || !count && c.allow&deep != 0) {
				e.problems = append(e.problems, fmt.Sprintf("%s walks %s on %s: %d of its %d entries", n.NodeType, n.Index, n.Relation, read, rows))
			}
		case count && c.allow&broad != 0 && !indexOnly && read > largeTable:
			e.problems = append(e.problems, fmt.Sprintf("the count of a broad filter reads %d rows of %s from the table (%s), not from an index alone", read, n.Relation, n.NodeType))
		}
	}
	walk(doc[0].Plan)
	if len(e.problems) > 0 {
		var err error
		e.plan, err = pgTextPlan(pool, st)
		return e, err
	}
	return e, nil
}

func pgTextPlan(pool *sql.DB, st Statement) (string, error) {
	rows, err := pool.Query("EXPLAIN "+st.SQL, st.Vars...)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return "", err
		}
		b.WriteString("    " + line + "\n")
	}
	return b.String(), rows.Err()
}

// SQLite's EXPLAIN QUERY PLAN names a full read "SCAN table" (through an
// index: "SCAN table USING [COVERING] INDEX name") and a lookup "SEARCH".
var sqliteScan = regexp.MustCompile(`^SCAN (\S+)(?: USING (COVERING )?INDEX (\S+))?`)

// sqliteSearch is a lookup: the table, the index (or the rowid), and the
// constraints that bound it.
var sqliteSearch = regexp.MustCompile(`^SEARCH (\S+) USING (?:COVERING )?(?:INDEX (\S+)|(INTEGER PRIMARY KEY)) \((.*)\)$`)

// ranged finds a range of a keyset page's cursor in a statement (id > ?,
// lower(x) < lower(?), COALESCE(x, …) >= COALESCE(?, …)).
var ranged = regexp.MustCompile(`[<>]=? [A-Za-z]*\(?\?`)

// sqliteUnique tells whether index (empty: the rowid) names one row of
// table by its columns.
func sqliteUnique(pool *sql.DB, table, index string) (bool, error) {
	if index == "" {
		return true, nil
	}
	var unique bool
	err := pool.QueryRow(`SELECT "unique" FROM pragma_index_list(?) WHERE name = ?`, table, index).Scan(&unique)
	return unique, err
}

// explainSQLite reads st's EXPLAIN QUERY PLAN. SQLite says how it reads,
// not how much: a page (LIMIT) read in the order of a table's rowid or of
// an index stops at its limit, and is not checked further; one that must
// be sorted first (a temporary b-tree) reads every match.
func explainSQLite(pool *sql.DB, tables map[string]int64, c explainCall, st Statement) (explained, error) {
	var e explained
	rows, err := pool.Query("EXPLAIN QUERY PLAN "+st.SQL, st.Vars...)
	if err != nil {
		return e, err
	}
	defer rows.Close()
	var details []string
	var b strings.Builder
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			return e, err
		}
		fmt.Fprintf(&b, "    %d %d %s\n", id, parent, detail)
		details = append(details, detail)
	}
	if err := rows.Err(); err != nil {
		return e, err
	}
	e.plan = b.String()
	limited := strings.Contains(st.SQL, " LIMIT ") && !slices.ContainsFunc(details, func(d string) bool {
		return strings.HasPrefix(d, "USE TEMP B-TREE FOR")
	})
	count := strings.HasPrefix(st.SQL, "SELECT count(*)")
	keysetPage := c.keyset && limited && !count
	if keysetPage {
		// A page read in its sort's order stops at its limit, but one
		// that scans from the index's start walks to its cursor first.
		limited = false
	}
	for _, detail := range details {
		if m := sqliteSearch.FindStringSubmatch(detail); m != nil && keysetPage && ranged.MatchString(st.SQL) &&
			tables[m[1]] > largeTable && !strings.ContainsAny(strings.ReplaceAll(m[4], "<expr>", "expr"), "<>") {
			// A page bounded by its cursor (a range) that the index
			// serves with equalities alone starts at their first entry
			// and walks to the cursor, unless they name one row. (A run
			// that is not bounded, a nullable key's NULLs, starts there.)
			if unique, err := sqliteUnique(pool, m[1], m[2]); err != nil {
				return e, err
			} else if !unique {
				e.problems = append(e.problems, fmt.Sprintf("a keyset page starts %s at its equalities (%s), not at its cursor", m[2], m[4]))
			}
		}
		m := sqliteScan.FindStringSubmatch(detail)
		if m == nil {
			continue
		}
		table, covering, index := m[1], m[2] != "", m[3]
		n := tables[table]
		if n <= largeTable || limited {
			continue
		}
		if c.noIndexSQLite != "" {
			e.notes = append(e.notes, fmt.Sprintf("reads %s whole (%s): %s", table, detail, c.noIndexSQLite))
			continue
		}
		if index == "" {
			e.problems = append(e.problems, fmt.Sprintf("a full scan of %s (%d rows)", table, n))
		} else if !(count && c.allow&broad != 0 && covering) {
			e.problems = append(e.problems, fmt.Sprintf("a walk of all of %s on %s (%d rows)", index, table, n))
		}
	}
	return e, nil
}
