package api_test

import (
	"context"
	"log/slog"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/cleanmail/cleanmail/pkg/api"
	"github.com/cleanmail/cleanmail/pkg/jobs"
	"github.com/cleanmail/cleanmail/pkg/loopback"
	"github.com/cleanmail/cleanmail/pkg/notify"
)

// publicURL is the API's public URL in the digest tests: the release
// links are on it, and the tests follow them on the test server.
const publicURL = "https://api.cleanmail.example"

var releaseLink = regexp.MustCompile(`https://api\.cleanmail\.example(/releases/[A-Za-z0-9_.-]+)`)

// digestRelays are the platform relays of the digest tests' envs: where a
// released message goes.
var digestRelays sync.Map // *db.Store → *loopback.SMTPServer

// digestDomain makes stark.net with the quarantine and retention services,
// APP_URL, its platform the relay (where releases go), and ned.
func (e *env) digestDomain(t *testing.T, relay *loopback.SMTPServer) string {
	t.Helper()
	host, port, _ := net.SplitHostPort(relay.Addr())
	p, _ := strconv.Atoi(port)
	d := e.newDomain("stark.net", map[string]any{"quarantine": true, "retention": true, "defaultLanguage": "EN",
		"platforms": []map[string]any{{"name": "relay", "transportDest": host, "transportType": "SMTP", "transportPort": p}}})
	e.do(req{Method: "POST", Path: "/domains/" + d + "/options", Body: map[string]any{"name": "APP_URL", "value": "app.stark.net"}}).expect(201)
	return d
}

