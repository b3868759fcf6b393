package dnscheck_test

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cleanmail/cleanmail/pkg/dnscheck"
	"github.com/cleanmail/cleanmail/pkg/loopback"
)

func serve(t *testing.T, opts loopback.DNSOptions) (*loopback.DNSServer, *dnscheck.Resolver) {
	t.Helper()
	srv, err := loopback.StartDNS(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	r, err := dnscheck.NewResolver(srv.Addr(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return srv, r
}

// The doc's examples (5.11.1, 5.11.3), word for word.
func TestTheDocsExamples(t *testing.T) {
	srv, r := serve(t, loopback.DNSOptions{})
	ctx := context.Background()
	e := dnscheck.Expect{Domain: "targaryen.net", Selector: "protect", MXHost: "mx.cleanmail.tld"}
	rep := dnscheck.Check(ctx, r, e)
	want := []dnscheck.Entry{
		{Type: "MX", Result: "ERROR_MX_MISSING_ENTRY", Output: []string{"Lookup for MX entry in DNS for targaryen.net", "Fail: No MX entry found"}},
		{Type: "DKIM", Result: "ERROR_DKIM_MISSING_ENTRY", Output: []string{"Lookup for dkim entry in DNS for targaryen.net", `Fail: DKIM DNS entry not found for domain "targaryen.net" and selector "protect"`}},
	}
	if rep.Status || !reflect.DeepEqual(rep.Entries[:2], want) {
		t.Errorf("5.11.1: %+v", rep)
	}
	if err := srv.Set("targaryen.net. 300 IN MX 10 mx.cleanmail.tld."); err != nil {
		t.Fatal(err)
	}
	rep = dnscheck.Check(ctx, r, e)
	want[0] = dnscheck.Entry{Type: "MX", Result: "OK", Output: []string{"Passed"}}
	if !rep.Status || !reflect.DeepEqual(rep.Entries[:2], want) {
		t.Errorf("5.11.3: %+v", rep)
	}
}

// 5.11.4's first domain: an MX elsewhere, and a DKIM record that is not
// the domain's key (the doc's MX_HOST is an address elided to
// 83.145.xxx.xxx; ours is a host name).
func TestTheDocsFailingDomain(t *testing.T) {
	_, r := serve(t, loopback.DNSOptions{Records: []string{"stark.net. IN MX 10 mx.elsewhere.example.",
		`cleanmail._domainkey.stark.net. IN TXT "v=DKIM1; p=OTHER"`}})
	rep := dnscheck.Check(context.Background(), r, dnscheck.Expect{Domain: "stark.net", Selector: "cleanmail", MXHost: "mx.cleanmail.tld", DKIMKey: "MINE"})
	want := []dnscheck.Entry{
		{Type: "MX", Result: "ERROR_MX_INVALID_ENTRY", Output: []string{"Lookup for MX entry in DNS for stark.net", "Required: mx.cleanmail.tld", "Fail"}},
		{Type: "DKIM", Result: "ERROR_DKIM_INVALID_COUPLE", Output: []string{"Lookup for dkim entry in DNS for stark.net", "Fail: DKIM key defined in DNS does not match with private part"}},
	}
	if rep.Status || !reflect.DeepEqual(rep.Entries[:2], want) {
		t.Errorf("5.11.4: %+v", rep)
	}
}

func TestChecks(t *testing.T) {
	const key = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAtest"
	srv, r := serve(t, loopback.DNSOptions{})
	ctx := context.Background()
	e := dnscheck.Expect{Domain: "stark.net", Selector: "cleanmail", MXHost: "mx.cleanmail.tld", DKIMKey: key,
		DKIMRecord: "cleanmail._domainkey.stark.net TXT v=DKIM1; p=" + key, SPFInclude: "_spf.cleanmail.tld"}
	for _, tc := range []struct {
		name    string
		records []string
		status  bool
		results []string // MX, DKIM, SPF, DMARC
		lines   []string // expected in the output, anywhere
	}{
		{"all right, DKIM split into strings", []string{
			"stark.net. IN MX 10 mx.cleanmail.tld.",
			`cleanmail._domainkey.stark.net. IN TXT "v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFA" "AOCAQ8AMIIBCgKCAQEAtest"`,
			`stark.net. IN TXT "v=spf1 mx include:_spf.cleanmail.tld -all"`,
			`stark.net. IN TXT "google-site-verification=abc"`,
			`_dmarc.stark.net. IN TXT "v=DMARC1; p=reject; rua=mailto:d@stark.net"`,
		}, true, []string{"OK", "OK", "OK", "OK"}, nil},
		{"an MX elsewhere, another key, SPF without us, DMARC without policy", []string{
			"stark.net. IN MX 10 mx.cleanmail.tld.", "stark.net. IN MX 20 backup.example.org.",
			`cleanmail._domainkey.stark.net. IN TXT "v=DKIM1; p=OTHERKEY"`,
			`stark.net. IN TXT "v=spf1 include:_spf.google.com ~all"`,
			`_dmarc.stark.net. IN TXT "v=DMARC1; rua=mailto:d@stark.net"`,
		}, false, []string{"ERROR_MX_INVALID_ENTRY", "ERROR_DKIM_INVALID_COUPLE", "ERROR", "ERROR"}, []string{
			"Required: mx.cleanmail.tld", "Fail", "Fail: DKIM key defined in DNS does not match with private part",
			`Fail: the SPF entry "v=spf1 include:_spf.google.com ~all" does not include _spf.cleanmail.tld`,
			"Required: v=spf1 include:_spf.cleanmail.tld ~all",
		}},
		{"two SPF records, no DMARC", []string{
			"stark.net. IN MX 10 mx.cleanmail.tld.",
			`stark.net. IN TXT "v=spf1 include:_spf.cleanmail.tld ~all"`, `stark.net. IN TXT "v=spf1 -all"`,
		}, true, []string{"OK", "ERROR_DKIM_MISSING_ENTRY", "ERROR", "ERROR"}, []string{
			"Fail: 2 SPF entries found; receivers ignore them all (RFC 7208): publish one", "Fail: No DMARC entry found",
		}},
	} {
		if err := srv.Set(tc.records...); err != nil {
			t.Fatal(err)
		}
		rep := dnscheck.Check(ctx, r, e)
		var results, lines []string
		for _, en := range rep.Entries {
			results = append(results, en.Result)
			lines = append(lines, en.Output...)
		}
		if rep.Status != tc.status || !reflect.DeepEqual(results, tc.results) {
			t.Errorf("%s: status %v, results %v; want %v, %v\n%+v", tc.name, rep.Status, results, tc.status, tc.results, rep)
		}
		for _, l := range tc.lines {
			if !strings.Contains(strings.Join(lines, "\n"), l) {
				t.Errorf("%s: no output line %q in\n%s", tc.name, l, strings.Join(lines, "\n"))
			}
		}
	}
}

// A truncated UDP answer is asked again over TCP.
func TestTruncatedAnswersGoOverTCP(t *testing.T) {
	_, r := serve(t, loopback.DNSOptions{TruncateUDP: true, Records: []string{"stark.net. IN MX 10 mx.cleanmail.tld."}})
	rep := dnscheck.Check(context.Background(), r, dnscheck.Expect{Domain: "stark.net", Selector: "s", MXHost: "mx.cleanmail.tld"})
	if rep.Entries[0].Result != "OK" {
		t.Errorf("over TCP: %+v", rep.Entries[0])
	}
}

// A resolver that never answers: every entry says so, within the deadline.
func TestSilentResolver(t *testing.T) {
	srv, r := serve(t, loopback.DNSOptions{Silent: true})
	start := time.Now()
	rep := dnscheck.Check(context.Background(), r, dnscheck.Expect{Domain: "stark.net", Selector: "s"})
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %v", d)
	}
	for _, en := range rep.Entries {
		if en.Result != "ERROR" || !strings.Contains(strings.Join(en.Output, " "), "the DNS resolver did not answer (timeout)") {
			t.Errorf("entry %+v", en)
		}
	}
	if rep.Status || srv.Queries() == 0 {
		t.Errorf("status %v after %d queries", rep.Status, srv.Queries())
	}
}
