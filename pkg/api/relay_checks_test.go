package api_test

import (
	"crypto/x509"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/cleanmail/cleanmail/gen"
	"github.com/cleanmail/cleanmail/pkg/api"
)

func hostPortOf(t *testing.T, addr string) (string, int) {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(port)
	return host, n
}

func entryText(e gen.HealthResult) string { return strings.Join(e.Output, "\n") }

func TestTryRelayConfiguration(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) {
		host, port := hostPortOf(t, e.smtp.Addr())
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		closedHost, closedPort := hostPortOf(t, ln.Addr().String())
		ln.Close()
		imapHost, imapPort := hostPortOf(t, e.imap.Addr())
		before := len(e.smtp.Received())

		var rec gen.HealthRecord
		e.do(req{Method: "POST", Path: "/health/try-relay", Body: map[string]any{
			"transportDest": host, "transportPort": port, "transportType": "SMTP",
			"fallbackTransportDest": closedHost, "fallbackTransportPort": closedPort,
			"authType": "imap", "authData": map[string]any{"host": imapHost, "port": imapPort},
			"apiType": "IMAP", "apiData": map[string]any{"host": imapHost, "port": imapPort, "login": "ned@stark.net*master", "password": "m4ster"},
		}}).expect(200).decode(&rec)
		if len(rec.Entries) != 4 {
			t.Fatalf("%d entries, want 4: %+v", len(rec.Entries), rec.Entries)
		}
		for i, want := range []struct{ typ, result, text string }{
			{"SMTP", "OK", "RCPT TO:<postmaster@[127.0.0.1]> ("},
			{"SMTP_FALLBACK", "ERROR", "Fail: cannot connect to " + ln.Addr().String()},
			{"AUTH", "OK", "No login tried"},
			{"API", "OK", "LOGIN ned@stark.net*master ("},
		} {
			got := rec.Entries[i]
			if got.Type != want.typ || string(got.Result) != want.result || !strings.Contains(entryText(got), want.text) {
				t.Errorf("entry %d: %s %s, want %s %s with %q:\n%s", i, got.Type, got.Result, want.typ, want.result, want.text, entryText(got))
			}
		}
		if rec.Status {
			t.Error("status true with a fallback down")
		}
		if n := len(e.smtp.Received()); n != before {
			t.Errorf("the probe sent %d messages", n-before)
		}

		// A test account is the probe's recipient; ldap is not checked,
		// which neither passes nor fails the report.
		e.do(req{Method: "POST", Path: "/health/try-relay", Body: map[string]any{
			"transportDest": host, "transportPort": port, "authType": "ldap", "apiType": "EXCHANGE",
			"apiData": map[string]any{"testAccount": "ned@stark.net"},
		}}).expect(200).decode(&rec)
		if !rec.Status || len(rec.Entries) != 3 || !strings.Contains(entryText(rec.Entries[0]), "RCPT TO:<ned@stark.net>") ||
			!strings.Contains(entryText(rec.Entries[0]), "STARTTLS not offered") ||
			rec.Entries[1].Result != gen.HealthCheckResultNOTCHECKED || rec.Entries[2].Result != gen.HealthCheckResultNOTCHECKED {
			t.Errorf("ldap, EXCHANGE: %+v", rec)
		}

		e.do(req{Method: "POST", Path: "/health/try-relay", Body: map[string]any{
			"transportDest": host, "transportPort": 0, "authType": "local", "apiType": "IMAP",
		}}).problem(400, "transportPort")
		e.do(req{Method: "POST", Path: "/health/try-relay", Body: map[string]any{
			"transportDest": "not a host", "transportPort": 25, "authType": "local", "apiType": "IMAP",
		}}).problem(400, "transportDest")
	})
}

// TestTryRelayGuard: a server that does not allow private targets
// refuses loopback, and connects to nothing.
func TestTryRelayGuard(t *testing.T) {
	t.Parallel()
	forEachDBWith(t, func(o *api.Options) { o.Checks.AllowPrivate = false }, func(t *testing.T, e *env) {
		host, port := hostPortOf(t, e.smtp.Addr())
		var rec gen.HealthRecord
		e.do(req{Method: "POST", Path: "/health/try-relay", Body: map[string]any{
			"transportDest": host, "transportPort": port, "fallbackTransportDest": "10.0.0.1",
			"authType": "local", "apiType": "IMAP",
		}}).expect(200).decode(&rec)
		if rec.Status || len(rec.Entries) != 3 {
			t.Fatalf("%+v", rec)
		}
		for _, en := range rec.Entries[:2] {
			if en.Result != gen.HealthCheckResultERROR || !strings.Contains(entryText(en), "refused") {
				t.Errorf("%s not refused:\n%s", en.Type, entryText(en))
			}
		}
	})
}

// TestTryRelayOIDC: the oidc and entra providers' discovery documents,
// fetched over HTTPS from a provider on loopback whose certificate the
// server trusts (its RootCAs), through POST /health/try-relay.
func TestTryRelayOIDC(t *testing.T) {
	t.Parallel()
	var srv *httptest.Server
	srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		issuer, ok := strings.CutSuffix(r.URL.Path, "/.well-known/openid-configuration")
		if !ok || strings.HasPrefix(issuer, "/nobody") {
			http.NotFound(w, r)
			return
		}
		issuer = srv.URL + issuer
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": issuer, "authorization_endpoint": issuer + "/auth",
			"token_endpoint": issuer + "/token", "jwks_uri": issuer + "/keys"})
	}))
	t.Cleanup(srv.Close)
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	forEachDBWith(t, func(o *api.Options) { o.Checks.RootCAs, o.Checks.EntraAuthority = roots, srv.URL }, func(t *testing.T, e *env) {
		host, port := hostPortOf(t, e.smtp.Addr())
		auth := func(authType string, data map[string]any) gen.HealthResult {
			t.Helper()
			var rec gen.HealthRecord
			e.do(req{Method: "POST", Path: "/health/try-relay", Body: map[string]any{
				"transportDest": host, "transportPort": port, "authType": authType, "authData": data, "apiType": "IMAP",
			}}).expect(200).decode(&rec)
			if len(rec.Entries) < 2 || rec.Entries[1].Type != "AUTH" {
				t.Fatalf("no AUTH entry: %+v", rec)
			}
			if (rec.Entries[1].Result == gen.HealthCheckResultERROR) == rec.Status {
				t.Errorf("status %v with AUTH %s", rec.Status, rec.Entries[1].Result)
			}
			return rec.Entries[1]
		}
		if en := auth("oidc", map[string]any{"issuerUri": srv.URL + "/realms/stark", "clientId": "cleanmail"}); en.Result != gen.HealthCheckResultOK {
			t.Errorf("oidc:\n%s", entryText(en))
		}
		if en := auth("oidc", map[string]any{"issuerUri": srv.URL + "/nobody"}); en.Result != gen.HealthCheckResultERROR || !strings.Contains(entryText(en), "404") {
			t.Errorf("oidc without a document:\n%s", entryText(en))
		}
		if en := auth("entra", map[string]any{"tenantId": "stark-tenant"}); en.Result != gen.HealthCheckResultOK ||
			!strings.Contains(entryText(en), "/stark-tenant/v2.0/.well-known/openid-configuration") {
			t.Errorf("entra:\n%s", entryText(en))
		}
		if en := auth("entra", map[string]any{}); en.Result != gen.HealthCheckResultNOTCHECKED {
			t.Errorf("entra without a tenant:\n%s", entryText(en))
		}
	})
}
