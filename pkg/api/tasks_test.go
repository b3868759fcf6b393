package api_test

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gomail "github.com/emersion/go-message/mail"
	"github.com/riverqueue/river"
	"golang.org/x/crypto/bcrypt"

	"github.com/cleanmail/cleanmail/pkg/api"
	"github.com/cleanmail/cleanmail/pkg/jobs"
	"github.com/cleanmail/cleanmail/pkg/loopback"
	"github.com/cleanmail/cleanmail/pkg/submit"
)

// queues holds the job queue of each store whose env runs jobs, for the
// test to start once the server has registered its workers.
var queues sync.Map // *db.Store → *jobs.Queue

// forEachDBWithJobs is forEachDB with a job queue whose workers run (fast
// polling, fast retries), and more options set by also.
func forEachDBWithJobs(t *testing.T, also func(*api.Options), fn func(t *testing.T, e *env)) {
	forEachDBWithQueue(t, jobs.Options{}, also, fn)
}

// forEachDBWithQueue is forEachDBWithJobs with the queue's options (its
// periodic jobs).
func forEachDBWithQueue(t *testing.T, qo jobs.Options, also func(*api.Options), fn func(t *testing.T, e *env)) {
	forEachDBWith(t, func(o *api.Options) {
		ctx := context.Background()
		if _, err := jobs.Migrate(ctx, o.Store); err != nil {
			t.Fatal(err)
		}
		o.Workers = river.NewWorkers()
		qo := qo
		qo.Workers, qo.Poll, qo.RetryBase, qo.MaxAttempts = o.Workers, 20*time.Millisecond, 20*time.Millisecond, 4
		q, err := jobs.Open(ctx, o.Store, qo)
		if err != nil {
			t.Fatal(err)
		}
		o.Jobs = q
		queues.Store(o.Store, q)
		if also != nil {
			also(o)
		}
	}, func(t *testing.T, e *env) {
		v, _ := queues.Load(e.store)
		q := v.(*jobs.Queue)
		if err := q.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = q.Stop(ctx)
			queues.Delete(e.store)
		})
		fn(t, e)
	})
}

