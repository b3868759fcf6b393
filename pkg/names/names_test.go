package names

import (
	"errors"
	"strings"
	"testing"
)

// label n is a label of n letters; name joins labels into a name of about
// n characters.
func label(n int) string { return strings.Repeat("a", n) }

// nameOf returns a name of exactly n characters (n ≥ 5), ending in ".com".
func nameOf(n int) string {
	var b strings.Builder
	for b.Len()+4 < n {
		room := n - 4 - b.Len()
		if b.Len() > 0 {
			room-- // the dot before the next label
			b.WriteByte('.')
		}
		b.WriteString(label(min(room, 63)))
	}
	return b.String() + ".com"
}

type nameCase struct {
	in, want string // want "": refused
}

// The cases every kind of name decides alike.
var commonNames = []nameCase{
	{"example.com", "example.com"},
	{"Example.COM", "example.com"},
	{" example.com\t", "example.com"},
	{"example.com.", "example.com"},
	{"mail.eu.example.co.uk", "mail.eu.example.co.uk"},
	{"a-b.example", "a-b.example"},
	{"0.example", "0.example"},
	{"r3---sn-abc.googlevideo.com", "r3---sn-abc.googlevideo.com"}, // hyphens at 3 and 4 in an ASCII label
	// IDN: mapped for lookup; an xn-- label decoded and checked.
	{"bücher.de", "xn--bcher-kva.de"},
	{"BÜCHER.DE", "xn--bcher-kva.de"},
	{"XN--BCHER-KVA.de", "xn--bcher-kva.de"},
	{"bücher。de", "xn--bcher-kva.de"}, // U+3002, an ideographic full stop
	{"ＥＸＡＭＰＬＥ．com", "example.com"},    // full-width letters and stop
	{"пример.рф", "xn--e1afmkfd.xn--p1ai"},
	{"مثال.example", "xn--mgbh0fb.example"},
	{"xn--abc.com", ""},        // not Punycode of a valid label
	{"xn--.com", ""},           // empty Punycode
	{"ab--ü.com", ""},          // a U-label with hyphens at 3 and 4
	{"a\u202eb.com", ""},       // right-to-left override
	{"שלום1a.com", ""},         // the Bidi rule: an RTL label ending in an L
	{"a⒈com", ""},              // U+2488 would make "a1.com": disallowed
	{"a\u00adb.com", "ab.com"}, // a soft hyphen is ignored, as UTS #46 says
	// Lengths: 63 a label, 253 a name.
	{label(63) + ".com", label(63) + ".com"},
	{label(64) + ".com", ""},
	{nameOf(253), nameOf(253)},
	{nameOf(253) + ".", nameOf(253)},
	{nameOf(254), ""},
	{strings.Repeat("ü", 64) + ".de", ""}, // too long once encoded
	{strings.Repeat("a.", 600) + "com", ""},
	{strings.Repeat("a", 1<<20), ""},
	// Structure.
	{"", ""},
	{" ", ""},
	{".", ""},
	{".example.com", ""},
	{"example..com", ""},
	{"example.com..", ""},
	{"-a.example", ""},
	{"a-.example", ""},
	{"a b.example", ""},
	{"a_b.example", ""},
	{"a*.example", ""},
	{"*.example.com", ""},
	{"a@b.example", ""},
	{"http://example.com", ""},
	{"example.com/x", ""},
	{"example.com:25", ""},
	{"[192.0.2.1]", ""},
	{"192.0.2.1", ""},
	{"192.0.2.1.", ""},
	{"::1", ""},
	{"2001:db8::1", ""},
	{"1.2.3", ""},
	{"example.123", ""},
	// Hostile input.
	{"exa\x00mple.com", ""},
	{"example.com\x00", ""},
	{"exa\xffmple.com", ""},
	{"exa\nmple.com", ""},
	{"😀.example", "xn--e28h.example"}, // UTS #46 maps emoji for lookup
	{"'; DROP TABLE domains; --.com", ""},
	{"%41.example", ""},
}

func TestDomain(t *testing.T) {
	cases := append([]nameCase{
		{"localhost", ""},
		{"com", ""},
		{"bücher", ""},
		{"_spf.example.com", ""},
	}, commonNames...)
	check(t, "Domain", Domain, cases)
}

func TestHost(t *testing.T) {
	cases := append([]nameCase{
		{"localhost", "localhost"},
		{"Cleanmail.", "cleanmail"},
		{"20230601", "20230601"}, // a DKIM selector may be all digits
		{"bücher", "xn--bcher-kva"},
		{label(63), label(63)},
		{label(64), ""},
		{"mx_1.cleanmail.tld", ""},
		{"_spf.example.com", ""},
	}, commonNames...)
	check(t, "Host", Host, cases)
}

