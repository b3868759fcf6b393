package api

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/cleanmail/cleanmail/db"
	"github.com/cleanmail/cleanmail/db/dbtest"
	"github.com/cleanmail/cleanmail/pkg/dnscheck"
	"github.com/cleanmail/cleanmail/pkg/loopback"
)

// BenchmarkRecheck10k is one round of the periodic re-check over 10,000
// domains against the in-process DNS server (each domain: 4 lookups, its
// options and key read, its diagnostic stored), eight checks at a time; it
// reports the peak of checks running at once.
func BenchmarkRecheck10k(b *testing.B) {
	const n = 10_000
	for _, tc := range []struct {
		name string
		url  func(testing.TB) string
	}{{"sqlite", dbtest.SQLite}, {"postgres", dbtest.Postgres}} {
		b.Run(tc.name, func(b *testing.B) {
			store, err := db.Open(db.Options{URL: tc.url(b)})
			if err != nil {
				b.Fatal(err)
			}
			defer store.Close()
			ctx := context.Background()
			if _, err := store.Migrate(ctx); err != nil {
				b.Fatal(err)
			}
			sqlDB, _ := store.SQL()
			for _, q := range []string{
				fmt.Sprintf(`WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < %d)
					INSERT INTO domains (name, status, wblist_priority, default_language, auto_provisioning_on, sender_verify_on, outgoing_subnets, creation_date)
					SELECT 'bench' || n || '.example', 'ENABLED', 'USER', 'EN', FALSE, TRUE, '[]', 1774457446695 FROM s`, n),
				`INSERT INTO domain_names (name, domain_id) SELECT name, id FROM domains`,
			} {
				if _, err := sqlDB.Exec(q); err != nil {
					b.Fatal(err)
				}
			}
			srv, err := loopback.StartDNS(loopback.DNSOptions{})
			if err != nil {
				b.Fatal(err)
			}
			defer srv.Close()
			resolver, _ := dnscheck.NewResolver(srv.Addr(), 2*time.Second)
			s := &Server{store: store, dns: resolver, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
			r := Recheck{Interval: time.Hour, Tick: time.Hour, Concurrency: 8}
			for b.Loop() {
				b.StopTimer()
				for _, q := range []string{"DELETE FROM domain_health", "DELETE FROM health_claims"} {
					if _, err := sqlDB.Exec(q); err != nil {
						b.Fatal(err)
					}
				}
				b.StartTimer()
				checked, err := s.recheckRound(ctx, r, time.Now())
				if err != nil || checked != n {
					b.Fatalf("a round checked %d of %d: %v", checked, n, err)
				}
			}
			b.ReportMetric(float64(s.recheckPeak.Load()), "peak-concurrency")
		})
	}
}
