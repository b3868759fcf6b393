package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cleanmail/cleanmail/db"
)

// These tests run the real binary, as an operator would.

var (
	buildOnce sync.Once
	buildDir  string
	buildBin  string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// build builds the binary once per test process and returns its path.
func build(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		if buildDir, buildErr = os.MkdirTemp("", "cleanmail-bin-"); buildErr != nil {
			return
		}
		buildBin = filepath.Join(buildDir, "cleanmail")
		if out, err := exec.Command("go", "build", "-o", buildBin, ".").CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildBin
}

// start runs `cleanmail serve` and returns its base URL and its log lines
// (JSON); the server is killed at cleanup if still running.
func start(t *testing.T, bin string, env ...string) (string, *exec.Cmd, *logLines) {
	t.Helper()
	cmd, logs := launch(t, bin, "serve", env...)
	addr := logs.wait(t, "listening")["addr"].(string)
	logs.wait(t, "ready")
	return "http://" + addr, cmd, logs
}

// launch runs `cleanmail command` with the tests' defaults (free ports, no
// periodic re-check, JSON logs) and env, and reads its log; the process is
// killed at cleanup if still running.
func launch(t *testing.T, bin, command string, env ...string) (*exec.Cmd, *logLines) {
	t.Helper()
	cmd := exec.Command(bin, command)
	cmd.Env = append(os.Environ(), append([]string{"CLEANMAIL_LISTEN=127.0.0.1:0", "CLEANMAIL_EMBEDDED_IMAP_LISTEN=127.0.0.1:0", "CLEANMAIL_EMBEDDED_SMTP_LISTEN=127.0.0.1:0", "CLEANMAIL_HEALTH_INTERVAL=0", "CLEANMAIL_LOG_JSON=true"}, env...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	logs := &logLines{more: make(chan struct{}, 1)}
	go func() {
		// Every line is read as it comes, whether or not a test waits for
		// it: a process must never block on a full pipe.
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				logs.add(m)
			}
		}
		logs.mu.Lock()
		logs.closed = true
		logs.mu.Unlock()
		logs.signal()
	}()
	return cmd, logs
}

// logLines are the log lines of a process, as they come.
type logLines struct {
	more   chan struct{} // a line came, or the log ended
	mu     sync.Mutex
	lines  []map[string]any
	closed bool
}

func (l *logLines) add(m map[string]any) {
	l.mu.Lock()
	l.lines = append(l.lines, m)
	l.mu.Unlock()
	l.signal()
}

func (l *logLines) signal() {
	select {
	case l.more <- struct{}{}:
	default:
	}
}

// all is every line so far.
func (l *logLines) all() []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.lines)
}

// wait returns the first log line with message msg, failing after 60s.
func (l *logLines) wait(t *testing.T, msg string) map[string]any {
	t.Helper()
	timeout := time.After(60 * time.Second)
	for {
		l.mu.Lock()
		lines, closed := l.lines, l.closed
		l.mu.Unlock()
		for _, m := range lines {
			if m["msg"] == msg {
				return m
			}
		}
		if closed {
			t.Fatalf("the process exited before logging %q", msg)
		}
		select {
		case <-l.more:
		case <-timeout:
			t.Fatalf("no %q in the log", msg)
		}
	}
}

