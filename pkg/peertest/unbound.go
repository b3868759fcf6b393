package peertest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The Debian binary an Unbound needs (package unbound).
var unboundBinaries = []string{"/usr/sbin/unbound", "/usr/sbin/unbound-checkconf"}

// Unbound is a running Unbound of one test: a resolver answering the test's
// zones itself, and NXDOMAIN for every other name (it asks nobody).
type Unbound struct {
	// Addr is the 127.0.0.1:port it answers on, over UDP and TCP.
	Addr string
}

// StartUnbound starts an Unbound with a private configuration in a
// temporary directory, answering on a free loopback port from zones
// (local-zone names, served static) and records (local-data, zone file
// syntax: "example.net. 300 IN MX 10 mx.example.net."; a TXT of several
// strings is `example.net. IN TXT "part one" "part two"`), and stops it
// when the test ends.
func StartUnbound(t testing.TB, zones []string, records []string) *Unbound {
	t.Helper()
	need(t, "Unbound", "unbound", unboundBinaries...)
	dir := privateDir(t)
	for attempt := 0; ; attempt++ {
		port := freePort(t)
		var conf strings.Builder
		fmt.Fprintf(&conf, `server:
  interface: 127.0.0.1@%d
  port: %d
  do-daemonize: no
  use-syslog: no
  logfile: %q
  verbosity: 1
  username: ""
  chroot: ""
  directory: %q
  pidfile: %q
  module-config: "iterator"
  do-not-query-localhost: yes
  access-control: 127.0.0.0/8 allow
  num-threads: 1
  so-reuseport: no
`, port, port, filepath.Join(dir, "unbound.log"), dir, filepath.Join(dir, "unbound.pid"))
		for _, z := range zones {
			fmt.Fprintf(&conf, "  local-zone: %q static\n", strings.TrimSuffix(z, ".")+".")
		}
		for _, r := range records {
			fmt.Fprintf(&conf, "  local-data: '%s'\n", strings.ReplaceAll(r, "'", `\'`))
		}
		path := filepath.Join(dir, "unbound.conf")
		if err := os.WriteFile(path, []byte(conf.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := run(nil, "/usr/sbin/unbound-checkconf", path); err != nil {
			t.Fatalf("unbound-checkconf: %v\n%s\n%s", err, out, conf.String())
		}
		d := startDaemon(t, "unbound", filepath.Join(dir, "unbound.out"), "/usr/sbin/unbound", "-d", "-c", path)
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		if err := d.waitPorts(addr); err != nil {
			d.stop(t, nil)
			if d.addrInUse() && attempt < 3 {
				continue
			}
			t.Fatalf("Unbound: %v\n%s", err, d.logTail())
		}
		t.Cleanup(func() { d.stop(t, nil) })
		return &Unbound{Addr: addr}
	}
}
