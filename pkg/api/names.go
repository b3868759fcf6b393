package api

import (
	"net/netip"
	"regexp"
	"strings"

	"golang.org/x/net/idna"
)

// dnsProfile validates domain names as DNS does (label lengths, hyphens,
// total length) and maps internationalised names to their ASCII form.
var dnsProfile = idna.New(idna.MapForLookup(), idna.VerifyDNSLength(true), idna.StrictDomainName(true), idna.BidiRule())

// domainName validates a domain name and returns its canonical form
// (lower-case ASCII, no trailing dot).
func domainName(field, name string) (string, error) {
	n := strings.TrimSuffix(strings.TrimSpace(name), ".")
	ascii, err := dnsProfile.ToASCII(n)
	if err != nil || n == "" {
		return "", badField(field, "%q is not a valid domain name", name)
	}
	labels := strings.Split(ascii, ".")
	if len(labels) < 2 {
		return "", badField(field, "%q is not a valid domain name: it needs at least two labels (example.com)", name)
	}
	tld := labels[len(labels)-1]
	if strings.Trim(tld, "0123456789") == "" {
		return "", badField(field, "%q is not a valid domain name: its last label is numeric", name)
	}
	return strings.ToLower(ascii), nil
}

// mailAddress validates an e-mail address and returns its canonical form:
// lower case, the domain in ASCII. Only a bare address is accepted (no
// display name, comment or quoted local part), with an ASCII local part:
// what a gateway can route.
func mailAddress(field, addr string) (string, error) {
	a := strings.TrimSpace(addr)
	at := strings.LastIndexByte(a, '@')
	if at <= 0 || at == len(a)-1 || !dotAtom(a[:at]) || at > 64 {
		return "", badField(field, "%q is not a valid e-mail address", addr)
	}
	domain, err := domainName(field, a[at+1:])
	if err != nil {
		return "", badField(field, "%q is not a valid e-mail address: %q is not a valid domain name", addr, a[at+1:])
	}
	out := strings.ToLower(a[:at]) + "@" + domain
	if len(out) > 254 {
		return "", badField(field, "%q is not a valid e-mail address: longer than 254 characters", addr)
	}
	return out, nil
}

// dotAtom reports whether s is an RFC 5322 dot-atom: runs of atext
// characters separated by single dots.
func dotAtom(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.':
		case strings.ContainsRune("!#$%&'*+-/=?^_`{|}~", r):
		default:
			return false
		}
	}
	return true
}

// subnets validates the a.b.c.d/y (or IPv6) prefixes of outgoingSubnets.
func subnets(field string, in []string) ([]string, error) {
	out := make([]string, 0, len(in))
	seen := map[string]bool{}
	for i, s := range in {
		p, err := netip.ParsePrefix(strings.TrimSpace(s))
		if err != nil {
			return nil, badField(field+"."+itoa(i), "%q is not a subnet in a.b.c.d/y form", s)
		}
		if !seen[p.String()] {
			seen[p.String()] = true
			out = append(out, p.String())
		}
	}
	return out, nil
}

// dnsLabel is a DNS label as used in TXT/SPF names, where underscores are
// common (_spf.google.com), unlike in host and mail domain names.
var dnsLabel = regexp.MustCompile(`^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$`)

// dnsName validates a DNS name that may contain underscores and returns it
// lower-cased without a trailing dot.
func dnsName(field, name string) (string, error) {
	n := strings.ToLower(strings.TrimSuffix(strings.TrimSpace(name), "."))
	labels := strings.Split(n, ".")
	if len(n) > 253 || len(labels) < 2 {
		return "", badField(field, "%q is not a DNS name", name)
	}
	for _, l := range labels {
		if !dnsLabel.MatchString(l) {
			return "", badField(field, "%q is not a DNS name", name)
		}
	}
	return n, nil
}