func TestDNSName(t *testing.T) {
	cases := []nameCase{
		{"_spf.google.com", "_spf.google.com"},
		{"_SPF.Google.COM.", "_spf.google.com"},
		{"cleanmail._domainkey.example.com", "cleanmail._domainkey.example.com"},
		{"_25._tcp.mx.example.com", "_25._tcp.mx.example.com"},
		{"mx_1.example.com", "mx_1.example.com"},
		{"_spf.bücher.de", "_spf.xn--bcher-kva.de"},
		{"_spfü.example.com", ""}, // an underscore label is ASCII
		{"_spf", ""},
		{"_spf.-x.com", ""},
		{"spf.example.1", ""},
		{"_" + label(62) + ".com", "_" + label(62) + ".com"},
		{"_" + label(63) + ".com", ""},
	}
	for _, c := range commonNames {
		if c.in == "a_b.example" {
			c.want = "a_b.example"
		}
		cases = append(cases, c)
	}
	check(t, "DNSName", DNSName, cases)
}

func check(t *testing.T, fn string, canon func(string) (string, error), cases []nameCase) {
	t.Helper()
	for _, c := range cases {
		got, err := canon(c.in)
		switch {
		case c.want == "" && err == nil:
			t.Errorf("%s(%.90q) = %.90q, want refused", fn, c.in, got)
		case c.want != "" && err != nil:
			t.Errorf("%s(%.90q) refused (%v), want %.90q", fn, c.in, err, c.want)
		case got != c.want:
			t.Errorf("%s(%.90q) = %.90q, want %.90q", fn, c.in, got, c.want)
		case err != nil:
			checkError(t, fn, c.in, err)
		default:
			if again, err := canon(got); again != got || err != nil {
				t.Errorf("%s(%q) = %q, %v: a canonical form is its own", fn, got, again, err)
			}
		}
	}
}

// checkError checks that a refusal is an *Error whose message is short
// and printable whatever the input.
func checkError(t *testing.T, fn, in string, err error) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || e.Input != in || !strings.HasPrefix(err.Error(), `"`) || !strings.Contains(err.Error(), " is not a valid ") {
		t.Errorf("%s(%.90q): error %#v, want an *Error quoting its input", fn, in, err)
	}
	if msg := err.Error(); len(msg) > 500 || strings.ContainsAny(msg, "\x00\n\u202e") || !isValidText(msg) {
		t.Errorf("%s(%.90q): message %.500q: long or unprintable", fn, in, msg)
	}
}

func isValidText(s string) bool { return strings.ToValidUTF8(s, "?") == s }

func TestMailbox(t *testing.T) {
	local64 := label(64)
	for _, c := range []struct {
		in, mailbox, key, domain string // mailbox "": refused
	}{
		{"dany@targaryen.net", "dany@targaryen.net", "dany@targaryen.net", "targaryen.net"},
		{"Dany@TARGARYEN.Net", "Dany@targaryen.net", "dany@targaryen.net", "targaryen.net"},
		{" admin@targaryen.net\t", "admin@targaryen.net", "admin@targaryen.net", "targaryen.net"},
		{"admin@targaryen.net.", "admin@targaryen.net", "admin@targaryen.net", "targaryen.net"},
		{"admin@bücher.de", "admin@xn--bcher-kva.de", "admin@xn--bcher-kva.de", "xn--bcher-kva.de"},
		{"first.last+tag@example.com", "first.last+tag@example.com", "first.last+tag@example.com", "example.com"},
		{"!#$%&'*+-/=?^_`{|}~@example.com", "!#$%&'*+-/=?^_`{|}~@example.com", "!#$%&'*+-/=?^_`{|}~@example.com", "example.com"},
		// Lengths: 64 the local part, 254 the address.
		{local64 + "@example.com", local64 + "@example.com", local64 + "@example.com", "example.com"},
		{label(65) + "@example.com", "", "", ""},
		{local64 + "@" + nameOf(189), local64 + "@" + nameOf(189), local64 + "@" + nameOf(189), nameOf(189)}, // 254
		{local64 + "@" + nameOf(190), "", "", ""},
		{"a@" + nameOf(253), "", "", ""},
		// Refused forms.
		{"", "", "", ""},
		{"admin", "", "", ""},
		{"@example.com", "", "", ""},
		{"admin@", "", "", ""},
		{"admin@localhost", "", "", ""},
		{"admin@192.0.2.1", "", "", ""},
		{"admin@[192.0.2.1]", "", "", ""},
		{"admin@under_score.net", "", "", ""},
		{"a@b@example.com", "", "", ""},
		{".admin@example.com", "", "", ""},
		{"admin.@example.com", "", "", ""},
		{"ad..min@example.com", "", "", ""},
		{`"quoted"@example.com`, "", "", ""},
		{`"a b"@example.com`, "", "", ""},
		{"Dany <dany@targaryen.net>", "", "", ""},
		{"<dany@targaryen.net>", "", "", ""},
		{"dany@targaryen.net (comment)", "", "", ""},
		{"da ny@example.com", "", "", ""},
		{"dany @example.com", "", "", ""},
		{"dany@ example.com", "", "", ""},
		{"jörg@example.de", "", "", ""}, // no UTF-8 local part
		{"da\x00ny@example.com", "", "", ""},
		{"dany@exa\xffmple.com", "", "", ""},
		{"da\nny@example.com", "", "", ""},
		{strings.Repeat("a", 1<<20) + "@example.com", "", "", ""},
		{"a@" + strings.Repeat("a", 1<<20), "", "", ""},
		{strings.Repeat("@", 1000), "", "", ""},
	} {
		mailbox, err := Mailbox(c.in)
		key, keyErr := MailboxKey(c.in)
		local, domain, splitErr := SplitMailbox(c.in)
		if c.mailbox == "" {
			if err == nil || keyErr == nil || splitErr == nil {
				t.Errorf("%.90q: accepted (%q, %q, %q@%q), want refused", c.in, mailbox, key, local, domain)
				continue
			}
			checkError(t, "Mailbox", c.in, err)
			continue
		}
		if err != nil || keyErr != nil || splitErr != nil {
			t.Errorf("%.90q: refused (%v), want %q", c.in, err, c.mailbox)
			continue
		}
		if mailbox != c.mailbox || key != c.key || domain != c.domain || local+"@"+domain != mailbox {
			t.Errorf("%.90q: Mailbox %q, MailboxKey %q, SplitMailbox %q %q; want %q, %q, domain %q", c.in, mailbox, key, local, domain, c.mailbox, c.key, c.domain)
		}
		if again, err := Mailbox(mailbox); again != mailbox || err != nil {
			t.Errorf("Mailbox(%q) = %q, %v: a canonical form is its own", mailbox, again, err)
		}
		if again, err := MailboxKey(key); again != key || err != nil {
			t.Errorf("MailboxKey(%q) = %q, %v: a canonical form is its own", key, again, err)
		}
	}
}

