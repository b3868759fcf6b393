package relaycheck

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// An OpenID provider on loopback (TLS, its certificate trusted through
// RootCAs) whose discovery document the test chooses.
func provider(t *testing.T, doc func(issuer string) any) (*httptest.Server, *x509.CertPool) {
	t.Helper()
	var srv *httptest.Server
	srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		issuer := srv.URL + strings.TrimSuffix(r.URL.Path, "/.well-known/openid-configuration")
		if !strings.HasSuffix(r.URL.Path, "/.well-known/openid-configuration") || strings.HasPrefix(r.URL.Path, "/nothing") {
			http.NotFound(w, r)
			return
		}
		_ = json.NewEncoder(w).Encode(doc(issuer))
	}))
	t.Cleanup(srv.Close)
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	return srv, pool
}

func TestOIDCDiscovery(t *testing.T) {
	good := func(issuer string) any {
		return map[string]string{"issuer": issuer, "authorization_endpoint": issuer + "/auth", "token_endpoint": issuer + "/token", "jwks_uri": issuer + "/keys"}
	}
	srv, roots := provider(t, good)
	c := New(Options{AllowPrivate: true, RootCAs: roots, Timeout: 2 * time.Second, EntraAuthority: srv.URL})
	ctx := context.Background()
	if e := c.OIDC(ctx, TypeAuth, "oidc authentication provider", srv.URL+"/realms/stark"); e.Result != "OK" {
		t.Errorf("a right provider: %+v", e)
	}
	if e := c.Entra(ctx, TypeAuth, "stark-tenant"); e.Result != "OK" || !strings.Contains(strings.Join(e.Output, "\n"), "/stark-tenant/v2.0/.well-known/openid-configuration") {
		t.Errorf("an entra tenant: %+v", e)
	}
	if e := c.Entra(ctx, TypeAuth, "a/b"); e.Result != "ERROR" {
		t.Errorf("a tenant with a slash: %+v", e)
	}
	// Another issuer named, endpoints missing, 404, plain HTTP, no trust,
	// and the guard.
	wrong, wroots := provider(t, func(string) any {
		return map[string]string{"issuer": "https://evil.example", "authorization_endpoint": "a", "token_endpoint": "t", "jwks_uri": "k"}
	})
	bare, broots := provider(t, func(issuer string) any { return map[string]string{"issuer": issuer} })
	for name, tc := range map[string]struct {
		c      *Checker
		issuer string
		want   string
	}{
		"issuer":    {New(Options{AllowPrivate: true, RootCAs: wroots, Timeout: 2 * time.Second}), wrong.URL, `names the issuer "https://evil.example"`},
		"endpoints": {New(Options{AllowPrivate: true, RootCAs: broots, Timeout: 2 * time.Second}), bare.URL, "lacks the authorization"},
		"404":       {c, srv.URL + "/nothing/here", "answered 404"},
		"http":      {c, strings.Replace(srv.URL, "https://", "http://", 1), "is not an https URL"},
		"untrusted": {New(Options{AllowPrivate: true, Timeout: 2 * time.Second}), srv.URL, "Fail"},
		"guard":     {New(Options{RootCAs: roots, Timeout: 2 * time.Second}), srv.URL, "Fail"},
	} {
		e := c.OIDC(ctx, TypeAuth, "oidc authentication provider", tc.issuer)
		if tc.c != c {
			e = tc.c.OIDC(ctx, TypeAuth, "oidc authentication provider", tc.issuer)
		}
		if e.Result != "ERROR" || !strings.Contains(strings.Join(e.Output, "\n"), tc.want) {
			t.Errorf("%s: %+v", name, e)
		}
	}
}
