package api_test

import (
	"strings"
	"testing"

	"github.com/cleanmail/cleanmail/gen"
	"github.com/cleanmail/cleanmail/pkg/peertest"
)

// TestTryRelayLDAPAgainstSlapd: a platform whose users sign in through
// LDAP (authType ldap) is checked by a bind to its directory, a real
// OpenLDAP here, over LDAPS with the platform's cert_pem, and fails on a
// wrong bind password or a base DN that does not exist.
func TestTryRelayLDAPAgainstSlapd(t *testing.T) {
	t.Parallel()
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
`)
	tlsHost, tlsPort := hostPortOf(t, s.TLSAddr)
	forEachDB(t, func(t *testing.T, e *env) {
		host, port := hostPortOf(t, e.smtp.Addr())
		try := func(bindPassword, baseDN string) gen.HealthResult {
			t.Helper()
			var rec gen.HealthRecord
			e.do(req{Method: "POST", Path: "/health/try-relay", Body: map[string]any{
				"transportDest": host, "transportPort": port, "authType": "ldap", "apiType": "IMAP",
				"authData": map[string]any{"host": tlsHost, "port": tlsPort, "use_ssl": true, "cert_pem": s.CertPEM,
					"bind_user": s.RootDN, "bind_password": bindPassword, "base_dn": baseDN, "mail_attribute": "mail"},
			}}).expect(200).decode(&rec)
			for _, en := range rec.Entries {
				if en.Type == "AUTH" {
					if (en.Result == gen.HealthCheckResultOK) != rec.Status {
						t.Errorf("status %v with the AUTH entry %s", rec.Status, en.Result)
					}
					return en
				}
			}
			t.Fatalf("no AUTH entry: %+v", rec)
			return gen.HealthResult{}
		}
		if en := try(s.RootPassword, "ou=people,dc=stark,dc=net"); en.Result != gen.HealthCheckResultOK ||
			!strings.Contains(entryText(en), "Bind as "+s.RootDN) || !strings.Contains(entryText(en), "has mail ned@stark.net") {
			t.Errorf("right settings:\n%s", entryText(en))
		}
		if en := try("wrong", "ou=people,dc=stark,dc=net"); en.Result != gen.HealthCheckResultERROR ||
			!strings.Contains(entryText(en), "Invalid Credentials (49)") {
			t.Errorf("wrong password:\n%s", entryText(en))
		}
		if en := try(s.RootPassword, "ou=ghosts,dc=stark,dc=net"); en.Result != gen.HealthCheckResultERROR ||
			!strings.Contains(entryText(en), "No Such Object (32)") {
			t.Errorf("no such base:\n%s", entryText(en))
		}
	})
}