func get(t *testing.T, url, token string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

func TestServeBootstrapTokenAndShutdown(t *testing.T) {
	bin := build(t)
	dir := t.TempDir()
	dbURL := "CLEANMAIL_DATABASE_URL=sqlite:" + filepath.Join(dir, "c.db")

	// First start, no bootstrap token: one is generated and logged once.
	url, cmd, logs := start(t, bin, dbURL)
	created := logs.wait(t, "created sysadmin account 'admin' with a personal token; keep it, it is not shown again")
	token, _ := created["token"].(string)
	if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(token) {
		t.Fatalf("logged token %q", token)
	}
	if s := get(t, url+"/readyz", ""); s != 200 {
		t.Errorf("/readyz: %d", s)
	}
	if s := get(t, url+"/domains", token); s != 200 {
		t.Errorf("GET /domains with the bootstrap token: %d", s)
	}
	if s := get(t, url+"/domains", ""); s != 401 {
		t.Errorf("GET /domains without a token: %d", s)
	}
	// SIGTERM: a graceful stop, exit status 0.
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	logs.wait(t, "stopped")
	if err := cmd.Wait(); err != nil {
		t.Errorf("exit after SIGTERM: %v", err)
	}

	// Second start on the same database: no new account, no token logged.
	url, _, logs = start(t, bin, dbURL)
	for _, m := range logs.all() {
		if strings.Contains(m["msg"].(string), "created sysadmin") {
			t.Errorf("second start created the admin again: %v", m)
		}
	}
	if s := get(t, url+"/domains", token); s != 200 {
		t.Errorf("bootstrap token after restart: %d", s)
	}

	// token create prints a working token.
	tc := exec.Command(bin, "token", "create", "--admin", "ADMIN", "--name", "ci")
	tc.Env = append(os.Environ(), dbURL)
	out, err := tc.Output()
	if err != nil {
		t.Fatalf("token create: %v", err)
	}
	newToken := strings.TrimSpace(string(out))
	if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(newToken) {
		t.Fatalf("token create printed %q", out)
	}
	if s := get(t, url+"/domains", newToken); s != 200 {
		t.Errorf("GET /domains with the CLI token: %d", s)
	}
	bad := exec.Command(bin, "token", "create", "--admin", "nobody", "--name", "x")
	bad.Env = append(os.Environ(), dbURL)
	if out, err := bad.CombinedOutput(); err == nil || !bytes.Contains(out, []byte("no administrator")) {
		t.Errorf("token create for an unknown admin: %v %s", err, out)
	}
}

func TestServeWithBootstrapTokenFromEnv(t *testing.T) {
	bin := build(t)
	const token = "00112233445566778899aabbccddeeff"
	url, _, _ := start(t, bin, "CLEANMAIL_DATABASE_URL=sqlite:"+filepath.Join(t.TempDir(), "c.db"), "CLEANMAIL_BOOTSTRAP_TOKEN="+token)
	if s := get(t, url+"/domains", token); s != 200 {
		t.Errorf("GET /domains with CLEANMAIL_BOOTSTRAP_TOKEN: %d", s)
	}
}

func TestMigrateCommand(t *testing.T) {
	var out bytes.Buffer
	t.Setenv("CLEANMAIL_DATABASE_URL", "sqlite:"+filepath.Join(t.TempDir(), "m.db"))
	if err := run([]string{"migrate"}, &out, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "applied") {
		t.Errorf("first migrate printed %q", out.String())
	}
	out.Reset()
	if err := run([]string{"migrate"}, &out, &out); err != nil || !strings.Contains(out.String(), "(0 migrations applied now)") {
		t.Errorf("second migrate: %v %q", err, out.String())
	}
	if err := run([]string{"nonsense"}, &out, &out); err == nil {
		t.Error("an unknown command succeeded")
	}
}

// TestShutdownFinishesInFlightRequests sends SIGTERM while a long request
// (replacing a mailbox's list with 10,000 sender rules, the most one
// request may carry, in a body under the 1 MiB limit) is being served: the
// request completes, then the server exits cleanly.
func TestShutdownFinishesInFlightRequests(t *testing.T) {
	bin := build(t)
	const token = "00112233445566778899aabbccddeeff"
	url, cmd, logs := start(t, bin, "CLEANMAIL_DATABASE_URL=sqlite:"+filepath.Join(t.TempDir(), "c.db"), "CLEANMAIL_BOOTSTRAP_TOKEN="+token)
	call := func(method, path, body string) (int, string) {
		req, _ := http.NewRequest(method, url+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if s, b := call("POST", "/domains", `{"name":"stark.net","status":"ENABLED","quarantine":false,"retention":false,"archive":false,"defaultLanguage":"EN"}`); s != 201 {
		t.Fatalf("create domain: %d %s", s, b)
	}
	var d []map[string]any
	_, b := call("GET", "/domains", "")
	_ = json.Unmarshal([]byte(b), &d)
	if s, b := call("POST", "/users", `{"email":"ned@stark.net","status":"ENABLED","domainId":"`+d[0]["id"].(string)+`"}`); s != 201 {
		t.Fatalf("create user: %d %s", s, b)
	}
	rules := make([]string, 10000)
	for i := range rules {
		rules[i] = `{"value":"sender` + strconv.Itoa(i) + `@example.com","type":"BLOCK"}`
	}
	done := make(chan int, 1)
	go func() {
		s, _ := call("PUT", "/users/ned@stark.net/wblist", "["+strings.Join(rules, ",")+"]")
		done <- s
	}()
	time.Sleep(150 * time.Millisecond) // the request is being served
	select {
	case s := <-done:
		t.Skipf("the request finished (%d) before SIGTERM on this machine: nothing was in flight", s)
	default:
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if s := <-done; s != 200 {
		t.Errorf("the in-flight request got %d, want 200", s)
	}
	logs.wait(t, "stopped")
	if err := cmd.Wait(); err != nil {
		t.Errorf("exit after SIGTERM: %v", err)
	}
}

// TestTokenCreateNamesOneAdmin: --admin is a login, compared without case,
// never a pattern: `*` (or `%`, `_`) names no account.
func TestTokenCreateNamesOneAdmin(t *testing.T) {
	t.Setenv("CLEANMAIL_DATABASE_URL", "sqlite:"+filepath.Join(t.TempDir(), "t.db"))
	store, err := db.Open(db.Options{URL: os.Getenv("CLEANMAIL_DATABASE_URL")})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, err := store.Bootstrap(ctx, ""); err != nil {
		t.Fatal(err)
	}
	store.Close()
	for _, login := range []string{"*", "a*", "%", "_dmin", "adm_n"} {
		var out bytes.Buffer
		err := run([]string{"token", "create", "--admin", login, "--name", "x"}, &out, &out)
		if err == nil || !strings.Contains(err.Error(), "no administrator") {
			t.Errorf("token create --admin %q: %v, printed %q; want no administrator", login, err, out.String())
		}
	}
	var out bytes.Buffer
	if err := run([]string{"token", "create", "--admin", "ADMIN", "--name", "x"}, &out, &out); err != nil {
		t.Fatalf("token create --admin ADMIN: %v", err)
	}
	if !regexp.MustCompile(`^[0-9a-f]{32}\n$`).MatchString(out.String()) {
		t.Errorf("token create --admin ADMIN printed %q", out.String())
	}
}

// The server bounds slow clients: a request whose body never comes in
// full is cut at CLEANMAIL_READ_TIMEOUT, and a keep-alive connection left
// idle is closed at CLEANMAIL_IDLE_TIMEOUT. (Without them, such
// connections were held for as long as the client liked.)
func TestSlowClientsAreCut(t *testing.T) {
	bin := build(t)
	const token = "00112233445566778899aabbccddeeff"
	base, _, _ := start(t, bin, "CLEANMAIL_DATABASE_URL=sqlite:"+filepath.Join(t.TempDir(), "c.db"),
		"CLEANMAIL_BOOTSTRAP_TOKEN="+token, "CLEANMAIL_READ_TIMEOUT=1s", "CLEANMAIL_IDLE_TIMEOUT=1s")
	addr := strings.TrimPrefix(base, "http://")

	// A body announced, partly sent, then nothing.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	fmt.Fprintf(c, "POST /brokers HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"name\":", token)
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	reply, _ := io.ReadAll(c) // until the server closes
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("an incomplete body was held %v (read timeout 1s)", d)
	}
	if s := string(reply); s != "" && !strings.HasPrefix(s, "HTTP/1.1 400") {
		t.Errorf("an incomplete body was answered %q", s)
	}

	// An idle keep-alive connection.
	c2, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	fmt.Fprintf(c2, "GET /livez HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(c2)
	res, err := http.ReadResponse(br, nil)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("GET /livez: %v %v", res, err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	idle := time.Now()
	_ = c2.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := br.ReadByte(); err == nil {
		t.Error("the server sent something on an idle connection")
	}
	if d := time.Since(idle); d > 5*time.Second {
		t.Errorf("an idle connection was kept %v (idle timeout 1s)", d)
	}
}

// Without CLEANMAIL_SMTP_URL, mail sent through the API goes to the
// embedded SMTP server, which puts a user's copy in its INBOX of the
// embedded mail store and only records the others'.
func TestServeEmbeddedSMTP(t *testing.T) {
	bin := build(t)
	tok := "0123456789abcdef0123456789abcdef"
	url, _, logs := start(t, bin, "CLEANMAIL_DATABASE_URL=sqlite:"+filepath.Join(t.TempDir(), "c.db"), "CLEANMAIL_BOOTSTRAP_TOKEN="+tok)
	if m := logs.wait(t, "CLEANMAIL_SMTP_URL is not set: mail sent through the API goes to an embedded SMTP server IN MEMORY; the service's users get it in their INBOX of the embedded mail store, other recipients nothing (it is recorded in memory and lost at exit); set CLEANMAIL_SMTP_URL for a real relay"); m["smtp"] == "" {
		t.Errorf("the start-up line does not say where: %v", m)
	}
	call := func(method, path, body string, want int) []byte {
		t.Helper()
		req, _ := http.NewRequest(method, url+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		out, _ := io.ReadAll(res.Body)
		if res.StatusCode != want {
			t.Fatalf("%s %s: %d %s, want %d", method, path, res.StatusCode, out, want)
		}
		return out
	}
	var d struct{ ID string }
	if err := json.Unmarshal(call("POST", "/domains", `{"name":"stark.net","status":"ENABLED","quarantine":true,"retention":false,"archive":false,"defaultLanguage":"EN"}`, 201), &d); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"ned@stark.net", "arya@stark.net"} {
		call("POST", "/users", `{"email":"`+u+`","status":"ENABLED","domainId":"`+d.ID+`"}`, 201)
	}
	call("POST", "/users/ned@stark.net/emails/send", `{"to":["arya@stark.net","jon@wall.example"],"subject":"winter","body":"<p>coming</p>"}`, 200)
	inbox := call("GET", "/users/arya@stark.net/emails/INBOX", "", 200)
	if !bytes.Contains(inbox, []byte(`"subject":"winter"`)) {
		t.Errorf("arya's INBOX: %s", inbox)
	}
	if sent := call("GET", "/users/ned@stark.net/emails/Sent", "", 200); !bytes.Contains(sent, []byte(`"subject":"winter"`)) {
		t.Errorf("ned's Sent: %s", sent)
	}
	if m := logs.wait(t, "embedded SMTP server: accepted and recorded only, not delivered (not a user of the embedded mail store)"); m["to"] != "jon@wall.example" {
		t.Errorf("the log of the outside recipient: %v", m)
	}
}
