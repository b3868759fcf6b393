package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cleanmail/cleanmail/db"
	"github.com/cleanmail/cleanmail/db/dbtest"
	"github.com/cleanmail/cleanmail/pkg/loopback"
)

// These tests run the job queue across processes of the real binary: a
// task outlives the process that took it, and workers on one database run
// each task once.

const taskToken = "00112233445566778899aabbccddeeff"

// taskEnv is one database and one relay shared by the processes of a test.
type taskEnv struct {
	bin  string
	url  string // CLEANMAIL_DATABASE_URL
	smtp *loopback.SMTPServer
}

func newTaskEnv(t *testing.T, dbURL string, deliver func(from string, to []string, data []byte) error) *taskEnv {
	t.Helper()
	srv, err := loopback.StartSMTP(loopback.SMTPOptions{Deliver: deliver, Timeout: 30 * time.Second,
		ErrorLog: slog.NewLogLogger(slog.DiscardHandler, slog.LevelError)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return &taskEnv{bin: build(t), url: dbURL, smtp: srv}
}

// env is the configuration every process of the test shares (relay, JWT
// key, fast retries), then extra.
func (e *taskEnv) env(extra ...string) []string {
	return append([]string{"CLEANMAIL_DATABASE_URL=" + e.url, "CLEANMAIL_SMTP_URL=smtp://" + e.smtp.Addr(),
		"CLEANMAIL_BOOTSTRAP_TOKEN=" + taskToken, "CLEANMAIL_JWT_KEY=a-key-every-process-of-the-test-shares",
		"CLEANMAIL_JOB_RETRY_BASE=50ms", "CLEANMAIL_SMTP_TIMEOUT=30s"}, extra...)
}

// api starts `cleanmail serve` that only enqueues, and returns its URL.
func (e *taskEnv) api(t *testing.T) (string, *exec.Cmd) {
	t.Helper()
	base, cmd, _ := start(t, e.bin, e.env("CLEANMAIL_RUN_JOBS=false")...)
	return base, cmd
}

// worker starts `cleanmail worker` without waiting for it.
func (e *taskEnv) worker(t *testing.T) (*exec.Cmd, *logLines) {
	t.Helper()
	return launch(t, e.bin, "worker", e.env()...)
}

// do calls the API as the sysadmin and wants the status want.
func do(t *testing.T, base, method, path, body string, want int) string {
	t.Helper()
	status, out := call(t, method, base+path, taskToken, body)
	if status != want {
		t.Fatalf("%s %s: %d %s, want %d", method, path, status, out, want)
	}
	return out
}

// launchTask posts a mail command for recipient; it returns the task's path.
func launchTask(t *testing.T, base, command, recipient string) string {
	t.Helper()
	req, _ := http.NewRequest("POST", base+"/tasks", strings.NewReader(`{"command":"`+command+`","params":{"recipient":"`+recipient+`"}}`))
	req.Header.Set("Authorization", "Bearer "+taskToken)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	loc := res.Header.Get("Location")
	if res.StatusCode != 202 || !strings.HasPrefix(loc, "/tasks/") {
		t.Fatalf("POST /tasks %s for %s: %d, Location %q, %s", command, recipient, res.StatusCode, loc, b)
	}
	return loc
}

// domainWithApp creates a domain whose mails link to app.example.net.
func domainWithApp(t *testing.T, base, name string) string {
	t.Helper()
	var d struct{ ID string }
	if err := json.Unmarshal([]byte(do(t, base, "POST", "/domains", `{"name":"`+name+`","status":"ENABLED","quarantine":false,"retention":false,"archive":false,"defaultLanguage":"EN"}`, 201)), &d); err != nil {
		t.Fatal(err)
	}
	do(t, base, "POST", "/domains/"+d.ID+"/options", `{"name":"APP_URL","value":"app.example.net"}`, 201)
	return d.ID
}

// taskState polls the task until it is final, for at most 30 s.
func taskState(t *testing.T, base, path string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var st map[string]any
		if err := json.Unmarshal([]byte(do(t, base, "GET", path, "", 200)), &st); err != nil {
			t.Fatal(err)
		}
		switch st["state"] {
		case "done", "cancelled", "failed":
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("task %s still %v after 30s: %v", path, st["state"], st)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitMails waits until the relay has received n messages, for at most
// 30 s, then a second more in which it must receive no other.
func waitMails(t *testing.T, srv *loopback.SMTPServer, n int) []loopback.Envelope {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for len(srv.Received()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d mails after 30s, want %d", len(srv.Received()), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A second delivery would come from a retry (50 ms) or another
	// process's poll (1 s on SQLite): wait past both.
	time.Sleep(1500 * time.Millisecond)
	got := srv.Received()
	if len(got) != n {
		t.Errorf("%d mails received, want %d", len(got), n)
	}
	return got
}

var welcomeLink = regexp.MustCompile(`https://app\.example\.net/set-password\?token=([A-Za-z0-9_%-]+)`)

// textOf is the text part of a mail.
func textOf(t *testing.T, env loopback.Envelope) string {
	t.Helper()
	text, err := env.Text()
	if err != nil {
		t.Fatal(err)
	}
	return text
}

// TestTaskOutlivesAKilledServer: a welcome mail task taken by a server
// that only enqueues, then killed (SIGKILL: nothing of it runs after the
// 202), is sent once by a worker process started later on the same
// database; another server reads it done at its first attempt, and the
// mail's link sets the user's password.
func TestTaskOutlivesAKilledServer(t *testing.T) {
	for _, tc := range []struct {
		name string
		url  func(testing.TB) string
	}{{"sqlite", dbtest.SQLite}, {"postgres", dbtest.Postgres}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newTaskEnv(t, tc.url(t), nil)
			base, cmd := e.api(t)
			d := domainWithApp(t, base, "stark.net")
			do(t, base, "POST", "/users", `{"email":"ned@stark.net","status":"ENABLED","domainId":"`+d+`"}`, 201)
			task := launchTask(t, base, "send_welcome_mail", "ned@stark.net")
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			_ = cmd.Wait()
			if got := e.smtp.Received(); len(got) != 0 {
				t.Fatalf("%d mails before any worker ran, want 0", len(got))
			}

			_, logs := e.worker(t)
			logs.wait(t, "worker running")
			base, _ = e.api(t)
			got := waitMails(t, e.smtp, 1)
			if len(got[0].To) != 1 || got[0].To[0] != "ned@stark.net" {
				t.Errorf("the mail went to %v, want ned@stark.net", got[0].To)
			}
			st := taskState(t, base, task)
			if st["state"] != "done" || st["attempts"] != float64(1) || st["command"] != "send_welcome_mail" {
				t.Errorf("task %v, want done at attempt 1", st)
			}
			m := welcomeLink.FindStringSubmatch(textOf(t, got[0]))
			if m == nil {
				t.Fatalf("no set-password link on app.example.net in:\n%s", textOf(t, got[0]))
			}
			token, err := url.QueryUnescape(m[1])
			if err != nil {
				t.Fatal(err)
			}
			res, err := http.Post(base+"/password", "application/json", strings.NewReader(`{"token":"`+token+`","password":"WinterIsComing1"}`))
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != 204 {
				t.Errorf("the mail's link: POST /password %d, want 204", res.StatusCode)
			}
		})
	}
}

// TestTwoWorkersRunEachTaskOnce: 60 sign-in mail tasks, one per user,
// enqueued on PostgreSQL by a server that only enqueues, are run by two
// worker processes started together: every task done at its first
// attempt, 60 mails, one to each user, and both processes ran some (the
// relay holds every mail until both are running, so the first cannot
// take them all).
func TestTwoWorkersRunEachTaskOnce(t *testing.T) {
	const n = 60
	gate := make(chan struct{})
	var once sync.Once
	open := func() { once.Do(func() { close(gate) }) }
	t.Cleanup(open)
	e := newTaskEnv(t, dbtest.Postgres(t), func(string, []string, []byte) error {
		select {
		case <-gate:
			return nil
		case <-time.After(30 * time.Second):
			return fmt.Errorf("the test never opened the gate")
		}
	})
	base, _ := e.api(t)
	d := domainWithApp(t, base, "stark.net")
	tasks := make(map[string]string, n) // recipient → task
	for i := range n {
		rcpt := fmt.Sprintf("user%02d@stark.net", i)
		do(t, base, "POST", "/users", `{"email":"`+rcpt+`","status":"ENABLED","domainId":"`+d+`"}`, 201)
		tasks[rcpt] = launchTask(t, base, "send_token_mail", rcpt)
	}

	w1, logs1 := e.worker(t)
	w2, logs2 := e.worker(t)
	logs1.wait(t, "worker running")
	logs2.wait(t, "worker running")
	open()

	got := waitMails(t, e.smtp, n)
	per := map[string]int{}
	for _, m := range got {
		for _, to := range m.To {
			per[to]++
		}
	}
	for rcpt, task := range tasks {
		if per[rcpt] != 1 {
			t.Errorf("%d mails to %s, want 1", per[rcpt], rcpt)
		}
		if st := taskState(t, base, task); st["state"] != "done" || st["attempts"] != float64(1) {
			t.Errorf("task of %s: %v, want done at attempt 1", rcpt, st)
		}
	}

	// Who ran what: River records the client of each attempt.
	store, err := db.Open(db.Options{URL: e.url})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	sqlDB, err := store.SQL()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rows, err := sqlDB.QueryContext(ctx, `SELECT attempted_by[1], count(*) FROM river_job WHERE kind = 'send_token_mail' AND cardinality(attempted_by) = 1 GROUP BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	ran := map[string]int{}
	for rows.Next() {
		var client string
		var count int
		if err := rows.Scan(&client, &count); err != nil {
			t.Fatal(err)
		}
		ran[client] = count
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	t.Logf("tasks run per worker process (River client): %v", ran)
	total := 0
	for _, c := range ran {
		total += c
	}
	if len(ran) != 2 || total != n {
		t.Errorf("tasks run once by each client: %v, want two clients and %d in all", ran, n)
	}

	// Both stop cleanly on SIGTERM.
	for _, w := range []struct {
		cmd  *exec.Cmd
		logs *logLines
	}{{w1, logs1}, {w2, logs2}} {
		if err := w.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		w.logs.wait(t, "stopped")
		if err := w.cmd.Wait(); err != nil {
			t.Errorf("a worker's exit after SIGTERM: %v", err)
		}
	}
}

// TestWorkerFinishesItsJobOnSIGTERM: a worker told to stop while it is
// sending a mail (the relay holding the message) finishes that job before
// it exits: the mail is accepted once, the task done at its first attempt,
// the exit clean. (River cancels running jobs when the context given to
// its Start ends: the worker's, cancelled by the signal, cut the mail and
// left the task to be retried, and sent again.)
func TestWorkerFinishesItsJobOnSIGTERM(t *testing.T) {
	arrived, release := make(chan struct{}, 1), make(chan struct{})
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	e := newTaskEnv(t, dbtest.SQLite(t), func(string, []string, []byte) error {
		select {
		case arrived <- struct{}{}:
		default: // a second mail: counted below
		}
		select {
		case <-release:
		case <-time.After(30 * time.Second):
		}
		return nil
	})
	base, _ := e.api(t)
	d := domainWithApp(t, base, "stark.net")
	do(t, base, "POST", "/users", `{"email":"ned@stark.net","status":"ENABLED","domainId":"`+d+`"}`, 201)
	w, logs := e.worker(t)
	logs.wait(t, "worker running")
	task := launchTask(t, base, "send_welcome_mail", "ned@stark.net")
	select {
	case <-arrived:
	case <-time.After(30 * time.Second):
		t.Fatal("no mail at the relay after 30s")
	}
	if err := w.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	logs.wait(t, "shutting down: finishing running jobs")
	time.Sleep(200 * time.Millisecond) // a cut would come now
	once.Do(func() { close(release) })
	logs.wait(t, "stopped")
	if err := w.Wait(); err != nil {
		t.Errorf("the worker's exit after SIGTERM: %v", err)
	}
	if st := taskState(t, base, task); st["state"] != "done" || st["attempts"] != float64(1) {
		t.Errorf("task %v, want done at attempt 1", st)
	}
	if n := len(e.smtp.Received()); n != 1 {
		t.Errorf("%d mails, want 1", n)
	}
}

// TestWorkerNeedsTheJWTKey: a worker without the key the API's processes
// share would mail links they refuse: it does not start.
func TestWorkerNeedsTheJWTKey(t *testing.T) {
	t.Setenv("CLEANMAIL_JWT_KEY", "")
	t.Setenv("CLEANMAIL_DATABASE_URL", "sqlite:"+t.TempDir()+"/cleanmail.db")
	err := run([]string{"worker"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "CLEANMAIL_JWT_KEY") {
		t.Errorf("worker without CLEANMAIL_JWT_KEY: %v", err)
	}
}
