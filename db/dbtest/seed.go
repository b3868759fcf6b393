package dbtest

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"testing"
	"time"
)

// Size is how many rows Seed stores in each table; a zero leaves a
// table (and what depends on it) empty. One large tenant (domain 1, and
// user 1 for a mailbox's rules) holds a share of each table, its rows
// interleaved with everyone else's as they would be after years of
// creations; the rest is spread over the other domains.
type Size struct {
	Brokers, Customers, Domains, DomainAliases int
	Users, EmailAliases, Recipients            int
	Rules, Filters, Admins                     int
}

// The large tenant's share: every BigUsers-th user and alias, every
// BigRules-th attachment and URI rule (sender rules: a seventeenth, see
// Seed).
const (
	BigUsers = 20 // 5%
	BigRules = 10 // 10%
)

// Scaled is the size of db's TestExplainLists: 50,000 domains, 200,000
// users, and rules, aliases, filters, administrators and options in
// proportion, times n.
func Scaled(n int) Size {
	return Size{
		Brokers: 50 * n, Customers: 5_000 * n, Domains: 50_000 * n, DomainAliases: 10_000 * n,
		Users: 200_000 * n, EmailAliases: 40_000 * n, Recipients: 100_000 * n,
		Rules: 170_000 * n, Filters: 50_000 * n, Admins: 20_000 * n,
	}
}

// Series is the rows i = 1…n: generate_series on PostgreSQL, a recursive
// common table expression on SQLite.
func Series(postgres bool, n int) string {
	if postgres {
		return fmt.Sprintf("generate_series(1, %d) AS s(i)", n)
	}
	return fmt.Sprintf("(WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < %d) SELECT i FROM c) AS s", n)
}

