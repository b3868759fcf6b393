package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"runtime/metrics"
	"sync/atomic"
	"testing"
	"time"
)

// seedWblist stores n sender rules for a domain in one set-based
// statement (portable to both databases): alternately ALLOW and BLOCK,
// one in ten with an expiry date ahead.
func seedWblist(b testing.TB, e *env, domainID int64, n int) {
	b.Helper()
	sqlDB, err := e.store.SQL()
	if err != nil {
		b.Fatal(err)
	}
	for _, q := range []string{
		fmt.Sprintf(`WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < %d)
			INSERT INTO wblist_rules (domain_id, value, type, spf_on, expire_at, description, created_at)
			SELECT %d, 'sender' || n || '@bench' || (n %% 100) || '.example',
				CASE WHEN n %% 2 = 0 THEN 'ALLOW' ELSE 'BLOCK' END,
				CASE WHEN n %% 2 = 0 THEN TRUE END,
				CASE WHEN n %% 10 = 0 THEN %d END,
				'rule ' || n, 1774457446695 + n FROM s`, n, domainID, future),
		`ANALYZE`,
	} {
		if _, err := sqlDB.Exec(q); err != nil {
			b.Fatalf("seed: %v\n%s", err, q)
		}
	}
}

// heapGrowth samples the live heap while fn runs and returns how far its
// peak rose above the live heap before, in MiB: an export's memory must
// stay flat whatever its row count.
func heapGrowth(fn func()) float64 {
	runtime.GC()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(sample)
	base := sample[0].Value.Uint64()
	var peak atomic.Uint64
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(sample)
			if v := sample[0].Value.Uint64(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	fn()
	close(done)
	return float64(int64(peak.Load())-int64(base)) / (1 << 20)
}

func benchDo(b *testing.B, e *env, method, path string, body []byte, accept string) int64 {
	req, _ := http.NewRequest(method, e.srv.URL+path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+e.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	n, _ := io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != 200 {
		b.Fatalf("%s %s: %d", method, path, res.StatusCode)
	}
	return n
}

// BenchmarkWblist measures, over HTTP on each database: replacing a
// mailbox's sender rules with 10,000 rules (PUT, one transaction); a page
// of a domain's list with 100,000 rules stored (first page in the default
// order with its total, a page filtered by type, a deep page); and the
// spreadsheet export of those 100,000 rules, with the peak live heap
// while it runs.
func BenchmarkWblist(b *testing.B) {
	const big, set = 100_000, 10_000
	for name, newURL := range databases(b) {
		b.Run(name, func(b *testing.B) {
			e := newEnv(b, newURL(b))
			e.t = b
			domain := e.newDomain("bench.example")
			domainID, _ := e.ids.Decode(domain)
			user := e.newUser(domain, "user@bench.example")

			rules := make([]map[string]any, set)
			for i := range rules {
				rules[i] = map[string]any{"value": fmt.Sprintf("sender%d@example%d.net", i, i%50), "type": []string{"ALLOW", "BLOCK"}[i%2]}
			}
			body, _ := json.Marshal(rules)
			b.Run("SetMailbox10k", func(b *testing.B) {
				for b.Loop() {
					benchDo(b, e, "PUT", "/users/"+user+"/wblist", body, "")
				}
			})

			seedWblist(b, e, domainID, big)
			path := "/domains/" + domain + "/wblist"
			b.Run("ListFirstPage100k", func(b *testing.B) {
				for b.Loop() {
					benchDo(b, e, "GET", path, nil, "")
				}
			})
			b.Run("ListTypePage100k", func(b *testing.B) {
				for b.Loop() {
					benchDo(b, e, "GET", path+"?type=BLOCK&sort=-createdDate", nil, "")
				}
			})
			b.Run("ListDeepPage100k", func(b *testing.B) {
				for b.Loop() {
					benchDo(b, e, "GET", path+"?offset=50000", nil, "")
				}
			})
			export := func(path string) func(b *testing.B) {
				return func(b *testing.B) {
					var growth float64
					var size int64
					for b.Loop() {
						growth = max(growth, heapGrowth(func() { size = benchDo(b, e, "GET", path, nil, "application/vnd.ms-excel") }))
					}
					b.ReportMetric(growth, "heap-growth-MiB")
					b.ReportMetric(float64(size)/(1<<20), "xlsx-MiB")
				}
			}
			b.Run("Export100k", export(path))
			// The same export, ten times shorter, for comparison: the heap
			// growth stays the same, the time shrinks.
			small := e.newDomain("small.example")
			smallID, _ := e.ids.Decode(small)
			seedWblist(b, e, smallID, big/10)
			b.Run("Export10k", export("/domains/"+small+"/wblist"))
		})
	}
}
