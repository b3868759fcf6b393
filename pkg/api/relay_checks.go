package api

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"time"

	"github.com/cleanmail/cleanmail/gen"
	"github.com/cleanmail/cleanmail/pkg/fault"
	"github.com/cleanmail/cleanmail/pkg/names"
	"github.com/cleanmail/cleanmail/pkg/relaycheck"
	"github.com/cleanmail/cleanmail/pkg/remediate"
	"github.com/cleanmail/cleanmail/pkg/submit"
)

// Health: the checks of a platform's mail servers (pkg/relaycheck). The
// domain diagnostics (DNS, DKIM) and the stored results are to come.

// probeRecipient is RCPT TO of a probe without a test account: the
// postmaster (RFC 5321, 4.5.1: every server must accept it) of the relay's
// host, an address literal for an IP address (a bare <postmaster> is
// refused by servers that want a domain, go-smtp's among them).
func probeRecipient(host string) string {
	if ip, err := netip.ParseAddr(host); err == nil {
		if ip.Is6() {
			return "postmaster@[IPv6:" + ip.String() + "]"
		}
		return "postmaster@[" + ip.String() + "]"
	}
	return "postmaster@" + host
}

// TryRelayConfiguration checks a platform's configuration without saving
// anything: its transports over SMTP, its authentication provider and its
// remediation API. A server that fails is an ERROR entry of the report,
// never an error of the request.
func (s *Server) TryRelayConfiguration(ctx context.Context, req gen.TryRelayConfigurationRequestObject) (gen.TryRelayConfigurationResponseObject, error) {
	rec, err := s.relayReport(ctx, req.Body)
	if err != nil {
		return nil, err
	}
	return gen.TryRelayConfiguration200JSONResponse(rec), nil
}

// relayReport runs the relay checks of a platform's configuration b: its
// transports over SMTP, its authentication provider, its remediation API.
func (s *Server) relayReport(ctx context.Context, b *gen.RelayCheck) (gen.HealthRecord, error) {
	security := func(t *gen.TransportType, def submit.Security) submit.Security {
		if t == nil {
			return def
		}
		switch *t {
		case gen.TransportTypeSMTP:
			return submit.Plain
		case gen.TransportTypeSMTPSENCRYPT:
			return submit.StartTLS
		}
		return submit.StartTLSMay
	}
	main, err := checkTarget("body.transportDest", "body.transportPort", b.TransportDest, b.TransportPort)
	if err != nil {
		return gen.HealthRecord{}, err
	}
	main.Security = security(b.TransportType, submit.StartTLSMay)
	var fallback *relaycheck.Target
	if b.FallbackTransportDest != nil && *b.FallbackTransportDest != "" {
		port := b.TransportPort
		if b.FallbackTransportPort != nil {
			port = *b.FallbackTransportPort
		}
		f, err := checkTarget("body.fallbackTransportDest", "body.fallbackTransportPort", *b.FallbackTransportDest, port)
		if err != nil {
			return gen.HealthRecord{}, err
		}
		f.Security = security(b.FallbackTransportType, main.Security)
		fallback = &f
	}
	var api gen.RemediationApiSettings
	if b.ApiData.IsSpecified() && !b.ApiData.IsNull() {
		api = b.ApiData.MustGet()
	}
	rcpt := probeRecipient(main.Host)
	if api.TestAccount != nil && *api.TestAccount != "" {
		if rcpt, err = names.Mailbox(*api.TestAccount); err != nil {
			return gen.HealthRecord{}, fault.Invalidf("body.apiData.testAccount", "%q is not an e-mail address.", *api.TestAccount)
		}
	}
	entries := s.checks.Transports(ctx, main, fallback, rcpt)

	var auth gen.AuthSettings
	if b.AuthData != nil {
		auth = *b.AuthData
	}
	switch b.AuthType {
	case gen.AuthTypeImap:
		if auth.Host == nil || *auth.Host == "" {
			entries = append(entries, relaycheck.NotChecked(relaycheck.TypeAuth, "imap authentication provider", "authData names no host"))
			break
		}
		t, err := imapTarget("body.authData", auth.Host, auth.Port, auth.UseSsl)
		if err != nil {
			return gen.HealthRecord{}, err
		}
		t.CertPEM = deref(auth.CertPem, "")
		entries = append(entries, s.checks.IMAP(ctx, relaycheck.TypeAuth, t))
	case gen.AuthTypeOidc:
		if auth.IssuerUri == nil || *auth.IssuerUri == "" {
			entries = append(entries, relaycheck.NotChecked(relaycheck.TypeAuth, "oidc authentication provider", "authData names no issuerUri"))
			break
		}
		entries = append(entries, s.checks.OIDC(ctx, relaycheck.TypeAuth, "oidc authentication provider", *auth.IssuerUri))
	case gen.AuthTypeEntra:
		if auth.TenantId == nil || *auth.TenantId == "" {
			entries = append(entries, relaycheck.NotChecked(relaycheck.TypeAuth, "entra authentication provider", "authData names no tenantId"))
			break
		}
		entries = append(entries, s.checks.Entra(ctx, relaycheck.TypeAuth, *auth.TenantId))
	case gen.AuthTypeLdap:
		if auth.Host == nil || *auth.Host == "" {
			entries = append(entries, relaycheck.NotChecked(relaycheck.TypeAuth, "ldap authentication provider", "authData names no host"))
			break
		}
		// The same host, port and use_ssl as an IMAP provider's.
		t, err := imapTarget("body.authData", auth.Host, auth.Port, auth.UseSsl)
		if err != nil {
			return gen.HealthRecord{}, err
		}
		entries = append(entries, s.checks.LDAP(ctx, relaycheck.TypeAuth, relaycheck.LDAPTarget{
			Host: t.Host, Port: t.Port, TLS: t.TLS, CertPEM: deref(auth.CertPem, ""),
			BindUser: deref(auth.BindUser, ""), BindPassword: deref(auth.BindPassword, ""),
			BaseDN: deref(auth.BaseDn, ""), MailAttribute: deref(auth.MailAttribute, ""),
		}))
	}
	switch b.ApiType {
	case gen.ApiTypeIMAP:
		if api.Host == nil || *api.Host == "" {
			entries = append(entries, relaycheck.NotChecked(relaycheck.TypeAPI, "IMAP remediation API", "apiData names no host"))
			break
		}
		t, err := imapTarget("body.apiData", api.Host, api.Port, api.UseSsl)
		if err != nil {
			return gen.HealthRecord{}, err
		}
		t.Login, t.Password = deref(api.Login, ""), deref(api.Password, "")
		entries = append(entries, s.checks.IMAP(ctx, relaycheck.TypeAPI, t))
	case gen.ApiTypeEXCHANGE, gen.ApiTypeO365:
		if b.ApiType == gen.ApiTypeEXCHANGE && api.Port != nil && (*api.Port < 1 || *api.Port > 65535) {
			return gen.HealthRecord{}, fault.Invalidf("body.apiData.port", "The port %d is not between 1 and 65535.", *api.Port)
		}
		entries = append(entries, s.checkRemediationAPI(ctx, b.ApiType, api))
	}
	return healthRecord(entries), nil
}