// waitTask polls GET /tasks/{id} (the Location) until the task is in one
// of the states.
func (e *env) waitTask(t *testing.T, location string, states ...string) map[string]any {
	t.Helper()
	path := location[strings.Index(location, "/tasks/"):]
	deadline := time.Now().Add(20 * time.Second)
	for {
		st := e.do(req{Method: "GET", Path: path}).expect(200).json()
		for _, s := range states {
			if st["state"] == s {
				return st
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("task %s still %v: %v", path, st["state"], st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// mailTo waits for the n-th mail to rcpt and parses it.
func mailTo(t *testing.T, srv *loopback.SMTPServer, rcpt string, n int) (*gomail.Reader, string, string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var got []loopback.Envelope
		for _, env := range srv.Received() {
			if len(env.To) == 1 && env.To[0] == rcpt {
				got = append(got, env)
			}
		}
		if len(got) >= n {
			mr, err := gomail.CreateReader(strings.NewReader(string(got[n-1].Data)))
			if err != nil {
				t.Fatal(err)
			}
			subject, _ := mr.Header.Subject()
			text, err := got[n-1].Text()
			if err != nil {
				t.Fatal(err)
			}
			return mr, subject, text
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d mails to %s after 20s, want %d", len(got), rcpt, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func countTo(srv *loopback.SMTPServer, rcpt string) int {
	n := 0
	for _, env := range srv.Received() {
		if len(env.To) == 1 && env.To[0] == rcpt {
			n++
		}
	}
	return n
}

var linkToken = regexp.MustCompile(`https://app\.lannister\.net/([a-z-]*)\?token=([A-Za-z0-9_.%-]+)`)

// link finds the mail's link to the application and its token.
func link(t *testing.T, text string) (page, token string) {
	t.Helper()
	m := linkToken.FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no link to the application in:\n%s", text)
	}
	tok, err := url.QueryUnescape(m[2])
	if err != nil {
		t.Fatal(err)
	}
	return m[1], tok
}

func (e *env) passwordIs(t *testing.T, email, password string) bool {
	t.Helper()
	sqlDB, err := e.store.SQL()
	if err != nil {
		t.Fatal(err)
	}
	var hash string
	if err := sqlDB.QueryRow(e.placeholders("SELECT password_hash FROM users WHERE email = ?"), email).Scan(&hash); err != nil {
		t.Fatal(err)
	}
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) == nil
}

// TestTaskMails: each mail command's mail arrives once, in the user's
// language, from NOTIFICATION_SENDER, with links on APP_URL that work
// through the API: the welcome and reset links set a password once, the
// token link signs in.
func TestTaskMails(t *testing.T) {
	t.Parallel()
	forEachDBWithJobs(t, nil, func(t *testing.T, e *env) {
		lannister := e.newDomain("lannister.net", map[string]any{"defaultLanguage": "EN"})
		e.do(req{Method: "POST", Path: "/domains/" + lannister + "/options", Body: map[string]any{"name": "APP_URL", "value": "app.lannister.net"}}).expect(201)
		e.do(req{Method: "POST", Path: "/domains/" + lannister + "/options", Body: map[string]any{"name": "NOTIFICATION_SENDER", "value": "noreply@lannister.net"}}).expect(201)
		cersei := e.newUser(lannister, "cersei@lannister.net", map[string]any{"language": "FR"})
		e.newUser(lannister, "jaime@lannister.net", map[string]any{"language": "DE"})

		// The welcome mail, in French; its link sets a first password, once.
		r := e.do(req{Method: "POST", Path: "/tasks", Body: map[string]any{"command": "send_welcome_mail", "params": map[string]any{"recipient": "cersei@lannister.net"}}}).expect(202)
		st := e.waitTask(t, r.Header.Get("Location"), "done")
		if st["command"] != "send_welcome_mail" || st["attempts"] != float64(1) || st["finalizedAt"] == nil {
			t.Errorf("task %v", st)
		}
		mr, subject, text := mailTo(t, e.smtp, "cersei@lannister.net", 1)
		if from, _ := mr.Header.AddressList("From"); len(from) != 1 || from[0].Address != "noreply@lannister.net" {
			t.Errorf("From %v", from)
		}
		if a := mr.Header.Get("Auto-Submitted"); a != "auto-generated" {
			t.Errorf("Auto-Submitted %q, want auto-generated", a)
		}
		if !strings.Contains(strings.ToLower(subject+text), "bienvenue") {
			t.Errorf("not French: %q\n%s", subject, text)
		}
		page, token := link(t, text)
		if page != "set-password" {
			t.Errorf("welcome link to %q", page)
		}
		e.do(req{Method: "POST", Path: "/password", Token: "-", Body: map[string]any{"token": token, "password": "HearMeRoar!"}}).expect(204)
		if !e.passwordIs(t, "cersei@lannister.net", "HearMeRoar!") {
			t.Error("the welcome link did not set the password")
		}
		e.do(req{Method: "POST", Path: "/password", Token: "-", Body: map[string]any{"token": token, "password": "Another1!"}}).problem(422, "already been used")
		e.do(req{Method: "POST", Path: "/password", Token: "-", Body: map[string]any{"token": "forged", "password": "Another1!"}}).problem(422, "invalid")
		if !e.passwordIs(t, "cersei@lannister.net", "HearMeRoar!") {
			t.Error("a used link changed the password")
		}

		// The reset mail, in German; valid 2 hours, once.
		r = e.do(req{Method: "POST", Path: "/tasks", Body: map[string]any{"command": "send_password_reset_mail", "params": map[string]any{"recipient": "jaime@lannister.net", "validity": 2}}}).expect(202)
		e.waitTask(t, r.Header.Get("Location"), "done")
		_, subject, text = mailTo(t, e.smtp, "jaime@lannister.net", 1)
		if !strings.Contains(subject+text, "Passwort") {
			t.Errorf("not German: %q\n%s", subject, text)
		}
		page, token = link(t, text)
		if page != "reset-password" {
			t.Errorf("reset link to %q", page)
		}
		e.do(req{Method: "POST", Path: "/password", Token: "-", Body: map[string]any{"token": token, "password": "Kingslayer1"}}).expect(204)
		e.do(req{Method: "POST", Path: "/password", Token: "-", Body: map[string]any{"token": token, "password": "Kingslayer2"}}).problem(422, "")
		if !e.passwordIs(t, "jaime@lannister.net", "Kingslayer1") {
			t.Error("the reset link did not set the password once")
		}

		// The token mail: its link's token signs in as cersei.
		r = e.do(req{Method: "POST", Path: "/tasks", Body: map[string]any{"command": "send_token_mail", "params": map[string]any{"recipient": "cersei@lannister.net", "validity": 1}}}).expect(202)
		e.waitTask(t, r.Header.Get("Location"), "done")
		_, _, text = mailTo(t, e.smtp, "cersei@lannister.net", 2)
		page, token = link(t, text)
		if page != "" {
			t.Errorf("token link to %q", page)
		}
		if u := e.do(req{Method: "GET", Path: "/users/" + cersei, Token: token}).expect(200).json(); u["email"] != "cersei@lannister.net" {
			t.Errorf("the token signs in as %v", u["email"])
		}
		// GET /token?sendMail=true mails it instead of answering it.
		r = e.do(req{Method: "GET", Path: "/token?username=cersei@lannister.net&sendMail=true&validity=3"}).expect(202)
		if tok := r.json(); tok["token"] != "" || tok["url"] != nil {
			t.Errorf("a mailed token in the response: %v", tok)
		}
		e.waitTask(t, r.Header.Get("Location"), "done")
		_, _, text = mailTo(t, e.smtp, "cersei@lannister.net", 3)
		if _, token = link(t, text); e.do(req{Method: "GET", Path: "/users/" + cersei, Token: token}).Status != 200 {
			t.Error("the mailed token does not sign in")
		}

		// Each mail once.
		time.Sleep(200 * time.Millisecond)
		if n, m := countTo(e.smtp, "cersei@lannister.net"), countTo(e.smtp, "jaime@lannister.net"); n != 3 || m != 1 {
			t.Errorf("%d mails to cersei, %d to jaime; want 3 and 1", n, m)
		}
	})
}

// TestTaskRefusals: bad commands and parameters are 400s naming them,
// unmet conditions 422s, a caller without the command's permission 403,
// commands not built yet 501; and another's task is not found.
func TestTaskRefusals(t *testing.T) {
	t.Parallel()
	forEachDBWithJobs(t, nil, func(t *testing.T, e *env) {
		lannister := e.newDomain("lannister.net")
		stark := e.newDomain("stark.net")
		e.do(req{Method: "POST", Path: "/domains/" + lannister + "/options", Body: map[string]any{"name": "APP_URL", "value": "app.lannister.net"}}).expect(201)
		e.newUser(lannister, "cersei@lannister.net")
		e.newUser(lannister, "tyrion@lannister.net", map[string]any{"status": "DISABLED"})
		e.newUser(stark, "arya@stark.net")
		task := func(cmd string, params map[string]any) req {
			return req{Method: "POST", Path: "/tasks", Body: map[string]any{"command": cmd, "params": params}}
		}
		e.do(task("send_welcome_mail", map[string]any{})).problem(400, "params.recipient")
		e.do(task("send_welcome_mail", map[string]any{"recipient": "not an address"})).problem(400, "params.recipient")
		e.do(task("send_welcome_mail", map[string]any{"recipient": "cersei@lannister.net", "validity": 3})).problem(400, "params.validity")
		e.do(task("send_token_mail", map[string]any{"recipient": "cersei@lannister.net", "validity": 0})).problem(400, "params.validity")
		e.do(task("send_token_mail", map[string]any{"recipient": "cersei@lannister.net", "validity": "24"})).problem(400, "params.validity")
		e.do(task("send_token_mail", map[string]any{"recipient": "cersei@lannister.net", "validity": 745})).problem(400, "params.validity")
		e.do(task("send_token_mail", map[string]any{"recipient": "cersei@lannister.net", "validity": 1.5})).problem(400, "params.validity")
		e.do(task("send_lunch", map[string]any{"recipient": "cersei@lannister.net"})).problem(400, "command")
		e.do(task("send_welcome_mail", map[string]any{"recipient": "nobody@lannister.net"})).problem(422, "nobody@lannister.net")
		e.do(task("send_welcome_mail", map[string]any{"recipient": "tyrion@lannister.net"})).problem(422, "disabled")
		e.do(task("send_welcome_mail", map[string]any{"recipient": "arya@stark.net"})).problem(422, "APP_URL")
		e.do(req{Method: "GET", Path: "/token?username=arya@stark.net&sendMail=true"}).problem(400, "APP_URL")
		e.do(req{Method: "GET", Path: "/token?username=tyrion@lannister.net&sendMail=true"}).problem(400, "disabled")
		e.do(task("remediate_message", map[string]any{"messageId": "<1@x>", "action": "DELETE"})).problem(422, "No mailbox within your reach")

		// A domain administrator: the welcome mail needs USER_EDIT on the
		// recipient's domain; a user of another domain is out of reach.
		_, reader := e.domainAdmin(lannister, "varys", "USER_READ")
		_, editor := e.domainAdmin(lannister, "littlefinger", "USER_READ", "USER_EDIT")
		r := task("send_welcome_mail", map[string]any{"recipient": "cersei@lannister.net"})
		r.Token = reader
		e.do(r).problem(403, "USER_EDIT")
		r.Token = editor
		loc := e.do(r).expect(202).Header.Get("Location")
		r = task("send_welcome_mail", map[string]any{"recipient": "arya@stark.net"})
		r.Token = editor
		e.do(r).problem(422, "arya@stark.net")
		// The launcher reads its task; another admin does not find it.
		path := loc[strings.Index(loc, "/tasks/"):]
		e.do(req{Method: "GET", Path: path, Token: editor}).expect(200)
		e.do(req{Method: "GET", Path: path, Token: reader}).problem(404, "")
		e.do(req{Method: "GET", Path: "/tasks/nope"}).problem(404, "")
	})
}

// TestWelcomeMailOnCreateUser: POST /users with sendNotification sends the
// welcome mail, in the same transaction as the user: none for a user not
// created.
func TestWelcomeMailOnCreateUser(t *testing.T) {
	t.Parallel()
	forEachDBWithJobs(t, nil, func(t *testing.T, e *env) {
		lannister := e.newDomain("lannister.net", map[string]any{"defaultLanguage": "ES"})
		stark := e.newDomain("stark.net")
		e.do(req{Method: "POST", Path: "/domains/" + lannister + "/options", Body: map[string]any{"name": "APP_URL", "value": "app.lannister.net"}}).expect(201)
		e.newUser(lannister, "tywin@lannister.net", map[string]any{"sendNotification": true})
		_, subject, text := mailTo(t, e.smtp, "tywin@lannister.net", 1)
		if !strings.Contains(strings.ToLower(subject+text), "bienvenid") {
			t.Errorf("not Spanish (the domain's language): %q\n%s", subject, text)
		}
		// A conflict: no second user, no second mail.
		e.do(req{Method: "POST", Path: "/users", Body: map[string]any{"email": "tywin@lannister.net", "status": "ENABLED", "domainId": lannister, "sendNotification": true}}).problem(409, "")
		// No APP_URL: 422 on sendNotification, and no user.
		e.do(req{Method: "POST", Path: "/users", Body: map[string]any{"email": "arya@stark.net", "status": "ENABLED", "domainId": stark, "sendNotification": true}}).problem(422, "APP_URL")
		e.do(req{Method: "GET", Path: "/users/arya@stark.net"}).problem(404, "")
		time.Sleep(200 * time.Millisecond)
		if n := countTo(e.smtp, "tywin@lannister.net"); n != 1 {
			t.Errorf("%d welcome mails, want 1", n)
		}
	})
}

// flaky is the relay of one env of TestTaskMailRetried: it refuses
// (451) cersei's first two mails and every one of jaime's, and rejects
// (550) tyrion.
type flaky struct {
	srv     *loopback.SMTPServer
	cersei  atomic.Int32
	refused atomic.Int32
}

var flakies sync.Map // *db.Store → *flaky

// TestTaskMailRetried: a relay that refuses twice then accepts: one mail,
// three attempts, the refusals recorded; one that refuses every time: the
// task fails after its attempts, its errors kept; one that rejects the
// recipient for good (5xx): cancelled at once, not retried.
func TestTaskMailRetried(t *testing.T) {
	t.Parallel()
	forEachDBWithJobs(t, func(o *api.Options) {
		f := &flaky{}
		srv, err := loopback.StartSMTP(loopback.SMTPOptions{Timeout: 5 * time.Second, ErrorLog: slog.NewLogLogger(slog.DiscardHandler, slog.LevelError),
			Reject: func(rcpt string) bool { return strings.HasPrefix(rcpt, "tyrion@") },
			Deliver: func(from string, to []string, data []byte) error {
				if strings.HasPrefix(to[0], "jaime@") || strings.HasPrefix(to[0], "cersei@") && f.cersei.Add(1) <= 2 {
					f.refused.Add(1)
					return errors.New("try again later")
				}
				return nil
			}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { srv.Close() })
		f.srv = srv
		relay, err := submit.ParseURL("smtp://" + srv.Addr())
		if err != nil {
			t.Fatal(err)
		}
		o.Relays = []submit.Relay{relay}
		flakies.Store(o.Store, f)
	}, func(t *testing.T, e *env) {
		v, _ := flakies.Load(e.store)
		f := v.(*flaky)
		lannister := e.newDomain("lannister.net")
		e.do(req{Method: "POST", Path: "/domains/" + lannister + "/options", Body: map[string]any{"name": "APP_URL", "value": "app.lannister.net"}}).expect(201)
		for _, u := range []string{"cersei", "jaime", "tyrion"} {
			e.newUser(lannister, u+"@lannister.net")
		}
		launch := func(who string) string {
			return e.do(req{Method: "POST", Path: "/tasks", Body: map[string]any{"command": "send_token_mail", "params": map[string]any{"recipient": who + "@lannister.net"}}}).expect(202).Header.Get("Location")
		}
		cersei, jaime, tyrion := launch("cersei"), launch("jaime"), launch("tyrion")

		st := e.waitTask(t, cersei, "done")
		if st["attempts"] != float64(3) || len(st["errors"].([]any)) != 2 || countTo(f.srv, "cersei@lannister.net") != 1 {
			t.Errorf("cersei's task %v, %d mails", st, countTo(f.srv, "cersei@lannister.net"))
		}
		if msg := st["errors"].([]any)[0].(map[string]any)["error"].(string); !strings.Contains(msg, "SMTP") {
			t.Errorf("the refusal recorded as %q", msg)
		}
		st = e.waitTask(t, jaime, "failed")
		if st["attempts"] != float64(4) || len(st["errors"].([]any)) != 4 || countTo(f.srv, "jaime@lannister.net") != 0 {
			t.Errorf("jaime's task %v", st)
		}
		st = e.waitTask(t, tyrion, "cancelled")
		if st["attempts"] != float64(1) || len(st["errors"].([]any)) != 1 {
			t.Errorf("tyrion's task %v", st)
		}
		if n := f.refused.Load(); n != 2+4 {
			t.Errorf("%d refusals, want 6", n)
		}
		flakies.Delete(e.store)
	})
}
