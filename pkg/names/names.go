// Package names canonicalises the names Cleanmail handles: domain names,
// host names, DNS names and e-mail addresses. Each function validates its
// input and returns the one canonical form of it, so that two spellings of
// a name ("Bücher.DE.", "xn--bcher-kva.de") are stored, compared and looked
// up as one.
//
// Canonical names are lower-case ASCII (an internationalised name mapped to
// its xn-- form as UTS #46 maps a name for lookup), without a trailing dot,
// at most 253 characters, in labels of 1 to 63 letters, digits and hyphens
// (and underscores, in a DNSName). A hyphen may not begin or end a label
// but may stand anywhere else ("r3---sn-x", as DNS allows); an xn-- label
// must decode to a valid internationalised label. Surrounding white space
// and one trailing dot are dropped; nothing else is repaired.
//
// A canonical address is local@domain: a dot-atom local part of ASCII
// letters, digits and !#$%&'*+-/=?^_`{|}~ (at most 64 characters, kept as
// given, as RFC 5321 leaves its case to the server that receives it), "@",
// and a canonical Domain; at most 254 characters in all. Display names,
// comments, quoted local parts, UTF-8 local parts and address literals are
// refused: a bare address a gateway can route is expected. An address that
// identifies something here (a mailbox, an e-mail alias, a sender rule, a
// login) is compared in MailboxKey's form, its local part in lower case.
//
// A refusal is an *Error, whose message quotes the input and says why, in
// words safe to show a client.
package names

