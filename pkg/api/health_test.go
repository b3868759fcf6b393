package api_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cleanmail/cleanmail/pkg/api"
)

// The doc's examples of 5.11.1 and 5.11.3, then a domain whose DNS is right,
// over HTTP on both databases, against the in-process DNS server.
func TestDomainDiagnostic(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) {
		e.do(req{Method: "POST", Path: "/options/platform", Body: map[string]any{"name": "MX_HOST", "value": "mx.cleanmail.tld"}}).expect(201)
		d := e.newDomain("targaryen.net")
		e.do(req{Method: "POST", Path: "/domains/" + d + "/options", Body: map[string]any{"name": "DKIM_SELECTOR", "value": "protect"}}).expect(201)
		e.do(req{Method: "GET", Path: "/domains/" + d + "/health"}).problem(404, "This domain's diagnostic never ran (POST /domains/{domainId}/health runs it)")

		entries := func(m map[string]any) []any { return m["report"].(map[string]any)["entries"].([]any) }
		doc := []any{
			map[string]any{"type": "MX", "result": "ERROR_MX_MISSING_ENTRY", "output": []any{"Lookup for MX entry in DNS for targaryen.net", "Fail: No MX entry found"}},
			map[string]any{"type": "DKIM", "result": "ERROR_DKIM_MISSING_ENTRY", "output": []any{"Lookup for dkim entry in DNS for targaryen.net", `Fail: DKIM DNS entry not found for domain "targaryen.net" and selector "protect"`}},
		}
		r := e.do(req{Method: "POST", Path: "/domains/" + d + "/health"}).expect(201)
		got := r.json()
		if got["report"].(map[string]any)["status"] != false || !reflect.DeepEqual(entries(got)[:2], doc) || r.Header.Get("Location") != "/domains/"+d+"/health" {
			t.Errorf("5.11.1: %s", r.Body)
		}
		last := e.do(req{Method: "GET", Path: "/domains/" + d + "/health"}).expect(200).json()
		if !reflect.DeepEqual(last, got) {
			t.Errorf("GET after POST: %v, want %v", last, got)
		}

		if err := e.dns.Set("targaryen.net. IN MX 10 mx.cleanmail.tld."); err != nil {
			t.Fatal(err)
		}
		got = e.do(req{Method: "POST", Path: "/domains/" + d + "/health"}).expect(201).json()
		doc[0] = map[string]any{"type": "MX", "result": "OK", "output": []any{"Passed"}}
		if got["report"].(map[string]any)["status"] != true || !reflect.DeepEqual(entries(got)[:2], doc) {
			t.Errorf("5.11.3: %v", got)
		}

		e.do(req{Method: "POST", Path: "/options/platform", Body: map[string]any{"name": "SPF_INCLUDE", "value": "_spf.cleanmail.tld"}}).expect(201)
		if err := e.dns.Set("targaryen.net. IN MX 10 mx.cleanmail.tld.",
			`protect._domainkey.targaryen.net. IN TXT "v=DKIM1; p=MIIB" "IjAN"`,
			`targaryen.net. IN TXT "v=spf1 include:_spf.cleanmail.tld -all"`,
			`_dmarc.targaryen.net. IN TXT "v=DMARC1; p=quarantine"`); err != nil {
			t.Fatal(err)
		}
		got = e.do(req{Method: "POST", Path: "/domains/" + d + "/health"}).expect(201).json()
		for _, en := range entries(got) {
			if en.(map[string]any)["result"] != "OK" {
				t.Errorf("a right DNS: %v", en)
			}
		}
		if len(entries(got)) != 4 {
			t.Errorf("entries: %v", entries(got))
		}
	})
}

