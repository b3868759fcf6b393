// Package peertest starts, for tests, the real mail peers our users run:
// Dovecot (IMAP, with a master user, and LMTP) and Postfix (SMTP relaying
// every domain to that Dovecot), as installed from Debian, each from a
// private configuration in t.TempDir(), on free loopback ports, stopped by
// t.Cleanup. Nothing is shared between instances, so tests using them may
// run in parallel.
//
// Also Unbound (a resolver serving test zones), OpenLDAP's slapd (a
// directory to bind to), and headless Chromium's screenshots of a page.
//
// When the binaries are missing (or the test is not run as root, which
// the daemons need to switch to their users), the calling test is
// skipped, saying so; with CLEANMAIL_TEST_PEERS=required in the
// environment (CI sets it) it fails instead. To install them:
//
//	apt-get install dovecot-imapd dovecot-lmtpd postfix unbound slapd
package peertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// RequiredEnv is the environment variable that, set to "required", makes a
// test fail rather than skip when the peers cannot run here.
const RequiredEnv = "CLEANMAIL_TEST_PEERS"

// startTimeout bounds how long a daemon may take to answer on its port.
const startTimeout = 10 * time.Second

// stopTimeout bounds how long a daemon may take to exit once told to stop.
const stopTimeout = 10 * time.Second

// commandTimeout bounds every helper command (doveadm, postfix); Fill's
// resynchronisation of a large folder is the slowest.
const commandTimeout = 60 * time.Second

// need skips (or, when required, fails) the test unless every binary is
// installed (from the Debian packages named) and the process runs as root.
func need(t testing.TB, what, packages string, binaries ...string) {
	t.Helper()
	var missing []string
	for _, b := range binaries {
		if fi, err := os.Stat(b); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			missing = append(missing, b)
		}
	}
	var why string
	switch {
	case len(missing) > 0:
		why = fmt.Sprintf("%s is not installed (missing %s; apt-get install %s)", what, strings.Join(missing, ", "), packages)
	case os.Geteuid() != 0:
		why = fmt.Sprintf("%s needs root to run (it switches to its own users)", what)
	default:
		return
	}
	unavailable(t, why)
}

// unavailable skips the test, saying why, or fails it when the peers are
// required.
func unavailable(t testing.TB, why string) {
	t.Helper()
	if os.Getenv(RequiredEnv) == "required" {
		t.Fatalf("%s, and %s=required", why, RequiredEnv)
	}
	t.Skipf("%s; set %s=required to fail instead of skipping", why, RequiredEnv)
}

// privateDir returns a new temporary directory that the daemons' own
// users may traverse: t.TempDir() and its parent are created 0700.
func privateDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// freePort returns a loopback port that was free a moment ago. Another
// process may take it before the daemon binds it: starts retry on
// "Address already in use".
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// daemon is a peer's master process, run in the foreground as our child
// (so that it is reaped), in a process group of its own.
type daemon struct {
	name string
	log  string // the file of the daemon's log (and of its stdout and stderr)
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error         // its exit status, once done
}

func startDaemon(t testing.TB, name, logFile string, argv ...string) *daemon {
	t.Helper()
	out, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	// A file, not a pipe: the daemons' children keep their inherited
	// output open, and a pipe would never reach EOF.
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	d := &daemon{name: name, log: logFile, cmd: cmd, done: make(chan struct{})}
	go func() {
		d.err = cmd.Wait()
		close(d.done)
	}()
	return d
}

// waitPorts waits until every address accepts connections, the daemon
// exits, or startTimeout passes; it returns why not.
func (d *daemon) waitPorts(addrs ...string) error {
	deadline := time.Now().Add(startTimeout)
	for _, addr := range addrs {
		for {
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				c.Close()
				break
			}
			select {
			case <-d.done:
				return fmt.Errorf("%s exited (%v) before answering on %s", d.name, d.err, addr)
			default:
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s not answering on %s after %v: %v", d.name, addr, startTimeout, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return nil
}

// stop asks the daemon to stop (by running stopCmd, or with SIGTERM when
// nil), waits for its exit, and kills its process group past stopTimeout.
func (d *daemon) stop(t testing.TB, stopCmd []string) {
	t.Helper()
	select {
	case <-d.done:
		return
	default:
	}
	if stopCmd != nil {
		if out, err := run(nil, stopCmd...); err != nil {
			t.Logf("%s: %v\n%s", strings.Join(stopCmd, " "), err, out)
			_ = d.cmd.Process.Signal(syscall.SIGTERM)
		}
	} else {
		_ = d.cmd.Process.Signal(syscall.SIGTERM)
	}
	select {
	case <-d.done:
	case <-time.After(stopTimeout):
		t.Errorf("%s did not stop within %v: killed\n%s", d.name, stopTimeout, d.logTail())
		_ = syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL)
		<-d.done
	}
}

// logTail returns the end of the daemon's log, for failure messages.
func (d *daemon) logTail() string {
	b, err := os.ReadFile(d.log)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	const max = 8 << 10
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return fmt.Sprintf("--- %s (%s) ---\n%s", d.name, d.log, b)
}

// addrInUse tells whether the daemon failed because a port was taken.
func (d *daemon) addrInUse() bool {
	b, _ := os.ReadFile(d.log)
	return bytes.Contains(b, []byte("in use"))
}

// run runs a command with commandTimeout, stdin from in; it returns
// stdout, or stderr and the error.
func run(in []byte, argv ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	if in != nil {
		cmd.Stdin = bytes.NewReader(in)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		err = fmt.Errorf("%v (timed out after %v)", err, commandTimeout)
	}
	if err != nil {
		return stderr.Bytes(), err
	}
	return stdout.Bytes(), nil
}
