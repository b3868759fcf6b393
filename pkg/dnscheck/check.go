package dnscheck

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// The results of the entries, as the API's HealthCheckResult spells them.
const (
	OK                     = "OK"
	Error                  = "ERROR"
	ErrorMXMissingEntry    = "ERROR_MX_MISSING_ENTRY"
	ErrorMXInvalidEntry    = "ERROR_MX_INVALID_ENTRY"
	ErrorDKIMMissingEntry  = "ERROR_DKIM_MISSING_ENTRY"
	ErrorDKIMInvalidCouple = "ERROR_DKIM_INVALID_COUPLE"
)

// Entry is one check: its type (MX, DKIM, SPF, DMARC), its result, and
// what it looked up and found, in the doc's words.
type Entry struct {
	Type   string   `json:"type"`
	Result string   `json:"result"`
	Output []string `json:"output"`
}

// Report is a domain's diagnostic. Status is false when the domain's mail
// does not reach the gateway (its MX check failed); DKIM, SPF and DMARC
// problems are reported in their entries without failing it, as the doc's
// examples do (an MX that passes with a DKIM error is a healthy domain).
type Report struct {
	Status  bool    `json:"status"`
	Entries []Entry `json:"entries"`
}

// Expect is what a domain's DNS must say.
type Expect struct {
	// Domain is the name checked.
	Domain string
	// MXHost is the gateway's inbound host (the MX_HOST option): every MX
	// of the domain must point to it. Empty: MX records are only required.
	MXHost string
	// Selector is the DKIM selector (the DKIM_SELECTOR option).
	Selector string
	// DKIMKey is the p= value of the domain's key (base64), when it has
	// one: the published record must carry it. Empty: a record is only
	// required.
	DKIMKey string
	// DKIMRecord is the record to publish, named in the output when it is
	// missing or wrong.
	DKIMRecord string
	// SPFInclude is the domain that lists the gateway's senders (the
	// SPF_INCLUDE option): the SPF record must include it.
	SPFInclude string
}

// Check runs the checks of e against r, side by side, each bounded by ctx
// and r's timeout per query: a diagnostic takes as long as its slowest
// lookup.
func Check(ctx context.Context, r *Resolver, e Expect) Report {
	checks := []func(context.Context, *Resolver, Expect) Entry{checkMX, checkDKIM, checkSPF, checkDMARC}
	entries := make([]Entry, len(checks))
	var wg sync.WaitGroup
	for i, check := range checks {
		wg.Go(func() { entries[i] = check(ctx, r, e) })
	}
	wg.Wait()
	return Report{Status: entries[0].Result == OK, Entries: entries}
}

func fail(typ, result, lookup string, lines ...string) Entry {
	return Entry{Type: typ, Result: result, Output: append([]string{lookup}, lines...)}
}

func checkMX(ctx context.Context, r *Resolver, e Expect) Entry {
	lookup := "Lookup for MX entry in DNS for " + e.Domain
	hosts, err := r.mx(ctx, e.Domain)
	switch {
	case err != nil:
		return fail("MX", Error, lookup, "Fail: "+err.Error())
	case len(hosts) == 0:
		return fail("MX", ErrorMXMissingEntry, lookup, "Fail: No MX entry found")
	}
	want := strings.TrimSuffix(strings.ToLower(e.MXHost), ".")
	if want == "" {
		return Entry{Type: "MX", Result: OK, Output: []string{"Passed", "MX_HOST is not set: the MX entries' hosts were not compared"}}
	}
	for _, h := range hosts {
		if h != want {
			// The doc's words (5.11.4): the host required, then "Fail".
			return fail("MX", ErrorMXInvalidEntry, lookup, "Required: "+want, "Fail")
		}
	}
	return Entry{Type: "MX", Result: OK, Output: []string{"Passed"}}
}

func checkDKIM(ctx context.Context, r *Resolver, e Expect) Entry {
	lookup := "Lookup for dkim entry in DNS for " + e.Domain
	required := func() []string {
		if e.DKIMRecord == "" {
			return nil
		}
		return []string{"Required: " + e.DKIMRecord}
	}
	records, err := r.txt(ctx, e.Selector+"._domainkey."+e.Domain)
	if err != nil {
		return fail("DKIM", Error, lookup, "Fail: "+err.Error())
	}
	var keys []string
	for _, rec := range records {
		tags := parseTags(rec)
		if v, ok := tags["v"]; ok && v != "DKIM1" {
			continue
		}
		if p, ok := tags["p"]; ok {
			keys = append(keys, strings.Join(strings.Fields(p), ""))
		}
	}
	if len(keys) == 0 {
		return fail("DKIM", ErrorDKIMMissingEntry, lookup,
			append([]string{fmt.Sprintf("Fail: DKIM DNS entry not found for domain %q and selector %q", e.Domain, e.Selector)}, required()...)...)
	}
	if e.DKIMKey != "" && !slices.Contains(keys, e.DKIMKey) {
		// The doc's words (5.11.4).
		return fail("DKIM", ErrorDKIMInvalidCouple, lookup, "Fail: DKIM key defined in DNS does not match with private part")
	}
	return Entry{Type: "DKIM", Result: OK, Output: []string{"Passed"}}
}

