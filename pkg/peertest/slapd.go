package peertest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cleanmail/cleanmail/pkg/loopback"
)

// The Debian binaries a slapd needs (package slapd), and the schemas and
// backend it loads come with them.
var slapdBinaries = []string{"/usr/sbin/slapd", "/usr/sbin/slapadd"}

// Slapd is a running OpenLDAP slapd of one test: one database under
// Suffix, filled from the test's entries, on a plain and an LDAPS port.
type Slapd struct {
	// Addr answers plain LDAP, TLSAddr LDAPS (127.0.0.1:port), with a
	// certificate for 127.0.0.1 and localhost that CertPEM alone trusts.
	Addr, TLSAddr string
	CertPEM       string
	// RootDN and RootPassword bind as the database's administrator.
	RootDN, RootPassword string
}

// StartSlapd starts a slapd with a private configuration in a temporary
// directory: the core, cosine and inetorgperson schemas, one mdb database
// whose suffix is suffix (e.g. "dc=example,dc=org"), loaded with ldif (the
// entries, the suffix's own first) by slapadd before it starts. Anonymous
// reads are allowed, as slapd's default; it stops when the test ends.
func StartSlapd(t testing.TB, suffix, ldif string) *Slapd {
	t.Helper()
	need(t, "slapd", "slapd", slapdBinaries...)
	dir := privateDir(t)
	db := filepath.Join(dir, "db")
	if err := os.Mkdir(db, 0o700); err != nil {
		t.Fatal(err)
	}
	srv, _, err := loopback.SelfSigned()
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := loopback.PEM(srv.Certificates[0])
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	s := &Slapd{CertPEM: string(certPEM), RootDN: "cn=admin," + suffix, RootPassword: "slapd-root-secret"}
	conf := fmt.Sprintf(`include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile %q
argsfile %q
TLSCertificateFile %q
TLSCertificateKeyFile %q
database mdb
maxsize 16777216
suffix %q
rootdn %q
rootpw %q
directory %q
`, filepath.Join(dir, "slapd.pid"), filepath.Join(dir, "slapd.args"), certFile, keyFile, suffix, s.RootDN, s.RootPassword, db)
	path := filepath.Join(dir, "slapd.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data.ldif")
	if err := os.WriteFile(data, []byte(ldif), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := run(nil, "/usr/sbin/slapadd", "-f", path, "-l", data); err != nil {
		t.Fatalf("slapadd: %v\n%s\n%s", err, out, ldif)
	}
	for attempt := 0; ; attempt++ {
		plain, tls := freePort(t), freePort(t)
		s.Addr, s.TLSAddr = fmt.Sprintf("127.0.0.1:%d", plain), fmt.Sprintf("127.0.0.1:%d", tls)
		// -d 0: in the foreground, our child, logging nothing but errors.
		d := startDaemon(t, "slapd", filepath.Join(dir, "slapd.out"), "/usr/sbin/slapd", "-d", "0", "-f", path,
			"-h", strings.Join([]string{"ldap://" + s.Addr + "/", "ldaps://" + s.TLSAddr + "/"}, " "))
		if err := d.waitPorts(s.Addr, s.TLSAddr); err != nil {
			d.stop(t, nil)
			if d.addrInUse() && attempt < 3 {
				continue
			}
			t.Fatalf("slapd: %v\n%s", err, d.logTail())
		}
		t.Cleanup(func() { d.stop(t, nil) })
		return s
	}
}
