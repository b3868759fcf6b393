package peertest

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// The Debian binaries a Postfix needs (package postfix).
var postfixBinaries = []string{"/usr/sbin/postfix", "/usr/sbin/postconf", "/usr/lib/postfix/sbin/master", "/usr/lib/postfix/sbin/smtpd", "/usr/lib/postfix/sbin/lmtp"}

// Postfix is a running Postfix of one test.
type Postfix struct {
	// SMTPAddr is the 127.0.0.1:port of its SMTP server (no TLS, no
	// authentication), which accepts mail from loopback for any
	// recipient in any domain.
	SMTPAddr string

	config string // config_directory, for postfix -c
	daemon *daemon
}

// StartPostfix starts a Postfix instance of its own (config_directory,
// queue_directory and data_directory in a temporary directory) whose SMTP
// server, on a free loopback port, relays mail for every domain over LMTP
// to d, which stores it in the recipient's INBOX, usually within a second
// or two. There is no local delivery and no DNS lookup. It is stopped
// when the test ends.
//
// On the way, Postfix prepends a Received header, and Dovecot's LMTP a
// Received header and a Return-Path: from the top, Return-Path, Dovecot's
// Received, Postfix's Received (and Delivered-To after Return-Path when
// the message had one recipient on that LMTP connection). The rest is
// stored as it was sent: Postfix adds no missing header (Date,
// Message-ID, …) and rewrites no address, since its clients are not
// local_header_rewrite_clients.
func StartPostfix(t testing.TB, d *Dovecot) *Postfix {
	t.Helper()
	need(t, "Postfix", "postfix", postfixBinaries...)
	pu, err := user.Lookup("postfix")
	if err != nil {
		t.Fatalf("Postfix's user: %v", err)
	}
	uid, _ := strconv.Atoi(pu.Uid)
	gid, _ := strconv.Atoi(pu.Gid)
	dir := privateDir(t)
	p := &Postfix{config: filepath.Join(dir, "etc")}
	for _, sub := range []string{"etc", "queue", "data"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chown(filepath.Join(dir, "data"), uid, gid); err != nil {
		t.Fatal(err)
	}
	logFile := filepath.Join(dir, "postfix.log")
	main := fmt.Sprintf(postfixMain, dir, filepath.Base(dir), d.lmtpAddr)
	if err := os.WriteFile(filepath.Join(p.config, "main.cf"), []byte(main), 0o644); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for attempt := 1; ; attempt++ {
		p.SMTPAddr = fmt.Sprintf("127.0.0.1:%d", freePort(t))
		if err := os.WriteFile(filepath.Join(p.config, "master.cf"), []byte(fmt.Sprintf(postfixMaster, p.SMTPAddr)), 0o644); err != nil {
			t.Fatal(err)
		}
		p.daemon = startDaemon(t, "postfix", logFile, "/usr/sbin/postfix", "-c", p.config, "start-fg")
		err := p.daemon.waitPorts(p.SMTPAddr)
		if err == nil {
			break
		}
		p.daemon.stop(t, []string{"/usr/sbin/postfix", "-c", p.config, "stop"})
		if attempt < 3 && p.daemon.addrInUse() {
			continue
		}
		t.Fatalf("Postfix did not start: %v\n%s", err, p.daemon.logTail())
	}
	t.Logf("Postfix started in %v: SMTP %s, delivering to LMTP %s", time.Since(start).Round(time.Millisecond), p.SMTPAddr, d.lmtpAddr)
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(p.daemon.logTail())
		}
		p.daemon.stop(t, []string{"/usr/sbin/postfix", "-c", p.config, "stop"})
	})
	return p
}

// postfixMain is main.cf; its verbs are the directory, a name for the
// log, and the LMTP address of the Dovecot.
const postfixMain = `# Written by pkg/peertest for one test.
compatibility_level = 3.6
queue_directory = %[1]s/queue
data_directory = %[1]s/data
maillog_file = %[1]s/postfix.log
maillog_file_prefixes = %[1]s
syslog_name = peertest-%[2]s
mail_owner = postfix
setgid_group = postdrop
myhostname = peertest.localhost
mydomain = localhost
myorigin = $myhostname
mydestination =
local_recipient_maps =
local_transport = error:local delivery is disabled
alias_maps =
alias_database =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
# Clients are "remote": no header is rewritten or added (Date,
# Message-ID, From, To when missing; addresses qualified).
local_header_rewrite_clients =
smtpd_relay_restrictions = permit_mynetworks, reject
relay_domains = static:all
relay_recipient_maps =
transport_maps = static:lmtp:inet:%[3]s
smtp_dns_support_level = disabled
lmtp_dns_support_level = disabled
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
in_flow_delay = 0
biff = no
`

// postfixMaster is master.cf: the SMTP server on the given address, and
// the services mail needs on its way, none chrooted.
const postfixMaster = `# Written by pkg/peertest for one test.
%s inet n - n - - smtpd
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n - 0 cleanup
qmgr      unix  n - n 300 1 qmgr
rewrite   unix  - - n - - trivial-rewrite
bounce    unix  - - n - 0 bounce
defer     unix  - - n - 0 bounce
trace     unix  - - n - 0 bounce
verify    unix  - - n - 1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n - - proxymap
smtp      unix  - - n - - smtp
relay     unix  - - n - - smtp
showq     unix  n - n - - showq
error     unix  - - n - - error
retry     unix  - - n - - error
discard   unix  - - n - - discard
lmtp      unix  - - n - - lmtp
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
`