// Seed fills a migrated, empty database (pool: PostgreSQL's, or SQLite's
// writer connection) with z's rows in set-based statements, then has the
// database gather its statistics: seconds for a million rows. Ids are
// given, so that rows can name each other without lookups; the users and
// aliases need at least two domains, the authorities a broker and a
// customer.
func Seed(t testing.TB, pool *sql.DB, postgres bool, z Size) {
	t.Helper()
	ser := func(n int) string { return Series(postgres, n) }
	// The domain of row i: domain 1 for every share-th row, else one of
	// the others.
	owner := func(share int) string {
		return fmt.Sprintf("CASE WHEN i %% %d = 0 THEN 1 ELSE 2 + i %% %d END", share, z.Domains-1)
	}
	var stmts []string
	add := func(when bool, q ...string) {
		if when {
			stmts = append(stmts, q...)
		}
	}
	add(z.Brokers > 0, `INSERT INTO brokers (id, name, external_id, created_at)
			SELECT i, 'broker' || i, 'B' || i, 1700000000000 + i FROM `+ser(z.Brokers))
	add(z.Customers > 0 && z.Brokers > 0, fmt.Sprintf(`INSERT INTO customers (id, broker_id, name, external_id, created_at)
			SELECT i, 1 + i %% %d, 'customer' || i, 'C' || i, 1700000000000 + i FROM %s`, z.Brokers, ser(z.Customers)))
	// Mostly ENABLED; some DISABLED, PENDING, DELETED. A tenth have no
	// customer, half an external id.
	customer := "NULL"
	if z.Customers > 0 && z.Brokers > 0 {
		customer = fmt.Sprintf("CASE WHEN i %% 10 <> 0 THEN 1 + i %% %d END", z.Customers)
	}
	add(z.Domains > 0, fmt.Sprintf(`INSERT INTO domains (id, name, status, wblist_priority, default_language, auto_provisioning_on, sender_verify_on,
				external_id, policy_id, customer_id, outgoing_subnets, creation_date)
			SELECT i, 'd' || i || '.example',
				CASE WHEN i %% 20 = 0 THEN 'DISABLED' WHEN i %% 50 = 7 THEN 'PENDING' WHEN i %% 100 = 3 THEN 'DELETED' ELSE 'ENABLED' END,
				'USER', 'EN', FALSE, TRUE, CASE WHEN i %% 2 = 0 THEN 'ext-' || i END, i,
				%s, '[]', 1700000000000 + i * 1000 FROM %s`, customer, ser(z.Domains)),
		`INSERT INTO domain_names (name, domain_id) SELECT name, id FROM domains`,
		`INSERT INTO policies (id, domain_id, name, mail_size_limit, spam_score) SELECT id, id, 'Default', 21, 5 FROM domains`,
		fmt.Sprintf(`INSERT INTO policies (id, domain_id, name, mail_size_limit, spam_score)
			SELECT %d + i, 1, 'policy' || i, 21, 5 FROM %s`, z.Domains, ser(50)),
		// One default platform a domain, 2,000 names shared among them.
		`INSERT INTO platforms (id, domain_id, name, transport_dest, transport_type, transport_port, is_default)
			SELECT id, id, 'mx' || (id % 2000) || '.hoster.example', '10.0.0.1', 'SMTP', 25, TRUE FROM domains`,
		`INSERT INTO outgoing_providers (id, name, spf_provider) SELECT i, 'provider' || i, 'spf' || i || '.example' FROM `+ser(10),
		`INSERT INTO domain_outgoing_providers (domain_id, outgoing_provider_id) SELECT id, 1 + id % 10 FROM domains WHERE id % 10 = 0`)
	many := z.Domains >= 2
	add(many && z.DomainAliases > 0,
		fmt.Sprintf(`INSERT INTO domain_names (name, domain_id) SELECT 'alias' || i || '.example', %s FROM %s`, owner(50), ser(z.DomainAliases)),
		`INSERT INTO domain_aliases (domain_id, name) SELECT domain_id, name FROM domain_names WHERE name LIKE 'alias%'`)
	// A tenth of the users have a platform of their own (their
	// domain's); the others use their domain's default.
	add(many && z.Users > 0, fmt.Sprintf(`INSERT INTO users (id, domain_id, email, firstname, lastname, status, language, platform_id, sender_verify_on, creation_date)
			SELECT i, dom, 'u' || i || '@d' || dom || '.example', 'First' || (i %% 997), 'Last' || (i %% 4999),
				CASE WHEN i %% 25 = 0 THEN 'DISABLED' WHEN i %% 40 = 1 THEN 'PENDING' ELSE 'ENABLED' END, 'EN',
				CASE WHEN i %% 10 = 0 THEN dom END, TRUE, 1700000000000 + i * 1000
			FROM (SELECT i, %s AS dom FROM %s) AS x`, owner(BigUsers), ser(z.Users)))
	add(many && z.EmailAliases > 0,
		fmt.Sprintf(`INSERT INTO mail_addresses (address, domain_id)
			SELECT 'group' || i || '@d' || dom || '.example', dom FROM (SELECT i, %s AS dom FROM %s) AS x`, owner(BigUsers), ser(z.EmailAliases)),
		fmt.Sprintf(`INSERT INTO email_aliases (id, domain_id, email)
			SELECT i, dom, 'group' || i || '@d' || dom || '.example' FROM (SELECT i, %s AS dom FROM %s) AS x`, owner(BigUsers), ser(z.EmailAliases)))
	// The large tenant's aliases list its users, its other aliases and
	// outside addresses (by the recipient's rank k in its alias); the
	// others outside addresses.
	add(many && z.Recipients > 0 && z.EmailAliases >= BigUsers && z.Users >= BigUsers,
		fmt.Sprintf(`INSERT INTO email_alias_recipients (alias_id, email, type, user_id, target_alias_id)
			SELECT a, 'r' || i || '@partner.example',
				CASE WHEN a %% %[1]d = 0 AND k = 0 THEN 'USER' WHEN a %% %[1]d = 0 AND k = 1 THEN 'ALIAS' ELSE 'EXTERNAL_ADDRESS' END,
				CASE WHEN a %% %[1]d = 0 AND k = 0 THEN %[1]d * (1 + i %% %[2]d) END,
				CASE WHEN a %% %[1]d = 0 AND k = 1 THEN %[1]d * (1 + (a / %[1]d) %% %[3]d) END
			FROM (SELECT i, 1 + i %% %[4]d AS a, i / %[4]d AS k FROM %[5]s) AS x`,
			BigUsers, z.Users/BigUsers, z.EmailAliases/BigUsers, z.EmailAliases, ser(z.Recipients)))
	// Sender rules of domains (10 of every 17 ids) and of mailboxes (the
	// other 7), created over time: the owners' ids interleave. Domain 1
	// and user 1 hold a seventeenth each. Rules of every type; most never
	// expire, a tenth expire in 2100, a tenth have expired.
	add(many && z.Users >= 2 && z.Rules > 0, fmt.Sprintf(`INSERT INTO wblist_rules (id, domain_id, user_id, value, type, spf_on, expire_at, created_at)
			SELECT i,
				CASE WHEN i %% 17 < 10 THEN (CASE WHEN i %% 170 < 10 THEN 1 ELSE 2 + i %% %d END) END,
				CASE WHEN i %% 17 >= 10 THEN (CASE WHEN i %% 119 BETWEEN 10 AND 16 THEN 1 ELSE 2 + i %% %d END) END,
				'sender' || i || '@spam' || (i %% 100) || '.example',
				CASE i %% 3 WHEN 0 THEN 'ALLOW' WHEN 1 THEN 'BLOCK' ELSE 'PROTECTED' END, CASE WHEN i %% 3 = 0 THEN TRUE END,
				CASE i %% 10 WHEN 0 THEN 4102444800000 WHEN 1 THEN 1600000000000 END, 1700000000000 + i FROM %s`,
		z.Domains-1, z.Users-1, ser(z.Rules)))
	add(many && z.Filters > 0,
		fmt.Sprintf(`INSERT INTO attachment_filters (id, domain_id, action, check_type, filter, priority, created_at)
			SELECT i, %s, CASE i %% 2 WHEN 0 THEN 'DENY' ELSE 'ALLOW' END,
				CASE i %% 4 WHEN 0 THEN 'FILENAME' WHEN 1 THEN 'CONTENTTYPE' WHEN 2 THEN 'ARCHIVE-FILENAME' ELSE 'ARCHIVE-CONTENTTYPE' END,
				'.ext' || i, i, 1700000000000 + i FROM %s`, owner(BigRules), ser(z.Filters)),
		fmt.Sprintf(`INSERT INTO uri_filters (id, domain_id, action, filter, priority, created_at)
			SELECT i, %s, CASE i %% 3 WHEN 0 THEN 'URIDNSBL_SKIP_DOMAIN' WHEN 1 THEN 'WHITELIST_URI_HOST' ELSE 'BLACKLIST_URI_HOST' END,
				'host' || i || '.example', i, 1700000000000 + i FROM %s`, owner(BigRules), ser(z.Filters)))
	add(z.Admins > 0, fmt.Sprintf(`INSERT INTO admins (id, login, email, display_name, enabled, created_at)
			SELECT i, 'admin' || i, 'admin' || i || '@d' || i || '.example', 'Admin Number ' || i, TRUE, 1700000000000 + i FROM %s`, ser(z.Admins)))
	// Most administrators hold one domain, some a customer, some a
	// broker; fifty hold domain 1 as well.
	add(z.Admins > 0 && z.Domains > 0 && z.Customers > 0 && z.Brokers > 0,
		fmt.Sprintf(`INSERT INTO authorities (admin_id, domain_id, customer_id, broker_id, permissions)
			SELECT i, CASE WHEN i <= %[1]d THEN 1 + i %% %[3]d END, CASE WHEN i > %[1]d AND i <= %[2]d THEN 1 + i %% %[4]d END,
				CASE WHEN i > %[2]d THEN 1 + i %% %[5]d END, '["DOMAIN_READ","USER_READ"]' FROM %[6]s`,
			z.Admins*9/10, z.Admins*97/100, z.Domains, z.Customers, z.Brokers, ser(z.Admins)))
	add(z.Admins > 50 && z.Domains > 0,
		`INSERT INTO authorities (admin_id, domain_id, permissions) SELECT i + 1, 1, '["DOMAIN_READ"]' FROM `+ser(50))
	add(true,
		`INSERT INTO option_values (scope, object_id, domain_id, name, value)
			SELECT 'DOMAIN', id, id, 'DOMAIN_OPTION_EXAMPLE', 'v' || id FROM domains WHERE id % 2 = 0`,
		`INSERT INTO option_values (scope, object_id, user_id, name, value)
			SELECT 'USER', id, id, 'USER_OPTION_EXAMPLE', 'v' || id FROM users WHERE id % 4 = 0`,
		`INSERT INTO option_values (scope, object_id, customer_id, name, value)
			SELECT 'CUSTOMER', id, id, 'DOMAIN_OPTION_EXAMPLE', 'v' || id FROM customers WHERE id % 3 = 0`)

	// One transaction. Its commit waits for the disk on PostgreSQL (test
	// schemas do not, Postgres): VACUUM marks a page all-visible only
	// once the commit that wrote its rows is on disk.
	tx, err := pool.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if postgres {
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
			// The schema's own triggers (the row counts', db/counts.go)
			// fire all the same: the counts are what the lists read.
			rows, err := tx.Query(`SELECT format('ALTER TABLE %I ENABLE ALWAYS TRIGGER %I', c.relname, tg.tgname)
				FROM pg_trigger tg JOIN pg_class c ON c.oid = tg.tgrelid
				WHERE NOT tg.tgisinternal AND c.relnamespace = current_schema()::regnamespace`)
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var alter string
				if err := rows.Scan(&alter); err != nil {
					t.Fatal(err)
				}
				set = append(set, alter)
			}
			if err := rows.Close(); err != nil {
				t.Fatal(err)
			}
		}
		stmts = append(set, stmts...)
	} else {
		// The writer's one connection: index builds sort in memory, in a
		// cache of 64 MiB (of the 256 MiB a connection's WebAssembly heap
		// holds: a larger one ran out of memory at a million rows).
		stmts = append([]string{"PRAGMA cache_size = -65536", "PRAGMA temp_store = MEMORY"}, stmts...)
	}
	// The indexes the migrations made are dropped and made again, as they
	// were, once the rows are in: building an index whole is several
	// times quicker than growing it row by row (the trigram indexes most),
	// and leaves it as a REINDEX would. Those behind constraints (keys)
	// stay.
	q := `SELECT 'DROP INDEX ' || quote_ident(indexname), indexdef FROM pg_indexes
		WHERE schemaname = current_schema() AND indexname NOT IN (SELECT conname FROM pg_constraint WHERE connamespace = current_schema()::regnamespace)`
	if !postgres {
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
	if !postgres {
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
	// ANALYZE of another schema): the tables that are not yet are vacuumed
	// again, for a few seconds at most.
	var all string
	if err := pool.QueryRow("SELECT string_agg(quote_ident(tablename), ', ') FROM pg_tables WHERE schemaname = current_schema()").Scan(&all); err != nil {
		t.Fatal(err)
	}
	// A statistics target of 1,000 makes ANALYZE sample 300,000 rows a
	// table, every row at the tests' size: the plans do not change from
	// one run to the next with a random sample (one run in several chose
	// a hash join over every domain before).
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
