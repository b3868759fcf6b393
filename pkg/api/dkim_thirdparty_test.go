package api_test

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// dkimVerify is python3-dkim's verifier (the dkimpy library behind
// dkimverify), asking its DNS questions of server (the test's DNS): exit
// status 0 when the message's signature verifies.
const dkimVerify = `
import sys, dkim, dns.resolver
host, port = sys.argv[1].rsplit(":", 1)
r = dns.resolver.Resolver(configure=False)
r.nameservers, r.port = [host], int(port)
def txt(name, timeout=5):
    ans = r.resolve(name.decode().rstrip("."), "TXT", lifetime=timeout)
    return b"".join(b"".join(rr.strings) for rr in ans)
sys.exit(0 if dkim.verify(sys.stdin.buffer.read(), dnsfunc=txt) else 1)
`

// A message sent through the API for a domain with a key verifies with a
// third-party verifier (python3-dkim), against the record the API gave,
// published in a DNS server (split into strings, as long records are);
// the same message fails against another domain's record.
func TestSentMailVerifiesWithPythonDKIM(t *testing.T) {
	t.Parallel()
	if err := exec.Command("/usr/bin/python3", "-c", "import dkim, dns.resolver").Run(); err != nil {
		if os.Getenv("CLEANMAIL_TEST_PEERS") == "required" {
			t.Fatalf("python3-dkim is required (CLEANMAIL_TEST_PEERS=required): %v", err)
		}
		t.Skipf("python3-dkim is not installed (apt-get install python3-dkim): %v", err)
	}
	forEachDB(t, func(t *testing.T, e *env) {
		d := e.newDomain("stark.net")
		ned := e.newUser(d, "ned@stark.net")
		other := e.newDomain("lannister.net")
		publish := func(records ...string) {
			var zone []string
			for _, rec := range records {
				name, text, _ := strings.Cut(rec, " TXT ")
				var quoted []string
				for len(text) > 0 {
					n := min(200, len(text))
					quoted = append(quoted, `"`+text[:n]+`"`)
					text = text[n:]
				}
				zone = append(zone, name+". IN TXT "+strings.Join(quoted, " "))
			}
			if err := e.dns.Set(zone...); err != nil {
				t.Fatal(err)
			}
		}
		verify := func(raw []byte) bool {
			cmd := exec.Command("/usr/bin/python3", "-c", dkimVerify, e.dns.Addr())
			cmd.Stdin = bytes.NewReader(raw)
			out, err := cmd.CombinedOutput()
			if _, exit := err.(*exec.ExitError); err != nil && !exit {
				t.Fatalf("python3: %v\n%s", err, out)
			}
			return err == nil
		}
		for _, alg := range []string{"RSA", "ED25519"} {
			e.do(req{Method: "DELETE", Path: "/domains/" + d + "/dkim"})
			e.do(req{Method: "DELETE", Path: "/domains/" + other + "/dkim"})
			mine := records(t, e.do(req{Method: "POST", Path: "/domains/" + d + "/dkim", Body: map[string]any{"algorithm": alg, "selector": "winter"}}).expect(201))
			theirs := records(t, e.do(req{Method: "POST", Path: "/domains/" + other + "/dkim", Body: map[string]any{"algorithm": alg, "selector": "winter"}}).expect(201))
			before := len(e.smtp.Received())
			e.do(req{Method: "POST", Path: "/users/" + ned + "/emails/send", Body: map[string]any{
				"to": []string{"jon@wall.example"}, "subject": "Winter", "body": "<p>Winter is coming</p>"}}).expect(200)
			raw := e.smtp.Received()[before].Data
			publish(mine[0])
			if !verify(raw) {
				t.Errorf("%s: python3-dkim does not verify the message against the API's record\n%s", alg, raw)
			}
			// The other domain's key, published under stark.net's name.
			_, text, _ := strings.Cut(theirs[0], " TXT ")
			name, _, _ := strings.Cut(mine[0], " TXT ")
			publish(name + " TXT " + text)
			if verify(raw) {
				t.Errorf("%s: python3-dkim verifies the message against another key", alg)
			}
		}
	})
}
