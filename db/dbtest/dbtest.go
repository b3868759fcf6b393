// Package dbtest gives tests a fresh database of each kind: a SQLite file
// in a temporary folder, and an empty PostgreSQL schema.
package dbtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
)

// SQLite returns the URL of a new SQLite file, removed after the test.
func SQLite(t testing.TB) string {
	return "sqlite:" + t.TempDir() + "/cleanmail.db"
}

// Postgres returns the URL of a new, empty schema (commits not waiting for
// the disk), dropped after the test, on CLEANMAIL_TEST_DATABASE_URL or else
// the local server. Without the variable an unreachable server skips the
// test; with it, it fails.
func Postgres(t testing.TB) string {
	t.Helper()
	base := os.Getenv("CLEANMAIL_TEST_DATABASE_URL")
	required := base != ""
	if !required {
		base = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	conn, err := sql.Open("pgx", base)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = conn.PingContext(ctx)
		cancel()
	}
	if err != nil {
		if required {
			t.Fatalf("PostgreSQL at CLEANMAIL_TEST_DATABASE_URL: %v", err)
		}
		t.Skipf("PostgreSQL not reachable (%v); set CLEANMAIL_TEST_DATABASE_URL to require it", err)
	}
	// An extension is one per database, in one schema: were a test's
	// migration to create pg_trgm in its own schema, dropping that schema
	// would take the extension with it, and the trigram indexes of every
	// other test's schema. It lives in public, created once; tests of
	// several packages may race to create it.
	if _, err := conn.Exec("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public"); err != nil {
		var ok bool
		if conn.QueryRow("SELECT true FROM pg_extension WHERE extname = 'pg_trgm'").Scan(&ok); !ok {
			t.Fatalf("PostgreSQL: pg_trgm: %v", err)
		}
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "t_" + hex.EncodeToString(b)
	if _, err := conn.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = conn.Exec("DROP SCHEMA " + schema + " CASCADE")
		conn.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	// A test's commits need not wait for the disk: a crash of the server
	// loses a test run, never data that matters (and halves the time of
	// the write-heavy tests).
	q.Set("synchronous_commit", "off")
	u.RawQuery = q.Encode()
	return u.String()
}