import (
	"net/netip"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// The limits of RFC 1035 and RFC 5321.
const (
	maxName  = 253 // a name, without its trailing dot
	maxLabel = 63  // a label
	maxLocal = 64  // an address's local part
	maxAddr  = 254 // an address (a path of 256 octets, less its brackets)
	// maxInput bounds what is mapped at all: every character of a
	// 253-character name spelt in 4-byte characters that map to ASCII.
	maxInput = 4 * maxName
)

// profile maps internationalised labels to ASCII and validates them as
// IDNA does for lookup. ASCII labels are checked by label alone.
var profile = idna.New(idna.MapForLookup(), idna.VerifyDNSLength(true), idna.StrictDomainName(true), idna.BidiRule())

// Error is an input refused: it was not a valid What, for Reason.
type Error struct {
	Input  string // the input as given
	What   string // "domain name", "host name", "DNS name", "e-mail address"
	Reason string // why, when there is more to say than What
}

// Error quotes the input (cut short when it is long) and says why it was
// refused.
func (e *Error) Error() string {
	msg := quote(e.Input) + " is not a valid " + e.What
	if e.Reason != "" {
		msg += ": " + e.Reason
	}
	return msg
}

// quote quotes s for a message, escaping what is not printable and
// cutting it short (to 80 bytes quoted): a refused input may be anything
// up to the body limit.
func quote(s string) string {
	const most = 80
	if len(s) <= most {
		if q := strconv.Quote(s); len(q) <= most {
			return q
		}
	}
	for cut := min(len(s)-1, most); cut > 0; cut-- {
		if q := strconv.Quote(s[:cut] + "…"); utf8.RuneStart(s[cut]) && len(q) <= most {
			return q
		}
	}
	return `"…"`
}

// kind is what a name must be beyond its labels.
type kind struct {
	what        string
	minLabels   int  // 1 for a host, 2 for a domain
	underscores bool // labels may carry "_" (_spf, _domainkey, _dmarc)
}

var (
	domainKind = kind{what: "domain name", minLabels: 2}
	hostKind   = kind{what: "host name", minLabels: 1}
	dnsKind    = kind{what: "DNS name", minLabels: 2, underscores: true}
)

// Domain returns the canonical form of a mail domain (a customer's domain,
// a domain alias, a sender rule's domain, a URI rule's host): at least two
// labels, and a last label that is not all digits. "Bücher.DE." is
// "xn--bcher-kva.de"; "localhost" and "192.0.2.1" are refused.
func Domain(s string) (string, error) { return canonical(s, domainKind) }

// Host returns the canonical form of a host name: a Domain, or a single
// label ("cleanmail", an intranet host, a DKIM selector). An IP address is
// not a host name: a name of several labels has a last label that is not
// all digits.
func Host(s string) (string, error) { return canonical(s, hostKind) }

// DNSName returns the canonical form of a DNS name that may be the owner
// of a record other than an address: a Domain whose labels may also carry
// underscores ("_spf.google.com", "sel._domainkey.example.com"). A label
// with an underscore must be ASCII.
func DNSName(s string) (string, error) { return canonical(s, dnsKind) }

// canonical is the one canonicaliser of names, under the rules of k.
func canonical(s string, k kind) (string, error) {
	refuse := func(reason string) (string, error) {
		return "", &Error{Input: s, What: k.what, Reason: reason}
	}
	n := strings.TrimSuffix(strings.TrimSpace(s), ".")
	switch {
	case n == "":
		return refuse("it is empty")
	case len(n) > maxInput:
		return refuse("it is longer than 253 characters")
	case !utf8.ValidString(n):
		return refuse("it is not valid UTF-8")
	}
	if _, err := netip.ParseAddr(n); err == nil {
		return refuse("it is an IP address")
	}
	labels := strings.Split(n, ".")
	for i, l := range labels {
		if isASCII(l) && !hasACEPrefix(l) {
			labels[i] = strings.ToLower(l)
			continue
		}
		if k.underscores && strings.Contains(l, "_") {
			return refuse("its label " + quote(l) + " has an underscore and is not ASCII")
		}
		a, err := profile.ToASCII(l)
		if err != nil {
			return refuse("its label " + quote(l) + " is not a valid internationalised label")
		}
		labels[i] = a
	}
	// The mapping may have made dots (U+3002 is one), and an ASCII label
	// is checked here only: check every label of the result.
	out := strings.Join(labels, ".")
	labels = strings.Split(out, ".")
	for _, l := range labels {
		switch {
		case l == "":
			return refuse("it has an empty label")
		case len(l) > maxLabel:
			return refuse("its label " + quote(l) + " is longer than 63 characters")
		case l[0] == '-' || l[len(l)-1] == '-':
			return refuse("its label " + quote(l) + " begins or ends with a hyphen")
		case !ldh(l, k.underscores):
			if k.underscores {
				return refuse("its label " + quote(l) + " has a character other than a letter, a digit, a hyphen or an underscore")
			}
			return refuse("its label " + quote(l) + " has a character other than a letter, a digit or a hyphen")
		}
	}
	switch {
	case len(out) > maxName:
		return refuse("it is longer than 253 characters")
	case len(labels) < k.minLabels:
		return refuse("it needs at least two labels (example.com)")
	case len(labels) > 1 && strings.Trim(labels[len(labels)-1], "0123456789") == "":
		return refuse("its last label is numeric")
	}
	return out, nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// hasACEPrefix tells an xn-- label, which must decode to a valid
// internationalised label.
func hasACEPrefix(l string) bool { return len(l) >= 4 && strings.EqualFold(l[:4], "xn--") }

// ldh tells whether a lower-case label is letters, digits and hyphens
// (and underscores, when they are allowed).
func ldh(l string, underscores bool) bool {
	for i := 0; i < len(l); i++ {
		switch c := l[i]; {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-':
		case c == '_' && underscores:
		default:
			return false
		}
	}
	return true
}

// SplitMailbox validates an e-mail address and returns its canonical parts:
// the local part as given and the canonical Domain.
func SplitMailbox(s string) (local, domain string, err error) {
	refuse := func(reason string) (string, string, error) {
		return "", "", &Error{Input: s, What: "e-mail address", Reason: reason}
	}
	a := strings.TrimSpace(s)
	if len(a) > maxLocal+1+maxInput {
		return refuse("it is longer than 254 characters")
	}
	at := strings.LastIndexByte(a, '@')
	if at < 0 {
		return refuse("it has no @ (local@domain)")
	}
	local = a[:at]
	switch {
	case local == "":
		return refuse("its local part is empty")
	case len(local) > maxLocal:
		return refuse("its local part is longer than 64 characters")
	case !dotAtom(local):
		return refuse("its local part is not letters, digits and !#$%&'*+-/=?^_`{|}~ in runs separated by single dots")
	}
	d := a[at+1:]
	if strings.TrimSpace(d) != d {
		return refuse("it has white space after its @")
	}
	domain, err = Domain(d)
	if err != nil {
		return refuse(err.Error())
	}
	if len(local)+1+len(domain) > maxAddr {
		return refuse("it is longer than 254 characters")
	}
	return local, domain, nil
}

// Mailbox returns the canonical form of an e-mail address: local@domain,
// the local part as given, the domain canonical. It is the form of an
// address the gateway relays to or sends as: "Dany@TARGARYEN.Net" is
// "Dany@targaryen.net".
func Mailbox(s string) (string, error) {
	local, domain, err := SplitMailbox(s)
	if err != nil {
		return "", err
	}
	return local + "@" + domain, nil
}

// MailboxKey returns the canonical form of an address that identifies
// something here (a mailbox, an e-mail alias or one of its recipients, a
// sender rule, a login): Mailbox's, with the local part in lower case, for
// Dany@ and dany@ are one mailbox. "Dany@TARGARYEN.Net" is
// "dany@targaryen.net". It has one "@", before its domain.
func MailboxKey(s string) (string, error) {
	local, domain, err := SplitMailbox(s)
	if err != nil {
		return "", err
	}
	return strings.ToLower(local) + "@" + domain, nil
}

// dotAtom reports whether s is an RFC 5322 dot-atom of ASCII: runs of
// atext characters separated by single dots.
func dotAtom(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.':
		case strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
