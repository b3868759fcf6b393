package relaycheck

import (
	"context"
	"crypto/tls"
	"encoding/pem"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/jimlambrt/gldap"

	"github.com/cleanmail/cleanmail/pkg/peertest"
)

// directory is an in-process LDAP server (gldap) for the tests: simple
// binds against a table of passwords, and searches of base scope (the
// entry itself) and subtree scope with a presence filter "(attr=*)" or
// "(objectClass=*)" over a table of entries.
type directory struct {
	passwords map[string]string
	entries   map[string]map[string][]string // DN → attribute → values
	binds     atomic.Int32
}

func (d *directory) bind(w *gldap.ResponseWriter, r *gldap.Request) {
	res := r.NewBindResponse(gldap.WithResponseCode(gldap.ResultInvalidCredentials))
	defer func() { _ = w.Write(res) }()
	m, err := r.GetSimpleBindMessage()
	if err != nil {
		return
	}
	d.binds.Add(1)
	if pw, ok := d.passwords[m.UserName]; ok && pw == string(m.Password) {
		res.SetResultCode(gldap.ResultSuccess)
	}
}

func (d *directory) search(w *gldap.ResponseWriter, r *gldap.Request) {
	res := r.NewSearchDoneResponse(gldap.WithResponseCode(gldap.ResultNoSuchObject))
	defer func() { _ = w.Write(res) }()
	m, err := r.GetSearchMessage()
	if err != nil {
		return
	}
	base := strings.ToLower(m.BaseDN)
	if _, ok := d.entries[base]; !ok {
		return
	}
	attr, ok := strings.CutSuffix(strings.TrimPrefix(m.Filter, "("), "=*)")
	if !ok {
		res.SetResultCode(gldap.ResultUnwillingToPerform)
		return
	}
	sent := int64(0)
	for dn, attrs := range d.entries {
		if m.Scope == gldap.BaseObject && dn != base || !strings.HasSuffix(dn, base) {
			continue
		}
		if _, has := attrs[attr]; !has && !strings.EqualFold(attr, "objectClass") {
			continue
		}
		if m.SizeLimit > 0 && sent == m.SizeLimit {
			res.SetResultCode(gldap.ResultSizeLimitExceeded)
			return
		}
		e := r.NewSearchResponseEntry(dn)
		for a, v := range attrs {
			e.AddAttribute(a, v)
		}
		_ = w.Write(e)
		sent++
	}
	res.SetResultCode(gldap.ResultSuccess)
}

