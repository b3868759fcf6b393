package relaycheck

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// LDAPTarget is a directory an authentication provider binds to (authType
// ldap, the doc's AuthLdapSettings).
type LDAPTarget struct {
	Host string
	Port int  // 636 with TLS, else 389, when 0
	TLS  bool // LDAPS (use_ssl)
	// CertPEM, when set, are the roots that verify the server's
	// certificate instead of the options' (cert_pem).
	CertPEM string
	// BindUser and BindPassword, when BindUser is set, are the simple
	// bind tried (bind_user, bind_password); a password is sent only over
	// TLS, or in clear to loopback. Without them nothing is bound and the
	// searches run anonymously.
	BindUser, BindPassword string
	// BaseDN, when set, must exist (base_dn); MailAttribute, when set
	// with it, must be held by at least one entry below it
	// (mail_attribute): the provider finds its users by that attribute.
	BaseDN, MailAttribute string
}

// LDAP connects to t (vetted like every target), binds as its bind user,
// reads its base DN and looks for one entry below it that has its mail
// attribute. Nothing is written.
func (c *Checker) LDAP(ctx context.Context, typ string, t LDAPTarget) Entry {
	ss, failed := c.start(ctx, typ, server{kind: "LDAP", host: t.Host, port: t.Port, plainPort: 389, tlsPort: 636, tls: t.TLS, certPEM: t.CertPEM})
	if failed != nil {
		return *failed
	}
	defer ss.close()
	r, conn, ip := ss.r, ss.conn, ss.ip
	client := ldap.NewConn(conn, t.TLS)
	// Longer than the context, whose end closes the connection: a reply
	// that never comes is reported as the check's time out.
	client.SetTimeout(2 * c.timeout())
	client.Start()
	defer client.Close()

	if t.BindUser == "" {
		r.line("No bind tried: the settings name no bind_user")
	} else {
		if !t.TLS && !ip.IsLoopback() {
			return r.fail("refusing to send the bind password unencrypted (set use_ssl)")
		}
		start := time.Now()
		if err := client.Bind(t.BindUser, t.BindPassword); err != nil {
			return r.fail(fmt.Sprintf("bind as %s refused: %s", t.BindUser, ldapFailure(ss, err)))
		}
		r.line(fmt.Sprintf("Bind as %s (%s): OK", t.BindUser, since(start)))
	}
	if t.BaseDN == "" {
		r.line("No search tried: the settings name no base_dn")
		return r.pass()
	}
	start := time.Now()
	_, err := client.Search(ldap.NewSearchRequest(t.BaseDN, ldap.ScopeBaseObject, ldap.NeverDerefAliases,
		1, int(c.timeout()/time.Second), false, "(objectClass=*)", []string{"1.1"}, nil))
	if err != nil {
		return r.fail(fmt.Sprintf("base_dn %s: %s", t.BaseDN, ldapFailure(ss, err)))
	}
	r.line(fmt.Sprintf("Base DN %s found (%s)", t.BaseDN, since(start)))
	if t.MailAttribute == "" {
		return r.pass()
	}
	start = time.Now()
	filter := "(" + ldap.EscapeFilter(t.MailAttribute) + "=*)"
	res, err := client.Search(ldap.NewSearchRequest(t.BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
		1, int(c.timeout()/time.Second), false, filter, []string{t.MailAttribute}, nil))
	// One entry asked for, more there: the server says so with a size
	// limit exceeded, after the entry.
	if err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) {
		return r.fail(fmt.Sprintf("search %s under %s: %s", filter, t.BaseDN, ldapFailure(ss, err)))
	}
	if res == nil || len(res.Entries) == 0 {
		return r.fail(fmt.Sprintf("no entry under %s has a %s attribute: the provider would find no user", t.BaseDN, t.MailAttribute))
	}
	e := res.Entries[0]
	r.line(fmt.Sprintf("Search %s (%s): %s has %s %s", filter, since(start), e.DN, t.MailAttribute, e.GetAttributeValue(t.MailAttribute)))
	return r.pass()
}

// ldapFailure words an LDAP error: the server's result ("Invalid
// Credentials", "No Such Object") and its message, or why the connection
// failed (a time out included: probe.failure).
func ldapFailure(ss *probe, err error) string {
	var le *ldap.Error
	if errors.As(err, &le) && le.ResultCode < ldap.ErrorNetwork {
		msg := ldap.LDAPResultCodeMap[le.ResultCode]
		if le.Err != nil && le.Err.Error() != "" {
			msg += ": " + le.Err.Error()
		}
		return fmt.Sprintf("%s (%d)", msg, le.ResultCode)
	}
	return ss.failure(err)
}
