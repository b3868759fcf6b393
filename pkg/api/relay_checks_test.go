package api_test

import (
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cleanmail/cleanmail/gen"
	"github.com/cleanmail/cleanmail/pkg/api"
	"github.com/cleanmail/cleanmail/pkg/remediate/remediatetest"
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

// TestTryRelayExchangeAndO365: the API entry of an EXCHANGE and an O365
// remediation API, checked against remediatetest's fakes of EWS and of
// Entra ID with Graph: with the right settings and a testAccount, OK,
// having signed in and searched that mailbox, which keeps its mail; a
// wrong password or client secret, or a testAccount the platform does
// not have, an ERROR naming the cause, with no secret in the report;
// without a testAccount, NOT_CHECKED, nothing tried.
func TestTryRelayExchangeAndO365(t *testing.T) {
	t.Parallel()
	forEachDBWith(t, withPlatformAPIs(t), func(t *testing.T, e *env) {
		p := e.platformAPIs()
		p.ews.Add("ned@stark.net", "Inbox", mail("jon@stark.net", "ned@stark.net", "Winter", "winter@x", "coming"))
		p.graph.Add("tyrion@lannister.net", "inbox", mail("jaime@lannister.net", "tyrion@lannister.net", "Debts", "debts@x", "paid"))
		host, port := hostPortOf(t, e.smtp.Addr())
		check := func(apiType string, apiData map[string]any) gen.HealthRecord {
			t.Helper()
			var rec gen.HealthRecord
			e.do(req{Method: "POST", Path: "/health/try-relay", Body: map[string]any{
				"transportDest": host, "transportPort": port, "transportType": "SMTP", "authType": "local",
				"apiType": apiType, "apiData": apiData,
			}}).expect(200).decode(&rec)
			if len(rec.Entries) != 2 || rec.Entries[0].Result != gen.HealthCheckResultOK || rec.Entries[1].Type != "API" {
				t.Fatalf("want the SMTP entry OK and an API entry: %+v", rec)
			}
			if rec.Status != (rec.Entries[1].Result != gen.HealthCheckResultERROR) {
				t.Errorf("status %v with the API entry %s", rec.Status, rec.Entries[1].Result)
			}
			return rec
		}
		ews := p.ews.Target()
		graph := p.graph.Target()
		for _, c := range []struct {
			name, apiType string
			apiData       map[string]any
			result        gen.HealthCheckResult
			want          []string
		}{
			{"EWS", "EXCHANGE", p.ewsData(map[string]any{"testAccount": "ned@stark.net"}), gen.HealthCheckResultOK, []string{
				fmt.Sprintf("Check of the EXCHANGE remediation API at 127.0.0.1 port %d", ews.Port),
				"Signed in and searched the mailbox ned@stark.net (", "nothing was removed", "Passed"}},
			{"EWS, a wrong password", "EXCHANGE", p.ewsData(map[string]any{"testAccount": "ned@stark.net", "password": "not-" + ews.Password}), gen.HealthCheckResultERROR, []string{
				"Fail: EWS at https://127.0.0.1:", `refused the login CORP\svc-remediate (401 Unauthorized): check the login and password`}},
			{"EWS, no such testAccount", "EXCHANGE", p.ewsData(map[string]any{"testAccount": "rickon@stark.net"}), gen.HealthCheckResultERROR, []string{
				"Fail: EWS FindFolder as CORP\\svc-remediate for rickon@stark.net: ErrorNonExistentMailbox"}},
			{"EWS, no testAccount", "EXCHANGE", p.ewsData(map[string]any{"password": "not-" + ews.Password}), gen.HealthCheckResultNOTCHECKED, []string{
				"apiData names no testAccount"}},
			{"Graph", "O365", p.graphData(map[string]any{"testAccount": "tyrion@lannister.net"}), gen.HealthCheckResultOK, []string{
				"Check of the O365 remediation API of the tenant " + graph.TenantID,
				"Signed in and searched the mailbox tyrion@lannister.net (", "Passed"}},
			{"Graph, a wrong secret", "O365", p.graphData(map[string]any{"testAccount": "tyrion@lannister.net", "clientSecret": "not-" + graph.ClientSecret}), gen.HealthCheckResultERROR, []string{
				"Fail: the token endpoint " + p.graph.URL() + "/" + graph.TenantID + "/oauth2/v2.0/token refused the application " + graph.ClientID +
					" (401 Unauthorized): invalid_client: AADSTS7000215: Invalid client secret provided."}},
			{"Graph, a token endpoint quoting the secret", "O365", p.graphData(map[string]any{"testAccount": "tyrion@lannister.net", "tenantId": remediatetest.EchoTenant}), gen.HealthCheckResultERROR, []string{
				"bad secret [redacted]"}},
			{"Graph, no such testAccount", "O365", p.graphData(map[string]any{"testAccount": "joffrey@lannister.net"}), gen.HealthCheckResultERROR, []string{
				"404 Not Found to GET /v1.0/users/joffrey@lannister.net/messages: ErrorInvalidUser"}},
			{"Graph, no testAccount", "O365", p.graphData(map[string]any{"clientSecret": "not-" + graph.ClientSecret}), gen.HealthCheckResultNOTCHECKED, []string{
				"apiData names no testAccount"}},
		} {
			issued, searched := p.graph.Issued(), len(p.ews.Searched())
			en := check(c.apiType, c.apiData).Entries[1]
			text := entryText(en)
			if en.Result != c.result {
				t.Errorf("%s: %s, want %s:\n%s", c.name, en.Result, c.result, text)
			}
			for _, w := range c.want {
				if !strings.Contains(text, w) {
					t.Errorf("%s: no %q in:\n%s", c.name, w, text)
				}
			}
			for _, secret := range []string{ews.Password, graph.ClientSecret} {
				if strings.Contains(text, secret) {
					t.Errorf("%s: a secret in the report:\n%s", c.name, text)
				}
			}
			if c.result == gen.HealthCheckResultNOTCHECKED && (p.graph.Issued() != issued || len(p.ews.Searched()) != searched) {
				t.Errorf("%s: not checked, yet a token was asked for or a folder searched", c.name)
			}
		}
		if got := fmt.Sprint(p.ews.Left("ned@stark.net"), p.graph.Left("tyrion@lannister.net")); got != "map[Inbox:[<winter@x>]] map[inbox:[<debts@x>]]" {
			t.Errorf("the test accounts' mailboxes after the checks: %s", got)
		}
		if searched := p.ews.Searched(); !slices.Contains(searched, "Inbox") {
			t.Errorf("EWS searched %v: the check did not search the test account's Inbox", searched)
		}
		e.do(req{Method: "POST", Path: "/health/try-relay", Body: map[string]any{
			"transportDest": host, "transportPort": port, "authType": "local", "apiType": "EXCHANGE",
			"apiData": p.ewsData(map[string]any{"testAccount": "ned@stark.net", "port": 70000}),
		}}).problem(400, "body.apiData.port")
	})
}