// startDirectory runs d on a free loopback port, over LDAPS when tc is set.
func startDirectory(t *testing.T, d *directory, tc *tls.Config) Target {
	t.Helper()
	srv, err := gldap.NewServer(gldap.WithLogger(hclog.NewNullLogger()))
	if err != nil {
		t.Fatal(err)
	}
	mux, err := gldap.NewMux()
	if err != nil {
		t.Fatal(err)
	}
	if err := mux.Bind(d.bind); err != nil {
		t.Fatal(err)
	}
	if err := mux.Search(d.search); err != nil {
		t.Fatal(err)
	}
	if err := srv.Router(mux); err != nil {
		t.Fatal(err)
	}
	// gldap listens on the address it is given and does not tell the
	// port of ":0": take a free one.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	var opts []gldap.Option
	if tc != nil {
		opts = append(opts, gldap.WithTLSConfig(tc))
	}
	go func() { _ = srv.Run(addr, opts...) }()
	t.Cleanup(func() { _ = srv.Stop() })
	for deadline := time.Now().Add(5 * time.Second); ; {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the test directory does not listen on %s", addr)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return target(t, addr)
}

func testDirectory() *directory {
	return &directory{
		passwords: map[string]string{"cn=reader,dc=stark,dc=net": "winter"},
		entries: map[string]map[string][]string{
			"dc=stark,dc=net":                   {"dc": {"stark"}},
			"ou=people,dc=stark,dc=net":         {"ou": {"people"}},
			"uid=ned,ou=people,dc=stark,dc=net": {"uid": {"ned"}, "mail": {"ned@stark.net"}},
		},
	}
}

func TestLDAP(t *testing.T) {
	d := testDirectory()
	tg := startDirectory(t, d, nil)
	checker := New(allowed)
	in := LDAPTarget{Host: tg.Host, Port: tg.Port, BindUser: "cn=reader,dc=stark,dc=net", BindPassword: "winter",
		BaseDN: "ou=people,dc=stark,dc=net", MailAttribute: "mail"}
	wantResult(t, checker.LDAP(context.Background(), TypeAuth, in), OK,
		"Check of the LDAP server 127.0.0.1:", "(plain)", "Bind as cn=reader,dc=stark,dc=net (",
		"Base DN ou=people,dc=stark,dc=net found (", "Search (mail=*) (", "uid=ned,ou=people,dc=stark,dc=net has mail ned@stark.net")
	if d.binds.Load() != 1 {
		t.Errorf("%d binds, want 1", d.binds.Load())
	}

	wrong := in
	wrong.BindPassword = "summer"
	wantResult(t, checker.LDAP(context.Background(), TypeAuth, wrong), Error,
		"Fail: bind as cn=reader,dc=stark,dc=net refused: Invalid Credentials (49)")
	noBase := in
	noBase.BaseDN = "ou=ghosts,dc=stark,dc=net"
	wantResult(t, checker.LDAP(context.Background(), TypeAuth, noBase), Error,
		"Fail: base_dn ou=ghosts,dc=stark,dc=net: No Such Object (32)")
	noMail := in
	noMail.MailAttribute = "otherMailbox"
	wantResult(t, checker.LDAP(context.Background(), TypeAuth, noMail), Error,
		"Fail: no entry under ou=people,dc=stark,dc=net has a otherMailbox attribute")
	// More than one entry has it: the size limit of one is exceeded,
	// which is a success.
	many := in
	many.BaseDN, many.MailAttribute = "dc=stark,dc=net", "objectClass"
	wantResult(t, checker.LDAP(context.Background(), TypeAuth, many), OK, "Search (objectClass=*)")
	anonymous := LDAPTarget{Host: tg.Host, Port: tg.Port}
	wantResult(t, checker.LDAP(context.Background(), TypeAuth, anonymous), OK,
		"No bind tried: the settings name no bind_user", "No search tried: the settings name no base_dn")

	silent, _ := counting(t)
	quick := New(Options{AllowPrivate: true, Timeout: 200 * time.Millisecond})
	begin := time.Now()
	wantResult(t, quick.LDAP(context.Background(), TypeAuth, LDAPTarget{Host: silent.Host, Port: silent.Port, BindUser: "x", BindPassword: "y"}), Error, "timed out")
	if took := time.Since(begin); took > 2*time.Second {
		t.Errorf("a silent directory held the check %v", took)
	}
	wantResult(t, New(Options{}).LDAP(context.Background(), TypeAuth, LDAPTarget{Host: "127.0.0.1", Port: tg.Port}), Error, "refused")
}

func TestLDAPS(t *testing.T) {
	server, roots := certs(t)
	tg := startDirectory(t, testDirectory(), server)
	in := LDAPTarget{Host: tg.Host, Port: tg.Port, TLS: true, BindUser: "cn=reader,dc=stark,dc=net", BindPassword: "winter",
		BaseDN: "dc=stark,dc=net", MailAttribute: "mail"}
	wantResult(t, New(Options{AllowPrivate: true, RootCAs: roots}).LDAP(context.Background(), TypeAuth, in), OK,
		"(TLS)", "certificate for 127.0.0.1 verified", "Bind as cn=reader")
	// Untrusted: the system roots do not know it.
	wantResult(t, New(allowed).LDAP(context.Background(), TypeAuth, in), Error, "Fail: TLS handshake with")
	// cert_pem trusts it instead of the options' roots.
	in.CertPEM = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: server.Certificates[0].Certificate[0]}))
	wantResult(t, New(allowed).LDAP(context.Background(), TypeAuth, in), OK, "verified")
	in.CertPEM = "not a certificate"
	wantResult(t, New(allowed).LDAP(context.Background(), TypeAuth, in), Error, "Fail: the certificate (cert_pem) is not PEM")
}

// TestLDAPAgainstSlapd binds to a real OpenLDAP (pkg/peertest), over
// plain LDAP and LDAPS.
func TestLDAPAgainstSlapd(t *testing.T) {
	s := peertest.StartSlapd(t, "dc=stark,dc=net", `dn: dc=stark,dc=net
objectClass: dcObject
objectClass: organization
o: Stark
dc: stark

dn: ou=people,dc=stark,dc=net
objectClass: organizationalUnit
ou: people

dn: uid=ned,ou=people,dc=stark,dc=net
objectClass: inetOrgPerson
uid: ned
cn: Ned
sn: Stark
mail: ned@stark.net
userPassword: winter
`)
	checker := New(allowed)
	plain := target(t, s.Addr)
	in := LDAPTarget{Host: plain.Host, Port: plain.Port, BindUser: "uid=ned,ou=people,dc=stark,dc=net", BindPassword: "winter",
		BaseDN: "ou=people,dc=stark,dc=net", MailAttribute: "mail"}
	wantResult(t, checker.LDAP(context.Background(), TypeAuth, in), OK,
		"Bind as uid=ned,ou=people,dc=stark,dc=net (", "Base DN ou=people,dc=stark,dc=net found", "has mail ned@stark.net")
	wrong := in
	wrong.BindPassword = "summer"
	wantResult(t, checker.LDAP(context.Background(), TypeAuth, wrong), Error, "refused: Invalid Credentials (49)")
	noBase := in
	noBase.BaseDN = "ou=ghosts,dc=stark,dc=net"
	wantResult(t, checker.LDAP(context.Background(), TypeAuth, noBase), Error, "No Such Object (32)")
	noMail := in
	noMail.MailAttribute = "otherMailbox"
	wantResult(t, checker.LDAP(context.Background(), TypeAuth, noMail), Error, "has a otherMailbox attribute")

	tlsAddr := target(t, s.TLSAddr)
	secure := in
	secure.Port, secure.TLS, secure.CertPEM = tlsAddr.Port, true, s.CertPEM
	wantResult(t, checker.LDAP(context.Background(), TypeAuth, secure), OK, "(TLS)", "verified", fmt.Sprintf("Bind as %s", in.BindUser))
}
