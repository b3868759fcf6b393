package api

import (
	"strings"

	"github.com/cleanmail/cleanmail/pkg/fault"
	"github.com/cleanmail/cleanmail/pkg/names"
)

// named canonicalises an input field with one of pkg/names's functions
// (names.Domain, names.DNSName, …); a refusal is a bad field, in the
// words names gives.
func named(field, in string, canonical func(string) (string, error)) (string, error) {
	out, err := canonical(in)
	if err != nil {
		return "", fault.Invalidf(field, "%v", err)
	}
	return out, nil
}

// mailbox canonicalises an address that identifies something here (a
// user, an administrator, an alias, a sender rule): names.MailboxKey's
// form, with its domain part.
func mailbox(field, addr string) (key, domain string, err error) {
	if key, err = named(field, addr, names.MailboxKey); err != nil {
		return "", "", err
	}
	_, domain, _ = strings.Cut(key, "@")
	return key, domain, nil
}
