package remediate

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestIMAPLogin(t *testing.T) {
	for _, c := range []struct{ login, mailbox, want, err string }{
		{"master", "alice@example.net", "alice@example.net*master", ""},
		{"admin@example.net", "alice@example.net", "alice@example.net*admin@example.net", ""},
		{"*master", "alice@example.net", "alice@example.net*master", ""},
		{"admin@example.net*master", "alice@example.net", "alice@example.net*master", ""},
		{"alice@example.net*master", "alice@example.net", "alice@example.net*master", ""},
		{"Alice@Example.net", "alice@example.net", "Alice@Example.net", ""},
		{"admin*", "alice@example.net", "", "names no master user"},
		{"", "alice@example.net", "", "no login"},
	} {
		got, err := imapLogin(c.login, c.mailbox)
		if got != c.want || (err == nil) != (c.err == "") || err != nil && !strings.Contains(err.Error(), c.err) {
			t.Errorf("imapLogin(%q, %q) = %q, %v; want %q, %q", c.login, c.mailbox, got, err, c.want, c.err)
		}
	}
}

func TestMessageIDs(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"<abc@x.example>", "abc@x.example"},
		{"abc@x.example", "abc@x.example"},
		{"  <abc@x.example> ", "abc@x.example"},
		{"<>", ""},
		{"", ""},
		{"abc\r\nBcc: x@y", ""},
		{"<a<b@x>", ""},
	} {
		got, err := bareID(c.in)
		if got != c.want || (err == nil) != (c.want != "") {
			t.Errorf("bareID(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	for _, c := range []struct {
		stored string
		same   bool
	}{
		{"<abc@x.example>", true},
		{" <abc@x.example>\r\n", true},
		{"abc@x.example", true},
		{"<abc@x.example.org>", false},
		{"<xabc@x.example>", false},
		{"<ABC@x.example>", false},
		{"", false},
	} {
		if got := sameID(c.stored, "abc@x.example"); got != c.same {
			t.Errorf("sameID(%q) = %t, want %t", c.stored, got, c.same)
		}
	}
}

func TestEWSURL(t *testing.T) {
	for _, c := range []struct {
		host string
		port int
		want string
	}{
		{"mail.example.net", 0, "https://mail.example.net/EWS/Exchange.asmx"},
		{"mail.example.net", 443, "https://mail.example.net/EWS/Exchange.asmx"},
		{"mail.example.net", 8443, "https://mail.example.net:8443/EWS/Exchange.asmx"},
		{"2001:db8::25", 0, "https://[2001:db8::25]:443/EWS/Exchange.asmx"},
		{"https://mail.example.net", 0, ""},
		{"mail.example.net/owa", 0, ""},
		{"user@mail.example.net", 0, ""},
		{"", 0, ""},
	} {
		got, err := ewsURL(c.host, c.port)
		if got != c.want || (err == nil) != (c.want != "") {
			t.Errorf("ewsURL(%q, %d) = %q, %v; want %q", c.host, c.port, got, err, c.want)
		}
	}
}

func TestRemediateRefusesBadInput(t *testing.T) {
	r := New(Options{})
	ok := Target{Type: TypeIMAP, Host: "192.0.2.1", TLS: true, Login: "master", Password: "pw"}
	for _, c := range []struct {
		name        string
		t           Target
		mailbox, id string
		action      Action
		want        string
	}{
		{"an id that is none", ok, "alice@example.net", "<>", Delete, "is not a Message-ID"},
		{"an unknown action", ok, "alice@example.net", "a@b", "MOVE", "neither DELETE nor QUARANTINE"},
		{"no mailbox", ok, "", "a@b", Delete, "is not an address"},
		{"an unknown type", Target{Type: "POP3"}, "alice@example.net", "a@b", Delete, `"POP3" is not IMAP, EXCHANGE or O365`},
		{"a tenant with a path", Target{Type: TypeO365, TenantID: "a/b", ClientID: "c", ClientSecret: "s"}, "alice@example.net", "a@b", Delete, "not a tenant"},
		{"no client secret", Target{Type: TypeO365, TenantID: "t", ClientID: "c"}, "alice@example.net", "a@b", Delete, "clientSecret"},
		{"no EWS login", Target{Type: TypeExchange, Host: "mail.example.net"}, "alice@example.net", "a@b", Delete, "no login"},
	} {
		res, err := r.Remediate(context.Background(), c.t, c.mailbox, c.id, c.action)
		if err == nil || !strings.Contains(err.Error(), c.want) || len(res.Found) != 0 {
			t.Errorf("%s: %v; want an error with %q", c.name, err, c.want)
		}
	}
}

func TestRedact(t *testing.T) {
	cause := errors.New("server said: bad password hunter2, try again")
	if got := redact(cause, "hunter2", ""); got.Error() != "server said: bad password [redacted], try again" {
		t.Errorf("redact: %q", got)
	}
	if got := redact(cause, "other"); got != cause {
		t.Errorf("redact without a secret in the text: %v, want the error itself", got)
	}
	if got := redact(cause, "a"); got != cause {
		t.Errorf("redact of a one-letter secret: %v, want the error itself", got)
	}
	if redact(nil, "x") != nil {
		t.Error("redact(nil) is not nil")
	}
}