// A domain with a DKIM key must publish that key, under the selector it
// was made for: missing, then another key, then the record the API gave
// (split into strings, as long records are).
func TestDomainDiagnosticChecksTheDomainsKey(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) {
		e.do(req{Method: "POST", Path: "/options/platform", Body: map[string]any{"name": "MX_HOST", "value": "mx.cleanmail.tld"}}).expect(201)
		d := e.newDomain("stark.net")
		var records []string
		e.do(req{Method: "POST", Path: "/domains/" + d + "/dkim", Body: map[string]any{"selector": "winter"}}).expect(201).decode(&records)
		record := records[0] // winter._domainkey.stark.net TXT v=DKIM1; p=…
		name, text, _ := strings.Cut(record, " TXT ")
		dkimEntry := func() map[string]any {
			rep := e.do(req{Method: "POST", Path: "/domains/" + d + "/health"}).expect(201).json()["report"].(map[string]any)
			return rep["entries"].([]any)[1].(map[string]any)
		}
		base := []string{"stark.net. IN MX 10 mx.cleanmail.tld."}
		if en := dkimEntry(); en["result"] != "ERROR_DKIM_MISSING_ENTRY" || !reflect.DeepEqual(en["output"], []any{
			"Lookup for dkim entry in DNS for stark.net", `Fail: DKIM DNS entry not found for domain "stark.net" and selector "winter"`, "Required: " + record}) {
			t.Errorf("no record: %v", en)
		}
		if err := e.dns.Set(append(base, name+`. IN TXT "v=DKIM1; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAother"`)...); err != nil {
			t.Fatal(err)
		}
		if en := dkimEntry(); en["result"] != "ERROR_DKIM_INVALID_COUPLE" {
			t.Errorf("another key: %v", en)
		}
		var quoted []string
		for len(text) > 0 {
			n := min(200, len(text))
			quoted = append(quoted, `"`+text[:n]+`"`)
			text = text[n:]
		}
		if err := e.dns.Set(append(base, name+". IN TXT "+strings.Join(quoted, " "))...); err != nil {
			t.Fatal(err)
		}
		if en := dkimEntry(); en["result"] != "OK" {
			t.Errorf("the published key, in %d strings: %v", len(quoted), en)
		}
	})
}

// A platform's relay checks, stored and listed among the failures when
// they fail; the failures within each caller's reach only.
func TestPlatformDiagnosticAndHealthErrors(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) {
		host, port := hostPortOf(t, e.smtp.Addr())
		good := e.newDomain("stark.net", map[string]any{"platforms": []map[string]any{{"name": "winterfell", "transportDest": host, "transportType": "SMTP", "transportPort": port}}})
		bad := e.newDomain("lannister.net", map[string]any{"platforms": []map[string]any{{"name": "casterly", "transportDest": "127.0.0.1", "transportType": "SMTP", "transportPort": 9}}})
		platformOf := func(d string) string {
			return e.do(req{Method: "GET", Path: "/domains/" + d}).expect(200).json()["platforms"].([]any)[0].(map[string]any)["id"].(string)
		}
		gp, bp := platformOf(good), platformOf(bad)
		e.do(req{Method: "GET", Path: "/platforms/" + gp + "/health"}).problem(404, "This platform's diagnostic never ran (POST /platforms/{platformId}/health runs it)")
		r := e.do(req{Method: "POST", Path: "/platforms/" + gp + "/health"}).expect(201)
		if rep := r.json()["report"].(map[string]any); rep["status"] != true || r.Header.Get("Location") != "/platforms/"+gp+"/health" {
			t.Errorf("a platform whose relay answers: %s", r.Body)
		}
		if got := e.do(req{Method: "GET", Path: "/platforms/" + gp + "/health"}).expect(200).json(); got["performedAt"] != r.json()["performedAt"] {
			t.Errorf("the stored diagnostic: %v", got)
		}
		if rep := e.do(req{Method: "POST", Path: "/platforms/" + bp + "/health"}).expect(201).json()["report"].(map[string]any); rep["status"] != false {
			t.Errorf("a platform whose relay is down: %v", rep)
		}
		e.do(req{Method: "POST", Path: "/domains/" + good + "/health"}).expect(201) // no MX: failing
		if len(e.smtp.Received()) != 0 {
			t.Errorf("a relay check sent mail: %v", e.smtp.Received())
		}

		names := func(token string) string {
			var out []string
			for _, f := range e.do(req{Method: "GET", Path: "/health", Token: token}).expect(200).list() {
				out = append(out, f["type"].(string)+" "+f["name"].(string))
			}
			return strings.Join(out, ", ")
		}
		if got := names(""); got != "DOMAIN stark.net, PLATFORM casterly" {
			t.Errorf("a sysadmin's failures: %q", got)
		}
		_, starkAdmin := e.domainAdmin(good, "maester", "DOMAIN_READ", "HEALTH")
		_, lannisterReader := e.domainAdmin(bad, "lannister", "DOMAIN_READ")
		if got := names(starkAdmin); got != "DOMAIN stark.net" {
			t.Errorf("stark.net's HEALTH admin sees %q", got)
		}
		if got := names(lannisterReader); got != "" {
			t.Errorf("an admin without HEALTH sees %q", got)
		}
	})
}