func checkSPF(ctx context.Context, r *Resolver, e Expect) Entry {
	lookup := "Lookup for SPF entry in DNS for " + e.Domain
	want := "v=spf1 mx ~all"
	if e.SPFInclude != "" {
		want = "v=spf1 include:" + e.SPFInclude + " ~all"
	}
	records, err := r.txt(ctx, e.Domain)
	if err != nil {
		return fail("SPF", Error, lookup, "Fail: "+err.Error())
	}
	var spf []string
	for _, rec := range records {
		if f := strings.Fields(strings.ToLower(rec)); len(f) > 0 && f[0] == "v=spf1" {
			spf = append(spf, rec)
		}
	}
	switch {
	case len(spf) == 0:
		return fail("SPF", Error, lookup, "Fail: No SPF entry found", "Required: "+want)
	case len(spf) > 1:
		return fail("SPF", Error, lookup, fmt.Sprintf("Fail: %d SPF entries found; receivers ignore them all (RFC 7208): publish one", len(spf)), "Required: "+want)
	}
	if e.SPFInclude != "" {
		include := "include:" + strings.ToLower(strings.TrimSuffix(e.SPFInclude, "."))
		if !slices.ContainsFunc(strings.Fields(strings.ToLower(spf[0])), func(m string) bool {
			return strings.TrimLeft(m, "+") == include
		}) {
			return fail("SPF", Error, lookup, fmt.Sprintf("Fail: the SPF entry %q does not include %s", spf[0], e.SPFInclude), "Required: "+want)
		}
	}
	return Entry{Type: "SPF", Result: OK, Output: []string{"Passed"}}
}

func checkDMARC(ctx context.Context, r *Resolver, e Expect) Entry {
	lookup := "Lookup for DMARC entry in DNS for " + e.Domain
	want := "Required: a TXT entry at _dmarc." + e.Domain + " like \"v=DMARC1; p=quarantine; rua=mailto:dmarc@" + e.Domain + "\""
	records, err := r.txt(ctx, "_dmarc."+e.Domain)
	if err != nil {
		return fail("DMARC", Error, lookup, "Fail: "+err.Error())
	}
	var dmarc []string
	for _, rec := range records {
		if strings.HasPrefix(strings.ReplaceAll(strings.ToUpper(rec), " ", ""), "V=DMARC1") {
			dmarc = append(dmarc, rec)
		}
	}
	switch {
	case len(dmarc) == 0:
		return fail("DMARC", Error, lookup, "Fail: No DMARC entry found", want)
	case len(dmarc) > 1:
		return fail("DMARC", Error, lookup, fmt.Sprintf("Fail: %d DMARC entries found; receivers ignore them all (RFC 7489): publish one", len(dmarc)), want)
	}
	tags := parseTags(dmarc[0])
	switch strings.ToLower(tags["p"]) {
	case "none", "quarantine", "reject":
	default:
		return fail("DMARC", Error, lookup, fmt.Sprintf("Fail: the DMARC entry %q has no policy p=none, quarantine or reject", dmarc[0]), want)
	}
	return Entry{Type: "DMARC", Result: OK, Output: []string{"Passed"}}
}

// parseTags reads a tag=value list ("v=DKIM1; k=rsa; p=…").
func parseTags(s string) map[string]string {
	out := map[string]string{}
	for _, part := range strings.Split(s, ";") {
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			continue
		}
		out[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
	}
	return out
}

// PointsTo reports whether an MX record of domain points to host (the
// gateway's inbound host). A resolver that does not answer is an error.
func (r *Resolver) PointsTo(ctx context.Context, domain, host string) (bool, error) {
	hosts, err := r.mx(ctx, domain)
	if err != nil {
		return false, err
	}
	return slices.Contains(hosts, strings.TrimSuffix(strings.ToLower(host), ".")), nil
}
