package api_test

import (
	"strings"
	"testing"

	"github.com/cleanmail/cleanmail/pkg/api"
)

func TestOutgoingProviders(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) {
		want := responseExample(t, "/domains/{domainId}", "get", "200").(map[string]any)["outgoingProviders"].([]any)[0].(map[string]any)
		p := e.do(req{Method: "POST", Path: "/outgoing-providers", Body: map[string]any{"name": want["name"], "spfProvider": want["spfProvider"]}}).expect(201).json()
		sameAsExample(t, p, want)
		e.do(req{Method: "POST", Path: "/outgoing-providers", Body: map[string]any{"name": "TEST1", "spfProvider": "x.example"}}).problem(409, "")
		e.do(req{Method: "POST", Path: "/outgoing-providers", Body: map[string]any{"name": "bad", "spfProvider": "not a host"}}).problem(400, "spfProvider")
		e.do(req{Method: "POST", Path: "/outgoing-providers", Body: map[string]any{"name": "Google", "spfProvider": "_spf.google.com", "active": false}}).expect(201)
		l := e.do(req{Method: "GET", Path: "/outgoing-providers?sort=-name"}).expect(200)
		if ls := l.list(); len(ls) != 2 || ls[0]["name"] != "test1" || l.Header.Get("X-Total-Count") != "2" {
			t.Errorf("providers: %s", l.Body)
		}

		d := e.newDomain("stark.net", map[string]any{"outgoingProvidersIds": []string{p["id"].(string)}})
		got := e.do(req{Method: "GET", Path: "/domains/" + d}).expect(200).json()
		sameAsExample(t, got["outgoingProviders"], []any{want})
		e.do(req{Method: "PATCH", Path: "/domains/" + d, Body: map[string]any{"outgoingProvidersIds": []string{"zzzzzzz"}}}).problem(422, "outgoingProvidersIds")
		e.do(req{Method: "PATCH", Path: "/domains/" + d, Body: map[string]any{"outgoingProvidersIds": []string{}}}).expect(204)
		if got := e.do(req{Method: "GET", Path: "/domains/" + d}).expect(200).json(); len(got["outgoingProviders"].([]any)) != 0 {
			t.Errorf("providers not cleared: %v", got["outgoingProviders"])
		}
		token := e.plainAdmin("ned")
		e.do(req{Method: "GET", Path: "/outgoing-providers", Token: token}).problem(403, "sysadmin")
	})
}

func TestPlatforms(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) {
		d := e.newDomain("stark.net", map[string]any{"platforms": []map[string]any{
			{"name": "main", "transportDest": "10.0.0.1", "transportType": "SMTP", "transportPort": 25, "authType": "ldap",
				"authData": map[string]any{"ldap": map[string]any{"url": "ldap://dc", "password": "s3cret"}}},
			{"name": "backup", "transportDest": "10.0.0.2", "transportType": "smtps_may", "transportPort": 465},
		}})
		dom := e.do(req{Method: "GET", Path: "/domains/" + d}).expect(200)
		if contains(dom.Body, "s3cret") {
			t.Fatalf("credentials returned: %s", dom.Body)
		}
		platforms := dom.json()["platforms"].([]any)
		main, backup := platforms[0].(map[string]any), platforms[1].(map[string]any)
		if main["default"] != true || backup["default"] != false || backup["transportType"] != "SMTPS_MAY" || main["authData"] != nil {
			t.Errorf("platforms: %v", platforms)
		}
		// The credentials are kept, for the relay, sealed (never in clear).
		sqlDB, _ := e.store.SQL()
		var auth string
		if err := sqlDB.QueryRow("SELECT auth_data FROM platforms WHERE name = 'main'").Scan(&auth); err != nil || contains([]byte(auth), "s3cret") || !strings.HasPrefix(auth, "sealed:") {
			t.Errorf("stored authData %q, %v", auth, err)
		}

		p := e.do(req{Method: "GET", Path: "/platforms/" + backup["id"].(string)}).expect(200).json()
		sameAsExample(t, p, backup)
		e.do(req{Method: "PATCH", Path: "/platforms/" + backup["id"].(string), Body: map[string]any{"default": true, "fallbackTransportDest": "10.0.0.3", "fallbackTransportPort": 2525}}).expect(204)
		dom2 := e.do(req{Method: "GET", Path: "/domains/" + d}).expect(200).json()["platforms"].([]any)
		if dom2[0].(map[string]any)["default"] != false || dom2[1].(map[string]any)["default"] != true || dom2[1].(map[string]any)["fallbackTransportPort"] != float64(2525) {
			t.Errorf("after PATCH: %v", dom2)
		}
		if ls := e.do(req{Method: "GET", Path: "/domains?platformId=" + backup["id"].(string)}).expect(200).list(); len(ls) != 1 {
			t.Errorf("platformId filter: %d domains", len(ls))
		}
		e.do(req{Method: "PATCH", Path: "/platforms/" + backup["id"].(string), Body: map[string]any{"default": false}}).problem(422, "default")
		e.do(req{Method: "PATCH", Path: "/platforms/" + backup["id"].(string), Body: map[string]any{"transportPort": 70000}}).problem(400, "transportPort")
		e.do(req{Method: "GET", Path: "/platforms/zzzzzzz"}).problem(404, "")
		e.do(req{Method: "PATCH", Path: "/platforms/zzzzzzz", Body: map[string]any{"name": "x"}}).problem(404, "")
	})
}

func contains(b []byte, s string) bool {
	return len(s) > 0 && len(b) >= len(s) && stringIndex(string(b), s) >= 0
}

func stringIndex(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

// TestPlatformCredentialsNeedTheSecretKey: without the secret key, a
// platform with credentials cannot be stored (they are stored only
// sealed); one without them can.
func TestPlatformCredentialsNeedTheSecretKey(t *testing.T) {
	t.Parallel()
	forEachDBWith(t, func(o *api.Options) { o.DKIMSealer = nil }, func(t *testing.T, e *env) {
		body := map[string]any{"name": "stark.net", "status": "ENABLED", "quarantine": false, "retention": false, "archive": false, "defaultLanguage": "EN",
			"platforms": []map[string]any{{"name": "main", "transportDest": "10.0.0.1", "transportType": "SMTP", "transportPort": 25,
				"apiType": "IMAP", "apiData": map[string]any{"host": "imap.stark.net", "login": "admin", "password": "s3cret"}}}}
		e.do(req{Method: "POST", Path: "/domains", Body: body}).problem(422, "CLEANMAIL_SECRET_KEY")
		delete(body["platforms"].([]map[string]any)[0], "apiData")
		e.do(req{Method: "POST", Path: "/domains", Body: body}).expect(201)
	})
}