func withRelay(t *testing.T) func(*api.Options) {
	return func(o *api.Options) {
		o.PublicURL = publicURL
		relay, err := loopback.StartSMTP(loopback.SMTPOptions{Timeout: 5 * time.Second, ErrorLog: slog.NewLogLogger(slog.DiscardHandler, slog.LevelError)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { relay.Close() })
		digestRelays.Store(o.Store, relay)
	}
}

// TestQuarantineDigest: the spam digest lists what was held since the
// date asked, each message with a release link that releases that message
// and no other, once; the clean digest lists the delivered mail, without
// links; the conditions of the commands.
func TestQuarantineDigest(t *testing.T) {
	t.Parallel()
	forEachDBWithJobs(t, withRelay(t), func(t *testing.T, e *env) {
		v, _ := digestRelays.Load(e.store)
		relay := v.(*loopback.SMTPServer)
		stark := e.digestDomain(t, relay)
		ned := e.newUser(stark, "ned@stark.net")
		now := time.Now()
		e.deliver("ned@stark.net", "Quarantine", mail("old@lannister.example", "ned@stark.net", "last week", "old@x", "old"), now.Add(-7*24*time.Hour))
		e.deliver("ned@stark.net", "Quarantine", mail("tywin@lannister.example", "ned@stark.net", "Debts", "debts@x", "pay"), now.Add(-2*time.Hour))
		e.deliver("ned@stark.net", "Quarantine", mail("cersei@lannister.example", "ned@stark.net", "Wine", "wine@x", "drink"), now.Add(-time.Hour))
		e.deliver("ned@stark.net", "INBOX", mail("jon@stark.net", "ned@stark.net", "Winter", "winter@x", "coming"), now.Add(-time.Hour))

		since := now.Add(-3 * time.Hour).UnixMilli()
		r := e.do(req{Method: "POST", Path: "/tasks", Body: map[string]any{"command": "send_spamfight_spam_mail", "params": map[string]any{"recipient": "ned@stark.net", "since": since}}}).expect(202)
		e.waitTask(t, r.Header.Get("Location"), "done")
		_, subject, text := mailTo(t, e.smtp, "ned@stark.net", 1)
		if strings.Contains(text, "last week") || !strings.Contains(text, "Debts") || !strings.Contains(text, "Wine") {
			t.Errorf("the digest since 3 hours ago (%q):\n%s", subject, text)
		}
		links := releaseLink.FindAllStringSubmatch(text, -1)
		if len(links) != 2 {
			t.Fatalf("%d release links, want 2:\n%s", len(links), text)
		}
		// Newest first: Wine, then Debts. Release Debts.
		debts := links[1][1]
		before := len(relay.Received())
		page := e.do(req{Method: "GET", Path: debts, Token: "-"}).expect(200)
		if !strings.Contains(string(page.Body), "Message released") || !strings.Contains(string(page.Body), "Debts") {
			t.Errorf("release page: %s", page.Body)
		}
		got := relay.Received()
		if len(got) != before+1 || !strings.Contains(string(got[len(got)-1].Data), "Subject: Debts") || got[len(got)-1].To[0] != "ned@stark.net" {
			t.Fatalf("released: %+v", got[before:])
		}
		// Once: the link is used; the other message is still held, unreleased.
		e.do(req{Method: "GET", Path: debts, Token: "-"}).problem(422, "already been used")
		if len(relay.Received()) != before+1 {
			t.Error("a used link released again")
		}
		held := e.do(req{Method: "GET", Path: "/users/" + ned + "/emails/Quarantine?subject=Wine"}).expect(200).list()
		if len(held) != 1 {
			t.Fatalf("Wine: %v", held)
		}
		// Turned off since the digest: the link no longer releases.
		e.do(req{Method: "POST", Path: "/users/" + ned + "/options", Body: map[string]any{"name": "QUARANTINE_RELEASE_BY_USER", "value": "false"}}).expect(201)
		e.do(req{Method: "GET", Path: links[0][1], Token: "-"}).problem(422, "QUARANTINE_RELEASE_BY_USER")
		e.do(req{Method: "DELETE", Path: "/users/" + ned + "/options/QUARANTINE_RELEASE_BY_USER"}).expect(204)
		// A forged link, or one whose signature was changed.
		e.do(req{Method: "GET", Path: "/releases/forged.token", Token: "-"}).problem(422, "invalid")
		e.do(req{Method: "GET", Path: links[0][1] + "x", Token: "-"}).problem(422, "invalid")

		// The next digest, without since, starts at this one: nothing new.
		r = e.do(req{Method: "POST", Path: "/tasks", Body: map[string]any{"command": "send_spamfight_spam_mail", "params": map[string]any{"recipient": "ned@stark.net"}}}).expect(202)
		e.waitTask(t, r.Header.Get("Location"), "done")
		_, _, text = mailTo(t, e.smtp, "ned@stark.net", 2)
		if n := len(releaseLink.FindAllString(text, -1)); n != 0 || strings.Contains(text, "Wine") {
			t.Errorf("the second digest lists %d links:\n%s", n, text)
		}

		// The clean digest: the INBOX's mail, no release link.
		r = e.do(req{Method: "POST", Path: "/tasks", Body: map[string]any{"command": "send_spamfight_clean_mail", "params": map[string]any{"recipient": "ned@stark.net", "since": since}}}).expect(202)
		e.waitTask(t, r.Header.Get("Location"), "done")
		_, _, text = mailTo(t, e.smtp, "ned@stark.net", 3)
		if !strings.Contains(text, "Winter") || strings.Contains(text, "Debts") || releaseLink.MatchString(text) {
			t.Errorf("the clean digest:\n%s", text)
		}

		// At most QUARANTINE_REPORT_MAX_ENTRIES messages, the newest.
		e.deliver("ned@stark.net", "Quarantine", mail("littlefinger@vale.example", "ned@stark.net", "Gold", "gold@x", "chaos"), now.Add(-10*time.Minute))
		e.deliver("ned@stark.net", "Quarantine", mail("varys@kingslanding.example", "ned@stark.net", "Iron", "iron@x", "birds"), now.Add(-5*time.Minute))
		e.do(req{Method: "POST", Path: "/users/" + ned + "/options", Body: map[string]any{"name": "QUARANTINE_REPORT_MAX_ENTRIES", "value": "1"}}).expect(201)
		r = e.do(req{Method: "POST", Path: "/tasks", Body: map[string]any{"command": "send_spamfight_spam_mail", "params": map[string]any{"recipient": "ned@stark.net", "since": since}}}).expect(202)
		e.waitTask(t, r.Header.Get("Location"), "done")
		_, _, text = mailTo(t, e.smtp, "ned@stark.net", 4)
		iron := releaseLink.FindAllStringSubmatch(text, -1)
		if len(iron) != 1 || !strings.Contains(text, "Iron") || strings.Contains(text, "Gold") {
			t.Fatalf("a digest of at most 1 entry lists %d:\n%s", len(iron), text)
		}
		// Once the newest is released, the cap's one entry is the next
		// one held: released messages take no place in it.
		e.do(req{Method: "GET", Path: iron[0][1], Token: "-"}).expect(200)
		r = e.do(req{Method: "POST", Path: "/tasks", Body: map[string]any{"command": "send_spamfight_spam_mail", "params": map[string]any{"recipient": "ned@stark.net", "since": since}}}).expect(202)
		e.waitTask(t, r.Header.Get("Location"), "done")
		_, _, text = mailTo(t, e.smtp, "ned@stark.net", 5)
		if n := len(releaseLink.FindAllString(text, -1)); n != 1 || !strings.Contains(text, "Gold") || strings.Contains(text, "Iron") {
			t.Errorf("a digest of at most 1 entry, the newest released, lists %d:\n%s", n, text)
		}
		e.do(req{Method: "DELETE", Path: "/users/" + ned + "/options/QUARANTINE_REPORT_MAX_ENTRIES"}).expect(204)

		// The user itself may ask for its digest; a user without the
		// quarantine service has none.
		tok := e.tempToken(t, "ned@stark.net")
		e.do(req{Method: "POST", Path: "/tasks", Token: tok, Body: map[string]any{"command": "send_spamfight_spam_mail", "params": map[string]any{"recipient": "ned@stark.net"}}}).expect(202)
		lannister := e.newDomain("lannister.net", map[string]any{"quarantine": false})
		e.do(req{Method: "POST", Path: "/domains/" + lannister + "/options", Body: map[string]any{"name": "APP_URL", "value": "app.lannister.net"}}).expect(201)
		e.newUser(lannister, "tyrion@lannister.net")
		e.do(req{Method: "POST", Path: "/tasks", Body: map[string]any{"command": "send_spamfight_spam_mail", "params": map[string]any{"recipient": "tyrion@lannister.net"}}}).problem(422, "quarantine service")
		e.do(req{Method: "POST", Path: "/tasks", Body: map[string]any{"command": "send_spamfight_spam_mail", "params": map[string]any{"recipient": "ned@stark.net", "since": "yesterday"}}}).problem(400, "params.since")
	})
}

// TestDailyDigest: the digest round (River's periodic job, run at start)
// enqueues the digests of the users whose DIGEST_HOUR it is in their
// TIMEZONE: their held mail, once; not those of another hour, of
// QUARANTINE_REPORT_FREQUENCY NEVER, nor an empty one.
func TestDailyDigest(t *testing.T) {
	t.Parallel()
	now := time.Now()
	if now.Minute() == 59 && now.Second() > 45 {
		time.Sleep(20 * time.Second) // not across the hour
		now = time.Now()
	}
	forEachDBWithQueue(t, jobs.Options{Periodic: []*river.PeriodicJob{notify.DigestRound()}}, withRelay(t), func(t *testing.T, e *env) {
		v, _ := digestRelays.Load(e.store)
		stark := e.digestDomain(t, v.(*loopback.SMTPServer))
		hour := strconv.Itoa(now.In(time.FixedZone("", 0)).Hour())
		other := strconv.Itoa((now.UTC().Hour() + 5) % 24)
		users := map[string][]map[string]any{
			"arya":   {{"name": "DIGEST_HOUR", "value": hour}},
			"bran":   {{"name": "DIGEST_HOUR", "value": other}},
			"rickon": {{"name": "DIGEST_HOUR", "value": hour}, {"name": "QUARANTINE_REPORT_FREQUENCY", "value": "NEVER"}},
			"sansa":  {{"name": "DIGEST_HOUR", "value": hour}}, // nothing held
		}
		for name, opts := range users {
			id := e.newUser(stark, name+"@stark.net")
			for _, o := range opts {
				e.do(req{Method: "POST", Path: "/users/" + id + "/options", Body: o}).expect(201)
			}
			if name != "sansa" {
				e.deliver(name+"@stark.net", "Quarantine", mail("tywin@lannister.example", name+"@stark.net", "held for "+name, name+"@x", "x"), now.Add(-time.Hour))
			}
		}
		// The round ran when the queue started, before these users were
		// made: run it again, as River's leader does every quarter hour.
		v, _ = queues.Load(e.store)
		if _, err := v.(*jobs.Queue).Insert(context.Background(), notify.DigestRoundArgs{}, nil); err != nil {
			t.Fatal(err)
		}
		_, _, text := mailTo(t, e.smtp, "arya@stark.net", 1)
		if !strings.Contains(text, "held for arya") || len(releaseLink.FindAllString(text, -1)) != 1 {
			t.Errorf("arya's daily digest:\n%s", text)
		}
		time.Sleep(500 * time.Millisecond)
		for _, name := range []string{"bran", "rickon", "sansa"} {
			if n := countTo(e.smtp, name+"@stark.net"); n != 0 {
				t.Errorf("%d digests to %s", n, name)
			}
		}
		if n := countTo(e.smtp, "arya@stark.net"); n != 1 {
			t.Errorf("%d digests to arya, want 1", n)
		}
	})
}