// Disabling or deleting a domain whose MX still points to the service is
// refused unless X-Ignore-MX says so.
func TestIgnoreMX(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) {
		e.do(req{Method: "POST", Path: "/options/platform", Body: map[string]any{"name": "MX_HOST", "value": "mx.cleanmail.tld"}}).expect(201)
		d := e.newDomain("stark.net")
		if err := e.dns.Set("stark.net. IN MX 10 mx.cleanmail.tld."); err != nil {
			t.Fatal(err)
		}
		const refusal = "The MX entries of stark.net still point to the service (mx.cleanmail.tld): its mail would bounce. Point them elsewhere first, or send the X-Ignore-MX header."
		e.do(req{Method: "PATCH", Path: "/domains/" + d, Body: map[string]any{"status": "DISABLED"}}).problem(422, refusal)
		e.do(req{Method: "DELETE", Path: "/domains/" + d}).problem(422, refusal)
		e.do(req{Method: "PATCH", Path: "/domains/" + d, Body: map[string]any{"description": "still served"}}).expect(204) // other changes go through
		e.do(req{Method: "PATCH", Path: "/domains/" + d, Body: map[string]any{"status": "DISABLED"}, Header: map[string]string{"X-Ignore-MX": "true"}}).expect(204)
		e.do(req{Method: "PATCH", Path: "/domains/" + d, Body: map[string]any{"status": "ENABLED"}}).expect(204)
		// The MX moved elsewhere: nothing to lose.
		if err := e.dns.Set("stark.net. IN MX 10 mx.elsewhere.example."); err != nil {
			t.Fatal(err)
		}
		e.do(req{Method: "DELETE", Path: "/domains/" + d}).expect(204)
	})
}

// The periodic re-check keeps the diagnostics current without anyone
// asking: a new domain and its platform get theirs within a few ticks.
func TestPeriodicRecheck(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"sqlite", "postgres"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEnvWith(t, databases(t)[name](t), func(o *api.Options) {
				o.Recheck = api.Recheck{Interval: time.Hour, Tick: 50 * time.Millisecond, Context: t.Context()}
			})
			host, port := hostPortOf(t, e.smtp.Addr())
			d := e.newDomain("stark.net", map[string]any{"platforms": []map[string]any{{"name": "winterfell", "transportDest": host, "transportType": "SMTP", "transportPort": port}}})
			p := e.do(req{Method: "GET", Path: "/domains/" + d}).expect(200).json()["platforms"].([]any)[0].(map[string]any)["id"].(string)
			for _, path := range []string{"/domains/" + d + "/health", "/platforms/" + p + "/health"} {
				deadline := time.Now().Add(10 * time.Second)
				for {
					r := e.do(req{Method: "GET", Path: path})
					if r.Status == 200 {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("GET %s after 10 s: %d %s", path, r.Status, r.Body)
					}
					time.Sleep(50 * time.Millisecond)
				}
			}
		})
	}
}