// TestErrorMessages checks the words a client reads.
func TestErrorMessages(t *testing.T) {
	long := strings.Repeat("a", 300) + ".com"
	for _, c := range []struct {
		err  error
		want string
	}{
		{second(Domain("got..com")), `"got..com" is not a valid domain name: it has an empty label`},
		{second(Domain("localhost")), `"localhost" is not a valid domain name: it needs at least two labels (example.com)`},
		{second(Domain("example.123")), `"example.123" is not a valid domain name: its last label is numeric`},
		{second(Host("192.0.2.1")), `"192.0.2.1" is not a valid host name: it is an IP address`},
		{second(Host("mx_1.example.com")), `"mx_1.example.com" is not a valid host name: its label "mx_1" has a character other than a letter, a digit or a hyphen`},
		{second(DNSName("a*.example.com")), `"a*.example.com" is not a valid DNS name: its label "a*" has a character other than a letter, a digit, a hyphen or an underscore`},
		{second(Domain(long)), `"` + long[:75] + `…" is not a valid domain name: its label "` + long[:75] + `…" is longer than 63 characters`},
		{second(Mailbox("admin@localhost")), `"admin@localhost" is not a valid e-mail address: "localhost" is not a valid domain name: it needs at least two labels (example.com)`},
		{second(Mailbox("admin")), `"admin" is not a valid e-mail address: it has no @ (local@domain)`},
		{second(Mailbox("a\x00@example.com")), `"a\x00@example.com" is not a valid e-mail address: its local part is not letters, digits and !#$%&'*+-/=?^_` + "`" + `{|}~ in runs separated by single dots`},
	} {
		if c.err == nil || c.err.Error() != c.want {
			t.Errorf("got %v\nwant %s", c.err, c.want)
		}
	}
}

func second(_ string, err error) error { return err }

// FuzzDomain checks what holds of any input: a canonical name is short,
// lower-case LDH ASCII, and its own canonical form; a refusal is an *Error.
func FuzzDomain(f *testing.F) {
	for _, c := range commonNames {
		f.Add(c.in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		for _, k := range []struct {
			fn    string
			canon func(string) (string, error)
		}{{"Domain", Domain}, {"Host", Host}, {"DNSName", DNSName}, {"Mailbox", Mailbox}, {"MailboxKey", MailboxKey}} {
			out, err := k.canon(in)
			if err != nil {
				checkError(t, k.fn, in, err)
				continue
			}
			if again, err := k.canon(out); again != out || err != nil {
				t.Errorf("%s(%q) = %q, then %q, %v", k.fn, in, out, again, err)
			}
			if len(out) > maxAddr || strings.ContainsFunc(out, func(r rune) bool { return r <= ' ' || r > '~' }) {
				t.Errorf("%s(%q) = %q: not short printable ASCII", k.fn, in, out)
			}
			if k.fn != "Mailbox" && strings.ToLower(out) != out {
				t.Errorf("%s(%q) = %q: not lower case", k.fn, in, out)
			}
		}
	})
}