// healthRecord is a report on the wire.
func healthRecord(entries []relaycheck.Entry) gen.HealthRecord {
	out := gen.HealthRecord{Status: relaycheck.Passed(entries), Entries: make([]gen.HealthResult, len(entries))}
	for i, e := range entries {
		out.Entries[i] = gen.HealthResult{Type: e.Type, Result: gen.HealthCheckResult(e.Result), Output: e.Output}
	}
	return out
}

// checkTarget is an SMTP server of the body: an IP address or a host
// name, and a port.
func checkTarget(hostField, portField, host string, port int32) (relaycheck.Target, error) {
	h, err := checkHost(hostField, host)
	if err != nil {
		return relaycheck.Target{}, err
	}
	if port < 1 || port > 65535 {
		return relaycheck.Target{}, fault.Invalidf(portField, "The port %d is not between 1 and 65535.", port)
	}
	return relaycheck.Target{Host: h, Port: int(port)}, nil
}

func checkHost(field, host string) (string, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		return ip.String(), nil
	}
	h, err := names.Host(host)
	if err != nil {
		return "", fault.Invalidf(field, "%q is neither an IP address nor a host name.", host)
	}
	return h, nil
}

// imapTarget is the IMAP server of settings (field: where they are),
// host set.
func imapTarget(field string, host *string, port *int32, useSSL *bool) (relaycheck.IMAPTarget, error) {
	h, err := checkHost(field+".host", *host)
	if err != nil {
		return relaycheck.IMAPTarget{}, err
	}
	t := relaycheck.IMAPTarget{Host: h, TLS: deref(useSSL, false)}
	if port != nil {
		if *port < 1 || *port > 65535 {
			return t, fault.Invalidf(field+".port", "The port %d is not between 1 and 65535.", *port)
		}
		t.Port = int(*port)
	}
	return t, nil
}

// checkRemediationAPI checks an EXCHANGE (EWS) or O365 (Microsoft Graph)
// remediation API the way remediation uses it: it signs in (Basic
// authentication; the application's client credentials) and searches the
// test account's mailbox for a Message-ID no message has, which finds
// nothing and removes nothing. Without a test account, nothing is tried.
func (s *Server) checkRemediationAPI(ctx context.Context, typ gen.ApiType, api gen.RemediationApiSettings) relaycheck.Entry {
	what := fmt.Sprintf("%s remediation API", typ)
	switch {
	case typ == gen.ApiTypeEXCHANGE && (api.Host == nil || *api.Host == ""):
		return relaycheck.NotChecked(relaycheck.TypeAPI, what, "apiData names no host")
	case typ == gen.ApiTypeO365 && (api.TenantId == nil || *api.TenantId == "" || api.ClientId == nil || *api.ClientId == ""):
		return relaycheck.NotChecked(relaycheck.TypeAPI, what, "apiData names no tenantId and clientId")
	case api.TestAccount == nil || *api.TestAccount == "":
		return relaycheck.NotChecked(relaycheck.TypeAPI, what, "apiData names no testAccount, whose mailbox the check would search")
	}
	t := apiTarget(typ, api)
	out := []string{"Check of the " + what}
	if typ == gen.ApiTypeEXCHANGE {
		out[0] += " at " + t.Host
		if t.Port != 0 {
			out[0] += " port " + strconv.Itoa(t.Port)
		}
	} else {
		out[0] += " of the tenant " + t.TenantID
	}
	start := time.Now()
	probe := fmt.Sprintf("<cleanmail-probe-%d@cleanmail.invalid>", start.UnixNano())
	_, err := s.remediator.Remediate(ctx, t, *api.TestAccount, probe, remediate.Delete)
	took := time.Since(start).Round(time.Millisecond)
	if err != nil {
		return relaycheck.Entry{Type: relaycheck.TypeAPI, Result: relaycheck.Error, Output: append(out, "Fail: "+err.Error())}
	}
	out = append(out, fmt.Sprintf("Signed in and searched the mailbox %s (%s): the API answers; nothing was removed", *api.TestAccount, took))
	return relaycheck.Entry{Type: relaycheck.TypeAPI, Result: relaycheck.OK, Output: append(out, "Passed")}
}
