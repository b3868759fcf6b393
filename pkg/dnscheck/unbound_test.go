package dnscheck_test

import (
	"context"
	"testing"
	"time"

	"github.com/cleanmail/cleanmail/pkg/dnscheck"
	"github.com/cleanmail/cleanmail/pkg/peertest"
)

// Against Unbound, a real resolver: a domain whose DNS is right, its DKIM
// record split into strings; then one whose MX points elsewhere and whose
// names do not exist.
func TestAgainstUnbound(t *testing.T) {
	const key = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAtestkey"
	u := peertest.StartUnbound(t, []string{"stark.net", "lannister.net"}, []string{
		"stark.net. 300 IN MX 10 mx.cleanmail.tld.",
		`cleanmail._domainkey.stark.net. 300 IN TXT "v=DKIM1; p=MIIBIjANBgkqhkiG9w0BAQEFA" "AOCAQ8AMIIBCgKCAQEAtestkey"`,
		`stark.net. 300 IN TXT "v=spf1 include:_spf.cleanmail.tld -all"`,
		`_dmarc.stark.net. 300 IN TXT "v=DMARC1; p=reject"`,
		"lannister.net. 300 IN MX 10 mx.lannister.example.",
	})
	r, err := dnscheck.NewResolver(u.Addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rep := dnscheck.Check(ctx, r, dnscheck.Expect{Domain: "stark.net", Selector: "cleanmail", MXHost: "mx.cleanmail.tld", DKIMKey: key, SPFInclude: "_spf.cleanmail.tld"})
	for _, e := range rep.Entries {
		if e.Result != "OK" {
			t.Errorf("stark.net on Unbound: %+v", e)
		}
	}
	rep = dnscheck.Check(ctx, r, dnscheck.Expect{Domain: "lannister.net", Selector: "cleanmail", MXHost: "mx.cleanmail.tld"})
	var results []string
	for _, e := range rep.Entries {
		results = append(results, e.Result)
	}
	if rep.Status || results[0] != "ERROR_MX_INVALID_ENTRY" || results[1] != "ERROR_DKIM_MISSING_ENTRY" || results[2] != "ERROR" || results[3] != "ERROR" {
		t.Errorf("lannister.net on Unbound: %v\n%+v", results, rep)
	}
}
