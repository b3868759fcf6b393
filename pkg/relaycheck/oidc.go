package relaycheck

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// EntraAuthority is where Microsoft Entra ID publishes its tenants'
// OpenID configurations (Options.EntraAuthority overrides it, for tests).
const EntraAuthority = "https://login.microsoftonline.com"

// OIDC checks an OpenID Connect provider: its discovery document at
// <issuer>/.well-known/openid-configuration, fetched over HTTPS from the
// vetted address of the issuer's host (the target guard applies), must
// name the same issuer and its authorization, token and key endpoints.
func (c *Checker) OIDC(ctx context.Context, typ, what, issuer string) Entry {
	issuer = strings.TrimSuffix(issuer, "/")
	r := newReport(typ, fmt.Sprintf("Check of the %s %s", what, issuer))
	u, err := url.Parse(issuer)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return r.fail(fmt.Sprintf("the issuer %q is not an https URL", issuer))
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout())
	defer cancel()
	host := u.Hostname()
	port := 443
	if p := u.Port(); p != "" {
		port, _ = strconv.Atoi(p)
	}
	ip, err := c.vet(ctx, host)
	if err != nil {
		return r.fail(c.failure(err, host))
	}
	client := &http.Client{
		Timeout: c.timeout(),
		Transport: &http.Transport{
			// Only the vetted address: no second lookup, whatever the URL.
			DialContext:       func(ctx context.Context, _, _ string) (net.Conn, error) { return c.dial(ctx, ip, port) },
			TLSClientConfig:   &tls.Config{RootCAs: c.opts.RootCAs, ServerName: host, MinVersion: tls.VersionTLS12},
			DisableKeepAlives: true,
		},
		// A redirect could lead anywhere the guard has not seen.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	doc := issuer + "/.well-known/openid-configuration"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, doc, nil)
	if err != nil {
		return r.fail(err.Error())
	}
	start := time.Now()
	res, err := client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return r.fail("timed out after " + c.timeout().String() + " at " + hostPort(ip.String(), port))
		}
		return r.fail(c.failure(err, hostPort(ip.String(), port)))
	}
	defer res.Body.Close()
	r.line(fmt.Sprintf("GET %s (%s): %s", doc, since(start), res.Status))
	if res.StatusCode != http.StatusOK {
		return r.fail("the discovery document answered " + res.Status)
	}
	var conf struct {
		Issuer        string `json:"issuer"`
		Authorization string `json:"authorization_endpoint"`
		Token         string `json:"token_endpoint"`
		JWKS          string `json:"jwks_uri"`
	}
	if err := json.NewDecoder(io.LimitReader(res.Body, 1<<20)).Decode(&conf); err != nil {
		return r.fail("the discovery document is not JSON: " + err.Error())
	}
	switch {
	case strings.TrimSuffix(conf.Issuer, "/") != issuer:
		return r.fail(fmt.Sprintf("the discovery document names the issuer %q", conf.Issuer))
	case conf.Authorization == "" || conf.Token == "" || conf.JWKS == "":
		return r.fail("the discovery document lacks the authorization, token or key (jwks_uri) endpoint")
	}
	r.line("issuer " + conf.Issuer + ", keys at " + conf.JWKS)
	return r.pass()
}

// Entra checks a Microsoft Entra ID tenant: the OpenID provider of
// <EntraAuthority>/<tenant>/v2.0.
func (c *Checker) Entra(ctx context.Context, typ, tenant string) Entry {
	base := c.opts.EntraAuthority
	if base == "" {
		base = EntraAuthority
	}
	if tenant == "" || strings.ContainsAny(tenant, "/?#@ ") {
		return newReport(typ, "Check of the entra authentication provider").fail(fmt.Sprintf("the tenant %q is not a tenant id or name", tenant))
	}
	return c.OIDC(ctx, typ, "entra authentication provider", strings.TrimSuffix(base, "/")+"/"+tenant+"/v2.0")
}
