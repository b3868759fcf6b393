package api_test

import (
	"fmt"
	"io"
	"net/http"
	"testing"
)

// seedDomains stores n domains, each with its default policy and a
// platform, in a few set-based statements (portable to both databases).
func seedDomains(b *testing.B, e *env, n int) {
	b.Helper()
	sqlDB, err := e.store.SQL()
	if err != nil {
		b.Fatal(err)
	}
	for _, q := range []string{
		fmt.Sprintf(`WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < %d)
			INSERT INTO domains (name, status, wblist_priority, default_language, auto_provisioning_on, sender_verify_on, outgoing_subnets, creation_date)
			SELECT 'bench' || n || '.example', 'ENABLED', 'USER', 'EN', FALSE, TRUE, '[]', 1774457446695 FROM s`, n),
		`INSERT INTO domain_names (name, domain_id) SELECT name, id FROM domains`,
		`INSERT INTO policies (domain_id, name, quarantine, retention, archive, incoming, outgoing, mail_size_limit, spam_score, relay_props, quarantine_props)
			SELECT id, 'Politique-' || name, TRUE, FALSE, FALSE, TRUE, FALSE, 21, 5.0,
			'{"relaySpam":false,"relayAdvert":true,"advertPrefix":"","prefixSpam":null,"relayBadHeaders":false,"relayBadAttachments":false,"spamScoreLimit":5}',
			'{"duration":31,"storeSpam":true}' FROM domains`,
		`UPDATE domains SET policy_id = (SELECT id FROM policies WHERE policies.domain_id = domains.id)`,
		`INSERT INTO platforms (domain_id, name, transport_dest, transport_type, transport_port, is_default)
			SELECT id, 'relay', '10.0.0.1', 'SMTP', 25, TRUE FROM domains`,
		`ANALYZE`,
	} {
		if _, err := sqlDB.Exec(q); err != nil {
			b.Fatalf("seed: %v\n%s", err, q)
		}
	}
}

func benchGet(b *testing.B, e *env, path string) {
	req, _ := http.NewRequest("GET", e.srv.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+e.token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != 200 {
		b.Fatalf("GET %s: %d", path, res.StatusCode)
	}
}

// BenchmarkDomains measures, over HTTP with 10,000 domains stored, a page
// of the domain list (40, sorted by name, with its total: the first page,
// a page at offset 5000, the same page by its predecessor's Link, and a
// prefix-filtered page) and one domain, on each database.
func BenchmarkDomains(b *testing.B) {
	const n = 10_000
	for name, newURL := range databases(b) {
		b.Run(name, func(b *testing.B) {
			e := newEnv(b, newURL(b))
			seedDomains(b, e, n)
			one := e.ids.Encode(n / 2)
			b.Run("ListFirstPage", func(b *testing.B) {
				for b.Loop() {
					benchGet(b, e, "/domains")
				}
			})
			b.Run("ListDeepPage", func(b *testing.B) {
				for b.Loop() {
					benchGet(b, e, "/domains?offset=5000&pageSize=40")
				}
			})
			// The same page, reached by the Link of the page before it.
			link := e.do(req{Method: "GET", Path: "/domains?offset=4960&pageSize=40"}).expect(200).next("")
			b.Run("ListDeepPageByLink", func(b *testing.B) {
				for b.Loop() {
					benchGet(b, e, link)
				}
			})
			b.Run("ListPageFiltered", func(b *testing.B) {
				for b.Loop() {
					benchGet(b, e, "/domains?name=bench5*&pageSize=40")
				}
			})
			b.Run("Get", func(b *testing.B) {
				for b.Loop() {
					benchGet(b, e, "/domains/"+one)
				}
			})
		})
	}
}
