package api_test

import (
	"bytes"
	"context"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cleanmail/cleanmail/pkg/api"
	"github.com/cleanmail/cleanmail/pkg/dkim"
	"github.com/cleanmail/cleanmail/pkg/dnscheck"
	"github.com/cleanmail/cleanmail/pkg/peertest"
)

// Against Unbound, the resolver our users run: a domain whose key was given
// to the API (PUT) and whose records are published there passes its
// diagnostic, and the mail the API signs for it verifies with python3-dkim
// asking Unbound.
func TestDNSAndDKIMWithUnbound(t *testing.T) {
	t.Parallel()
	key, err := dkim.Generate(dkim.RSA, 1024)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := key.MarshalPrivate()
	privatePEM := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	text := dkim.TXT(dkim.RSA, key.PublicKey())
	var quoted []string
	for rest := text; len(rest) > 0; {
		n := min(200, len(rest))
		quoted = append(quoted, `"`+rest[:n]+`"`)
		rest = rest[n:]
	}
	u := peertest.StartUnbound(t, []string{"stark.net"}, []string{
		"stark.net. 300 IN MX 10 mx.cleanmail.tld.",
		"winter._domainkey.stark.net. 300 IN TXT " + strings.Join(quoted, " "),
		`stark.net. 300 IN TXT "v=spf1 include:spf.cleanmail.tld -all"`,
		`_dmarc.stark.net. 300 IN TXT "v=DMARC1; p=quarantine"`,
	})
	resolver, err := dnscheck.NewResolver(u.Addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"sqlite", "postgres"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEnvWith(t, databases(t)[name](t), func(o *api.Options) { o.DNS = resolver })
			for _, o := range [][2]string{{"MX_HOST", "mx.cleanmail.tld"}, {"SPF_INCLUDE", "spf.cleanmail.tld"}} {
				e.do(req{Method: "POST", Path: "/options/platform", Body: map[string]any{"name": o[0], "value": o[1]}}).expect(201)
			}
			d := e.newDomain("stark.net")
			ned := e.newUser(d, "ned@stark.net")
			given := records(t, e.do(req{Method: "PUT", Path: "/domains/" + d + "/dkim", Body: map[string]any{"privateKey": privatePEM, "selector": "winter"}}).expect(200))
			if len(given) != 1 || given[0] != "winter._domainkey.stark.net TXT "+text {
				t.Fatalf("the API's record %q is not the one published in Unbound (%q)", given, text)
			}
			testKey(t, u.Addr, privatePEM, "key OK")
			other, _ := dkim.Generate(dkim.RSA, 1024)
			otherDER, _ := other.MarshalPrivate()
			testKey(t, u.Addr, string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: otherDER})), "keys do not match")
			rep := e.do(req{Method: "POST", Path: "/domains/" + d + "/health"}).expect(201).json()["report"].(map[string]any)
			for _, en := range rep["entries"].([]any) {
				if en.(map[string]any)["result"] != "OK" {
					t.Errorf("stark.net's diagnostic on Unbound: %v", en)
				}
			}
			if rep["status"] != true {
				t.Errorf("status %v", rep["status"])
			}

			if err := exec.Command("/usr/bin/python3", "-c", "import dkim, dns.resolver").Run(); err != nil {
				t.Skipf("python3-dkim is not installed: %v", err)
			}
			before := len(e.smtp.Received())
			e.do(req{Method: "POST", Path: "/users/" + ned + "/emails/send", Body: map[string]any{
				"to": []string{"jon@wall.example"}, "subject": "Winter", "body": "<p>Winter is coming</p>"}}).expect(200)
			cmd := exec.Command("/usr/bin/python3", "-c", dkimVerify, u.Addr)
			cmd.Stdin = bytes.NewReader(e.smtp.Received()[before].Data)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("python3-dkim against Unbound: %v\n%s", err, out)
			}
		})
	}
}

// testKey runs opendkim-testkey on winter._domainkey.stark.net with the
// private key privatePEM, its DNS questions forwarded to the Unbound at
// addr (libunbound's configuration), and wants verdict in its output.
func testKey(t *testing.T, addr, privatePEM, verdict string) {
	t.Helper()
	if _, err := os.Stat("/usr/sbin/opendkim-testkey"); err != nil {
		if os.Getenv("CLEANMAIL_TEST_PEERS") == "required" {
			t.Fatalf("opendkim-testkey is required (CLEANMAIL_TEST_PEERS=required): %v", err)
		}
		t.Logf("opendkim-testkey is not installed (apt-get install opendkim-tools): not run")
		return
	}
	dir := t.TempDir()
	host, port, _ := strings.Cut(addr, ":")
	files := map[string]string{
		"key.pem":       privatePEM,
		"client.conf":   "server:\n  do-not-query-localhost: no\nforward-zone:\n  name: \".\"\n  forward-addr: " + host + "@" + port + "\n",
		"opendkim.conf": "ResolverConfiguration " + filepath.Join(dir, "client.conf") + "\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, "/usr/sbin/opendkim-testkey", "-d", "stark.net", "-s", "winter",
		"-k", filepath.Join(dir, "key.pem"), "-x", filepath.Join(dir, "opendkim.conf"), "-vvv").CombinedOutput()
	if !strings.Contains(string(out), verdict) {
		t.Errorf("opendkim-testkey: want %q in\n%s", verdict, out)
	}
}
