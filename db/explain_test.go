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
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"
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
	z := scaled(scale)
	testStores(t, func(t *testing.T, s *Store) {
		if raceDetector && s.Dialect() == SQLite {
			// Seeding and explaining take minutes there, and the test
			// has nothing concurrent of its own to check.
			t.Skip("SQLite under the race detector: run without -race")
		}
		start := time.Now()
		seedExplain(t, s, z)
		if err := s.CheckCounts(context.Background()); err != nil {
			t.Fatalf("after seeding: %v", err)
		}
		tables := tableSizes(t, s)
		t.Logf("seeded and analysed in %v: %v", time.Since(start).Round(time.Millisecond), tables)
		rec := recordStatements(t, s)
		ctx := context.Background()
		used := map[string]bool{}
		for _, c := range explainCalls(z) {
			if c.prepare != nil {
				if err := c.prepare(ctx, s); err != nil {
					t.Errorf("%s: %s: %v", c.list, c.name, err)
					continue
				}
			}
			rec.reset()
			if err := c.run(ctx, s); err != nil {
				t.Errorf("%s: %s: %v", c.list, c.name, err)
				continue
			}
			stmts := rec.take()
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

// explainSize is the seeded data's size. One large tenant (domain 1, and
// user 1 for a mailbox's rules) holds a share of each table, its rows
// interleaved with everyone else's as they would be after years of
// creations; the rest is spread over the other domains.
type explainSize struct {
	brokers, customers, domains, domainAliases int
	users, emailAliases, recipients            int
	rules, filters, admins                     int
}

// The large tenant's share: every bigUsers-th user and alias, every
// bigRules-th attachment and URI rule (sender rules: seedExplain).
const (
	bigUsers = 20 // 5%
	bigRules = 10 // 10%
)

func scaled(n int) explainSize {
	return explainSize{
		brokers: 50 * n, customers: 5_000 * n, domains: 50_000 * n, domainAliases: 10_000 * n,
		users: 200_000 * n, emailAliases: 40_000 * n, recipients: 100_000 * n,
		rules: 170_000 * n, filters: 50_000 * n, admins: 20_000 * n,
	}
}

// series is the rows i = 1…n: generate_series on PostgreSQL, a recursive
// common table expression on SQLite.
func series(d Dialect, n int) string {
	if d == Postgres {
		return fmt.Sprintf("generate_series(1, %d) AS s(i)", n)
	}
	return fmt.Sprintf("(WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < %d) SELECT i FROM c) AS s", n)
}

// seedExplain fills s in set-based statements, then has the database
// gather its statistics. Ids are given, so that rows can name each other
// without lookups.
func seedExplain(t *testing.T, s *Store, z explainSize) {
	t.Helper()
	d := s.Dialect()
	ser := func(n int) string { return series(d, n) }
	// The domain of row i: domain 1 for every share-th row, else one of
	// the others.
	owner := func(share int) string {
		return fmt.Sprintf("CASE WHEN i %% %d = 0 THEN 1 ELSE 2 + i %% %d END", share, z.domains-1)
	}
	stmts := []string{
		`INSERT INTO brokers (id, name, external_id, created_at)
			SELECT i, 'broker' || i, 'B' || i, 1700000000000 + i FROM ` + ser(z.brokers),
		fmt.Sprintf(`INSERT INTO customers (id, broker_id, name, external_id, created_at)
			SELECT i, 1 + i %% %d, 'customer' || i, 'C' || i, 1700000000000 + i FROM %s`, z.brokers, ser(z.customers)),
		// Mostly ENABLED; some DISABLED, PENDING, DELETED. A tenth have no
		// customer, half an external id.
		fmt.Sprintf(`INSERT INTO domains (id, name, status, wblist_priority, default_language, auto_provisioning_on, sender_verify_on,
				external_id, policy_id, customer_id, outgoing_subnets, creation_date)
			SELECT i, 'd' || i || '.example',
				CASE WHEN i %% 20 = 0 THEN 'DISABLED' WHEN i %% 50 = 7 THEN 'PENDING' WHEN i %% 100 = 3 THEN 'DELETED' ELSE 'ENABLED' END,
				'USER', 'EN', FALSE, TRUE, CASE WHEN i %% 2 = 0 THEN 'ext-' || i END, i,
				CASE WHEN i %% 10 <> 0 THEN 1 + i %% %d END, '[]', 1700000000000 + i * 1000 FROM %s`, z.customers, ser(z.domains)),
		`INSERT INTO domain_names (name, domain_id) SELECT name, id FROM domains`,
		`INSERT INTO policies (id, domain_id, name, mail_size_limit, spam_score) SELECT id, id, 'Default', 21, 5 FROM domains`,
		fmt.Sprintf(`INSERT INTO policies (id, domain_id, name, mail_size_limit, spam_score)
			SELECT %d + i, 1, 'policy' || i, 21, 5 FROM %s`, z.domains, ser(50)),
		// One default platform a domain, 2,000 names shared among them.
		`INSERT INTO platforms (id, domain_id, name, transport_dest, transport_type, transport_port, is_default)
			SELECT id, id, 'mx' || (id % 2000) || '.hoster.example', '10.0.0.1', 'SMTP', 25, TRUE FROM domains`,
		`INSERT INTO outgoing_providers (id, name, spf_provider) SELECT i, 'provider' || i, 'spf' || i || '.example' FROM ` + ser(10),
		`INSERT INTO domain_outgoing_providers (domain_id, outgoing_provider_id) SELECT id, 1 + id % 10 FROM domains WHERE id % 10 = 0`,
		fmt.Sprintf(`INSERT INTO domain_names (name, domain_id) SELECT 'alias' || i || '.example', %s FROM %s`, owner(50), ser(z.domainAliases)),
		`INSERT INTO domain_aliases (domain_id, name) SELECT domain_id, name FROM domain_names WHERE name LIKE 'alias%'`,
		// A tenth of the users have a platform of their own (their
		// domain's); the others use their domain's default.
		fmt.Sprintf(`INSERT INTO users (id, domain_id, email, firstname, lastname, status, language, platform_id, sender_verify_on, creation_date)
			SELECT i, dom, 'u' || i || '@d' || dom || '.example', 'First' || (i %% 997), 'Last' || (i %% 4999),
				CASE WHEN i %% 25 = 0 THEN 'DISABLED' WHEN i %% 40 = 1 THEN 'PENDING' ELSE 'ENABLED' END, 'EN',
				CASE WHEN i %% 10 = 0 THEN dom END, TRUE, 1700000000000 + i * 1000
			FROM (SELECT i, %s AS dom FROM %s) AS x`, owner(bigUsers), ser(z.users)),
		fmt.Sprintf(`INSERT INTO mail_addresses (address, domain_id)
			SELECT 'group' || i || '@d' || dom || '.example', dom FROM (SELECT i, %s AS dom FROM %s) AS x`, owner(bigUsers), ser(z.emailAliases)),
		fmt.Sprintf(`INSERT INTO email_aliases (id, domain_id, email)
			SELECT i, dom, 'group' || i || '@d' || dom || '.example' FROM (SELECT i, %s AS dom FROM %s) AS x`, owner(bigUsers), ser(z.emailAliases)),
		// The large tenant's aliases list its users, its other aliases
		// and outside addresses (by the recipient's rank k in its
		// alias); the others outside addresses.
		fmt.Sprintf(`INSERT INTO email_alias_recipients (alias_id, email, type, user_id, target_alias_id)
			SELECT a, 'r' || i || '@partner.example',
				CASE WHEN a %% %[1]d = 0 AND k = 0 THEN 'USER' WHEN a %% %[1]d = 0 AND k = 1 THEN 'ALIAS' ELSE 'EXTERNAL_ADDRESS' END,
				CASE WHEN a %% %[1]d = 0 AND k = 0 THEN %[1]d * (1 + i %% %[2]d) END,
				CASE WHEN a %% %[1]d = 0 AND k = 1 THEN %[1]d * (1 + (a / %[1]d) %% %[3]d) END
			FROM (SELECT i, 1 + i %% %[4]d AS a, i / %[4]d AS k FROM %[5]s) AS x`,
			bigUsers, z.users/bigUsers, z.emailAliases/bigUsers, z.emailAliases, ser(z.recipients)),
		// Sender rules of domains (10 of every 17 ids) and of mailboxes
		// (the other 7), created over time: the owners' ids interleave.
		// Domain 1 and user 1 hold a seventeenth each. Rules of every
		// type; most never expire, a tenth expire in 2100, a tenth have
		// expired.
		fmt.Sprintf(`INSERT INTO wblist_rules (id, domain_id, user_id, value, type, spf_on, expire_at, created_at)
			SELECT i,
				CASE WHEN i %% 17 < 10 THEN (CASE WHEN i %% 170 < 10 THEN 1 ELSE 2 + i %% %d END) END,
				CASE WHEN i %% 17 >= 10 THEN (CASE WHEN i %% 119 BETWEEN 10 AND 16 THEN 1 ELSE 2 + i %% %d END) END,
				'sender' || i || '@spam' || (i %% 100) || '.example',
				CASE i %% 3 WHEN 0 THEN 'ALLOW' WHEN 1 THEN 'BLOCK' ELSE 'PROTECTED' END, CASE WHEN i %% 3 = 0 THEN TRUE END,
				CASE i %% 10 WHEN 0 THEN 4102444800000 WHEN 1 THEN 1600000000000 END, 1700000000000 + i FROM %s`,
			z.domains-1, z.users-1, ser(z.rules)),
		fmt.Sprintf(`INSERT INTO attachment_filters (id, domain_id, action, check_type, filter, priority, created_at)
			SELECT i, %s, CASE i %% 2 WHEN 0 THEN 'DENY' ELSE 'ALLOW' END,
				CASE i %% 4 WHEN 0 THEN 'FILENAME' WHEN 1 THEN 'CONTENTTYPE' WHEN 2 THEN 'ARCHIVE-FILENAME' ELSE 'ARCHIVE-CONTENTTYPE' END,
				'.ext' || i, i, 1700000000000 + i FROM %s`, owner(bigRules), ser(z.filters)),
		fmt.Sprintf(`INSERT INTO uri_filters (id, domain_id, action, filter, priority, created_at)
			SELECT i, %s, CASE i %% 3 WHEN 0 THEN 'URIDNSBL_SKIP_DOMAIN' WHEN 1 THEN 'WHITELIST_URI_HOST' ELSE 'BLACKLIST_URI_HOST' END,
				'host' || i || '.example', i, 1700000000000 + i FROM %s`, owner(bigRules), ser(z.filters)),
		fmt.Sprintf(`INSERT INTO admins (id, login, email, display_name, enabled, created_at)
			SELECT i, 'admin' || i, 'admin' || i || '@d' || i || '.example', 'Admin Number ' || i, TRUE, 1700000000000 + i FROM %s`, ser(z.admins)),
		// Most administrators hold one domain, some a customer, some a
		// broker; fifty hold domain 1 as well.
		fmt.Sprintf(`INSERT INTO authorities (admin_id, domain_id, customer_id, broker_id, permissions)
			SELECT i, CASE WHEN i <= %[1]d THEN 1 + i %% %[3]d END, CASE WHEN i > %[1]d AND i <= %[2]d THEN 1 + i %% %[4]d END,
				CASE WHEN i > %[2]d THEN 1 + i %% %[5]d END, '["DOMAIN_READ","USER_READ"]' FROM %[6]s`,
			z.admins*9/10, z.admins*97/100, z.domains, z.customers, z.brokers, ser(z.admins)),
		`INSERT INTO authorities (admin_id, domain_id, permissions) SELECT i + 1, 1, '["DOMAIN_READ"]' FROM ` + ser(50),
		`INSERT INTO option_values (scope, object_id, domain_id, name, value)
			SELECT 'DOMAIN', id, id, 'DOMAIN_OPTION_EXAMPLE', 'v' || id FROM domains WHERE id % 2 = 0`,
		`INSERT INTO option_values (scope, object_id, user_id, name, value)
			SELECT 'USER', id, id, 'USER_OPTION_EXAMPLE', 'v' || id FROM users WHERE id % 4 = 0`,
		`INSERT INTO option_values (scope, object_id, customer_id, name, value)
			SELECT 'CUSTOMER', id, id, 'DOMAIN_OPTION_EXAMPLE', 'v' || id FROM customers WHERE id % 3 = 0`,
	}
	pool, err := s.SQL()
	if err != nil {
		t.Fatal(err)
	}
	// One transaction. Its commit waits for the disk on PostgreSQL
	// (test schemas do not, db/dbtest): VACUUM marks a page all-visible
	// only once the commit that wrote its rows is on disk.
	tx, err := pool.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if d == Postgres {
		// Index builds sort in memory; a superuser (the tests' usual
		// role) skips the foreign keys' checks, row by row, of rows
		// written to agree with them.
		set := []string{"SET LOCAL synchronous_commit = on", "SET LOCAL maintenance_work_mem = '256MB'"}
		var super bool
		if err := tx.QueryRow("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").Scan(&super); err != nil {
			t.Fatal(err)
		}
		if super {
			set = append(set, "SET LOCAL session_replication_role = replica")
			// The row counts' triggers fire all the same: the counts
			// are what the lists read.
			for table := range keptCounts {
				for _, ev := range []string{"insert", "delete"} {
					set = append(set, fmt.Sprintf("ALTER TABLE %[1]s ENABLE ALWAYS TRIGGER %[1]s_count_%s", table, ev))
				}
			}
		}
		stmts = append(set, stmts...)
	} else {
		// The writer's one connection (this test's store): index builds
		// sort in memory.
		stmts = append([]string{"PRAGMA cache_size = -262144", "PRAGMA temp_store = MEMORY"}, stmts...)
	}
	// The indexes the migrations made are dropped and made again, as
	// they were, once the rows are in: building an index whole is several
	// times quicker than growing it row by row (the trigram indexes
	// most), and leaves it as a REINDEX would. Those behind constraints
	// (keys) stay.
	q := `SELECT 'DROP INDEX ' || quote_ident(indexname), indexdef FROM pg_indexes
		WHERE schemaname = current_schema() AND indexname NOT IN (SELECT conname FROM pg_constraint WHERE connamespace = current_schema()::regnamespace)`
	if d == SQLite {
		q = "SELECT 'DROP INDEX ' || name, sql FROM sqlite_schema WHERE type = 'index' AND sql IS NOT NULL"
	}
	rows, err := tx.Query(q)
	if err != nil {
		t.Fatal(err)
	}
	var drops, creates []string
	for rows.Next() {
		var drop, create string
		if err := rows.Scan(&drop, &create); err != nil {
			t.Fatal(err)
		}
		drops, creates = append(drops, drop), append(creates, create)
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for _, q := range slices.Concat(drops, stmts) {
		if _, err := tx.Exec(q); err != nil {
			t.Fatalf("seed: %v\n%s", err, q)
		}
	}
	inserted := time.Now()
	for _, q := range creates {
		if _, err := tx.Exec(q); err != nil {
			t.Fatalf("seed: %v\n%s", err, q)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	indexed := time.Now()
	defer func() {
		t.Logf("rows inserted in %v, %d indexes built in %v, statistics in %v", inserted.Sub(start).Round(time.Millisecond),
			len(creates), indexed.Sub(inserted).Round(time.Millisecond), time.Since(indexed).Round(time.Millisecond))
	}()
	if d == SQLite {
		if _, err := pool.Exec("ANALYZE"); err != nil {
			t.Fatal(err)
		}
		return
	}
	// VACUUM sets the visibility map, as autovacuum keeps it, so that
	// index-only scans are what they are in production, and ANALYZE
	// gathers the statistics: of the schema's own tables, not the whole
	// database's. A page becomes all-visible only once no transaction of
	// the database is older than its rows (another test's, an autovacuum
	// ANALYZE of another schema): the tables that are not yet are
	// vacuumed again, for a few seconds at most.
	var all string
	if err := pool.QueryRow("SELECT string_agg(quote_ident(tablename), ', ') FROM pg_tables WHERE schemaname = current_schema()").Scan(&all); err != nil {
		t.Fatal(err)
	}
	// A statistics target of 1,000 makes ANALYZE sample 300,000 rows a
	// table, every row at this size: the plans do not change from one run
	// to the next with a random sample (one run in several chose a hash
	// join over every domain before).
	conn, err := pool.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(context.Background(), "SET default_statistics_target = 1000"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(context.Background(), "VACUUM ANALYZE "+all); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		var tables string
		err := pool.QueryRow(`SELECT coalesce(string_agg(quote_ident(relname), ', '), '') FROM pg_class
			WHERE relnamespace = current_schema()::regnamespace AND relkind = 'r' AND relallvisible < relpages`).Scan(&tables)
		if err != nil {
			t.Fatal(err)
		}
		if tables == "" {
			return
		}
		if _, err := pool.Exec("VACUUM " + tables); err != nil {
			t.Fatal(err)
		}
	}
	t.Log("some pages are still not all-visible: index-only scans read the table for them")
}

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

// A statement the store ran: its SQL and its arguments.
type statement struct {
	sql  string
	vars []any
}

// recorder collects the statements of the store's reads (every list
// call reads through s.gdb), from a GORM callback registered on this
// test's store only: production code is untouched.
type recorder struct {
	mu    sync.Mutex
	stmts []statement
}

func recordStatements(t *testing.T, s *Store) *recorder {
	r := &recorder{}
	fn := func(tx *gorm.DB) {
		// A subquery is built by a dry run of its own, whose statement
		// is part of the one that runs.
		if tx.DryRun || tx.Statement.SQL.Len() == 0 {
			return
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		r.stmts = append(r.stmts, statement{sql: tx.Statement.SQL.String(), vars: slices.Clone(tx.Statement.Vars)})
	}
	if err := s.gdb.Callback().Query().After("gorm:query").Register("explain:record", fn); err != nil {
		t.Fatal(err)
	}
	if err := s.gdb.Callback().Row().After("gorm:row").Register("explain:record", fn); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *recorder) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stmts = nil
}

func (r *recorder) take() []statement {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.stmts
	r.stmts = nil
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

func explainCalls(z explainSize) []explainCall {
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
	domains("deep offset (four fifths in)", DomainFilter{}, Page{Offset: z.domains * 4 / 5, PageSize: 40}, deep, "")
	domainsAfter := func(f DomainFilter) func(ctx context.Context, s *Store, p Page) (*Cursor, error) {
		return func(ctx context.Context, s *Store, p Page) (*Cursor, error) {
			_, _, next, err := s.ListDomains(ctx, f, p)
			return next, err
		}
	}
	for _, sort := range append([]string{""}, sorts(DomainList)...) {
		keyset("domains", "keyset page four fifths in, sort="+sort, strict, "", Page{Offset: z.domains * 4 / 5, PageSize: 40, Sort: sort}, domainsAfter(DomainFilter{}))
	}
	// Half the domains have no external id: the page after the one at
	// offset n/2 - 60 (its rows n/2 - 20 to n/2 + 19) goes from the
	// values to the NULLs, or back.
	for _, sort := range []string{"externalId", "-externalId"} {
		keyset("domains", "keyset page across the NULLs, sort="+sort, strict, "", Page{Offset: z.domains/2 - 60, PageSize: 40, Sort: sort}, domainsAfter(DomainFilter{}))
	}
	keyset("domains", "keyset page, status=PENDING", strict, "", Page{Offset: z.domains / 50 / 2, PageSize: 40}, domainsAfter(DomainFilter{Status: str(StatusPending)}))
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
	users("deep offset (three quarters in)", UserFilter{}, Page{Offset: z.users * 3 / 4, PageSize: 40}, deep, "")
	usersAfter := func(f UserFilter) func(ctx context.Context, s *Store, p Page) (*Cursor, error) {
		return func(ctx context.Context, s *Store, p Page) (*Cursor, error) {
			_, _, next, err := s.ListUsers(ctx, f, p)
			return next, err
		}
	}
	for _, sort := range append([]string{""}, sorts(UserList)...) {
		keyset("users", "keyset page three quarters in, sort="+sort, strict, "", Page{Offset: z.users * 3 / 4, PageSize: 40, Sort: sort}, usersAfter(UserFilter{}))
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
	users("domain users, deep offset (three quarters in)", UserFilter{DomainID: &big}, Page{Offset: z.users / bigUsers * 3 / 4, PageSize: 40}, strict, "")
	for _, sort := range append([]string{""}, sorts(UserList)...) {
		keyset("users", "domain users, keyset page three quarters in, sort="+sort, strict, "", Page{Offset: z.users / bigUsers * 3 / 4, PageSize: 40, Sort: sort}, usersAfter(UserFilter{DomainID: &big}))
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
	admins("deep offset (three quarters in)", AdminFilter{}, Page{Offset: z.admins * 3 / 4, PageSize: 40}, deep, "")
	for _, sort := range append([]string{""}, sorts(AdminList)...) {
		keyset("admins", "keyset page three quarters in, sort="+sort, strict, "", Page{Offset: z.admins * 3 / 4, PageSize: 40, Sort: sort},
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
	aliases("deep offset (three quarters in)", EmailAliasFilter{}, Page{Offset: z.emailAliases / bigUsers * 3 / 4, PageSize: 40})
	for _, sort := range append([]string{""}, sorts(EmailAliasList)...) {
		keyset("e-mail aliases", "keyset page three quarters in, sort="+sort, strict, "", Page{Offset: z.emailAliases / bigUsers * 3 / 4, PageSize: 40, Sort: sort},
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
		rules("deep offset (three quarters in)", WblistFilter{}, Page{Offset: z.rules / 17 * 3 / 4, PageSize: 40})
		for _, sort := range append([]string{""}, sorts(WblistList(o.owner))...) {
			keyset("sender rules of a "+o.what, "keyset page three quarters in, sort="+sort, strict, "", Page{Offset: z.rules / 17 * 3 / 4, PageSize: 40, Sort: sort},
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
		keyset("attachment filters", "keyset page three quarters in, sort="+sort, strict, "", Page{Offset: z.filters / bigRules * 3 / 4, PageSize: 40, Sort: sort},
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
		keyset("URI filters", "keyset page three quarters in, sort="+sort, strict, "", Page{Offset: z.filters / bigRules * 3 / 4, PageSize: 40, Sort: sort},
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
		keyset("customers", "keyset page three quarters in, sort="+sort, strict, "", Page{Offset: z.customers * 3 / 4, PageSize: 40, Sort: sort},
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
func checkPlan(t *testing.T, s *Store, tables map[string]int64, c explainCall, st statement) explained {
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
		t.Errorf("%s: %s: explain: %v\n%s", c.list, c.name, err, st.sql)
		return e
	}
	if len(e.problems) > 0 {
		t.Errorf("%s: %s: %s\n  %s\n  args %v\n%s", c.list, c.name, strings.Join(e.problems, "; "), st.sql, st.vars, e.plan)
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
func explainPostgres(pool *sql.DB, tables map[string]int64, c explainCall, st statement) (explained, error) {
	var e explained
	var out string
	if err := pool.QueryRow("EXPLAIN (ANALYZE, FORMAT JSON) "+st.sql, st.vars...).Scan(&out); err != nil {
		return e, err
	}
	var doc []struct{ Plan pgNode }
	if err := json.Unmarshal([]byte(out), &doc); err != nil || len(doc) != 1 {
		return e, fmt.Errorf("unreadable plan %q: %v", out, err)
	}
	count := strings.HasPrefix(st.sql, "SELECT count(*)")
	// A keyset call's pages (not its count, nor the relations its rows
	// embed, which are the first page's too).
	page := c.keyset && !count && strings.Contains(st.sql, " LIMIT ")
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

func pgTextPlan(pool *sql.DB, st statement) (string, error) {
	rows, err := pool.Query("EXPLAIN "+st.sql, st.vars...)
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
func explainSQLite(pool *sql.DB, tables map[string]int64, c explainCall, st statement) (explained, error) {
	var e explained
	rows, err := pool.Query("EXPLAIN QUERY PLAN "+st.sql, st.vars...)
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
	limited := strings.Contains(st.sql, " LIMIT ") && !slices.ContainsFunc(details, func(d string) bool {
		return strings.HasPrefix(d, "USE TEMP B-TREE FOR")
	})
	count := strings.HasPrefix(st.sql, "SELECT count(*)")
	keysetPage := c.keyset && limited && !count
	if keysetPage {
		// A page read in its sort's order stops at its limit, but one
		// that scans from the index's start walks to its cursor first.
		limited = false
	}
	for _, detail := range details {
		if m := sqliteSearch.FindStringSubmatch(detail); m != nil && keysetPage && ranged.MatchString(st.sql) &&
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
