package api_test

import (
	"archive/zip"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cleanmail/cleanmail/pkg/loopback"
)

// mail is a small message for the tests.
func mail(from, to, subject, id, body string, extra ...string) []byte {
	h := fmt.Sprintf("From: %s\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: <%s>\r\nDate: Mon, 02 Nov 2026 10:00:00 +0000\r\n", from, to, subject, id)
	for _, x := range extra {
		h += x + "\r\n"
	}
	return []byte(h + "\r\n" + body + "\r\n")
}

func (e *env) deliver(user, folder string, raw []byte, at time.Time) {
	e.t.Helper()
	if err := e.imap.Deliver(user, folder, raw, at); err != nil {
		e.t.Fatal(err)
	}
}

func TestFoldersOverIMAP(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) {
		d := e.newDomain("stark.net")
		ned := e.newUser(d, "ned@stark.net")
		e.deliver("ned@stark.net", "Quarantine", mail("a@x.example", "ned@stark.net", "held", "1@x", "hi"), time.Now())
		e.deliver("ned@stark.net", "Quarantine/Überfällig", mail("a@x.example", "ned@stark.net", "late", "2@x", "hi"), time.Now())

		r := e.do(req{Method: "GET", Path: "/users/" + ned + "/emails/folders?fields=STATS"}).expect(200)
		byPath := map[string]map[string]any{}
		for _, f := range r.list() {
			byPath[f["path"].(string)] = f
		}
		q := byPath["Quarantine"]
		if len(byPath) != 4 || q == nil || q["messageCount"] != 1.0 || q["unreadMessageCount"] != 1.0 || r.Header.Get("X-Total-Count") != "4" {
			t.Fatalf("folders with STATS: %s", r.Body)
		}
		if q["messagesUri"] != "/users/"+ned+"/emails/Quarantine" || q["childrenUri"] != "/users/"+ned+"/emails/folders/Quarantine" {
			t.Errorf("Quarantine's URIs: %v, %v", q["messagesUri"], q["childrenUri"])
		}
		// Without STATS, no counts; by e-mail address as well as by id.
		for _, f := range e.do(req{Method: "GET", Path: "/users/ned@stark.net/emails/folders"}).expect(200).list() {
			if f["messageCount"] != nil || f["unreadMessageCount"] != nil {
				t.Errorf("counts without STATS: %v", f)
			}
		}
		// Children of a folder, the path percent-encoded; a non-ASCII name
		// comes back in UTF-8 (modified UTF-7 on the wire).
		kids := e.do(req{Method: "GET", Path: "/users/" + ned + "/emails/folders/" + url.PathEscape("Quarantine") + "?fields=STATS"}).expect(200).list()
		if len(kids) != 1 || kids[0]["path"] != "Quarantine/Überfällig" || kids[0]["name"] != "Überfällig" || kids[0]["messageCount"] != 1.0 {
			t.Fatalf("children of Quarantine: %v", kids)
		}
		content := e.do(req{Method: "GET", Path: kids[0]["messagesUri"].(string)}).expect(200).list()
		if len(content) != 1 || content[0]["subject"] != "late" {
			t.Errorf("the messages of %s: %v", kids[0]["messagesUri"], content)
		}

		e.do(req{Method: "GET", Path: "/users/" + ned + "/emails/folders/Nope"}).problem(404, "No folder has this path in this mailbox")
		e.do(req{Method: "GET", Path: "/users/" + ned + "/emails/folders?fields=SIZES"}).problem(400, `fields: "SIZES" is not a field of a folder (STATS is)`)
	})
}

func TestFolderContentOverIMAP(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) {
		d := e.newDomain("stark.net")
		ned := e.newUser(d, "ned@stark.net")
		base := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
		for i, s := range []string{"Invoice 7", "budget", "lunch", "Invoice 9", "report"} {
			extra := []string{}
			if i == 3 {
				extra = append(extra, "Importance: high", "X-Fuglu-Id: f-42", "Content-Type: multipart/mixed; boundary=b")
			}
			body := "nothing"
			if i == 3 {
				body = "--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--b\r\nContent-Type: application/pdf; name=a.pdf\r\nContent-Disposition: attachment; filename=a.pdf\r\n\r\n%PDF\r\n--b--"
			}
			e.deliver("ned@stark.net", "Quarantine", mail(fmt.Sprintf("%c@sender.example", 'a'+i), "Ned <ned@stark.net>", s, fmt.Sprintf("m%d@x", i), body, extra...),
				base.Add(time.Duration(i)*time.Hour))
		}
		path := "/users/" + ned + "/emails/Quarantine"
		subjects := func(l []map[string]any) string {
			var out []string
			for _, m := range l {
				out = append(out, m["subject"].(string))
			}
			return strings.Join(out, "|")
		}
		for query, want := range map[string]string{
			"?sort=receivedDate":                                         "Invoice 7|budget|lunch|Invoice 9|report",
			"?sort=-receivedDate&offset=1&pageSize=2":                    "Invoice 9|lunch",
			"?sort=-from":                                                "report|Invoice 9|lunch|budget|Invoice 7",
			"?sort=receivedDate&subject=invoice":                         "Invoice 7|Invoice 9",
			"?sort=receivedDate&subject=invoice&operator=NOT":            "budget|lunch|report",
			"?sort=receivedDate&subject=lunch&from=e@sender&operator=OR": "lunch|report",
			"?id=f-42": "Invoice 9",
			fmt.Sprintf("?sort=receivedDate&receivedAfter=%d&receivedBefore=%d", base.Add(time.Hour).UnixMilli(), base.Add(3*time.Hour).UnixMilli()): "budget|lunch",
		} {
			r := e.do(req{Method: "GET", Path: path + query}).expect(200)
			if got := subjects(r.list()); got != want {
				t.Errorf("GET %s: %q, want %q", query, got, want)
			}
		}
		r := e.do(req{Method: "GET", Path: path + "?pageSize=1"}).expect(200)
		all := r.list()
		if r.Header.Get("X-Total-Count") != "5" || len(all) != 1 {
			t.Fatalf("pageSize=1: %s (total %s)", r.Body, r.Header.Get("X-Total-Count"))
		}
		m := e.do(req{Method: "GET", Path: path + "?id=m3@x"}).expect(200).list()[0]
		if m["hasAttachments"] != true || m["important"] != true || m["seen"] != false || m["from"] != "d@sender.example" ||
			m["to"].([]any)[0] != "Ned <ned@stark.net>" || m["uri"] != path+"/"+m["id"].(string) || m["attachments"] != nil {
			t.Errorf("the message with an attachment: %v", m)
		}
		e.do(req{Method: "GET", Path: "/users/" + ned + "/emails/Nope"}).problem(404, "No folder has this path in this mailbox")
		e.do(req{Method: "GET", Path: path + "?sort=color"}).expect(400)
	})
}

// A mail store that is down answers the doc's 500, saying so, within the
// store's timeout.
func TestMailStoreDownIs500(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) {
		d := e.newDomain("stark.net")
		ned := e.newUser(d, "ned@stark.net")
		e.imap.Close()
		start := time.Now()
		e.do(req{Method: "GET", Path: "/users/" + ned + "/emails/folders"}).problem(500, "Unable to reach the mail store (IMAP); please retry later.")
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("took %v", d)
		}
	})
}

// held is a quarantined message: tagged as spam, with two attachments (one
// named beyond ASCII), in a folder.
var held = "Return-Path: <sender@lannister.example>\r\n" +
	"From: Tywin <tywin@lannister.example>\r\n" +
	"To: ned@stark.net\r\n" +
	"Subject: [SPAM] Debts\r\n" +
	"X-Spam-Flag: YES\r\n" +
	"X-Spam-Status: Yes, score=9.1\r\n" +
	"  tests=LOTS\r\n" +
	"Message-ID: <debts@lannister.example>\r\n" +
	"X-Fuglu-Id: fugl-1\r\n" +
	"Date: Mon, 02 Nov 2026 10:00:00 +0000\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/mixed; boundary=b\r\n" +
	"\r\n" +
	"--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>A Lannister always pays.</p>\r\n" +
	"--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"ledger.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQ=\r\n" +
	"--b\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Disposition: attachment; filename*=UTF-8''r%C3%A9sum%C3%A9.txt\r\n\r\nsummary\r\n" +
	"--b--\r\n"

func TestEmailContentAndAttachments(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) {
		d := e.newDomain("stark.net", map[string]any{"quarantine": true}) // temporary tokens need a mail service
		ned := e.newUser(d, "ned@stark.net")
		e.deliver("ned@stark.net", "Quarantine", []byte(held), time.Now())
		base := "/users/" + ned + "/emails/Quarantine/"

		// Found by UID, Message-ID (with or without <>) and X-Fuglu-Id.
		for _, id := range []string{"1", url.PathEscape("<debts@lannister.example>"), "debts@lannister.example", "fugl-1"} {
			m := e.do(req{Method: "GET", Path: base + id}).expect(200).json()
			if m["id"] != "1" || m["subject"] != "[SPAM] Debts" || m["headers"].(map[string]any)["X-Fuglu-Id"].([]any)[0] != "fugl-1" {
				t.Errorf("GET %s: %v", id, m)
			}
		}
		// A sysadmin gets no body nor source, even when asking.
		m := e.do(req{Method: "GET", Path: base + "1?fields=HEADERS,BODY,SOURCE,ATTACHMENTS"}).expect(200).json()
		if m["content"] != nil || m["source"] != nil || m["attachments"].(map[string]any)["count"] != 2.0 {
			t.Errorf("a sysadmin's view: content %v, source %v, attachments %v", m["content"], m["source"], m["attachments"])
		}
		// The owner (an end user's temporary token) gets them.
		tok := e.tempToken(t, "ned@stark.net")
		m = e.do(req{Method: "GET", Path: base + "1?fields=BODY,SOURCE", Token: tok}).expect(200).json()
		if m["content"] != "<p>A Lannister always pays.</p>" || m["source"] != held || len(m["headers"].(map[string]any)) != 0 || m["attachments"] != nil {
			t.Errorf("the owner's view: %v", m)
		}
		e.do(req{Method: "GET", Path: base + "1?fields=COLOR"}).problem(400, `fields: "COLOR" is not a field of a message (HEADERS, BODY, SOURCE or ATTACHMENTS are)`)
		e.do(req{Method: "GET", Path: base + "nope@x"}).problem(404, "No message has this id in this folder")

		atts := e.do(req{Method: "GET", Path: base + "1/attachments"}).expect(200).json()
		items := atts["items"].([]any)
		if len(items) != 2 || atts["archiveUri"] != base+"1/attachments?dl=true" {
			t.Fatalf("attachments: %v", atts)
		}
		pdf, txt := items[0].(map[string]any), items[1].(map[string]any)
		if pdf["name"] != "ledger.pdf" || pdf["type"] != "application/pdf" || txt["name"] != "résumé.txt" {
			t.Errorf("attachment names and types: %v, %v", pdf, txt)
		}
		r := e.do(req{Method: "GET", Path: pdf["downloadUri"].(string)}).expect(200)
		if string(r.Body) != "%PDF-1.4" || r.Header.Get("Content-Type") != "application/pdf" || !strings.HasPrefix(r.Header.Get("Content-Disposition"), "attachment") {
			t.Errorf("the PDF: %q, %v", r.Body, r.Header)
		}
		r = e.do(req{Method: "GET", Path: txt["displayUri"].(string)}).expect(200)
		if string(r.Body) != "summary" || r.Header.Get("Content-Disposition") != "inline; filename*=utf-8''r%C3%A9sum%C3%A9.txt" {
			t.Errorf("the text, inline: %q, %q", r.Body, r.Header.Get("Content-Disposition"))
		}
		e.do(req{Method: "GET", Path: base + "1/attachments/9"}).expect(404)

		r = e.do(req{Method: "GET", Path: atts["archiveUri"].(string)}).expect(200)
		z, err := zip.NewReader(bytes.NewReader(r.Body), int64(len(r.Body)))
		if err != nil {
			t.Fatalf("the archive: %v (%s)", err, r.Header.Get("Content-Type"))
		}
		got := map[string]string{}
		for _, f := range z.File {
			rc, _ := f.Open()
			b, _ := io.ReadAll(rc)
			rc.Close()
			got[f.Name] = string(b)
		}
		if len(got) != 2 || got["ledger.pdf"] != "%PDF-1.4" || got["résumé.txt"] != "summary" {
			t.Errorf("the archive holds %v", got)
		}
	})
}

func TestReleaseEmail(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) {
		relay, err := loopback.StartSMTP(loopback.SMTPOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer relay.Close()
		host, port, _ := net.SplitHostPort(relay.Addr())
		p, _ := strconv.Atoi(port)
		d := e.newDomain("stark.net", map[string]any{"platforms": []map[string]any{{"name": "relay", "transportDest": host, "transportType": "SMTP", "transportPort": p}}})
		ned := e.newUser(d, "ned@stark.net")
		policy := e.do(req{Method: "GET", Path: "/domains/" + d}).expect(200).json()["policy"].(map[string]any)["id"].(string)
		e.do(req{Method: "PATCH", Path: "/policies/" + policy, Body: map[string]any{"relayProps": map[string]any{
			"relaySpam": false, "relayAdvert": false, "prefixSpam": "[SPAM] ", "relayBadHeaders": false, "relayBadAttachments": false, "spamScoreLimit": 5}}}).expect(204)
		e.deliver("ned@stark.net", "Quarantine", []byte(held), time.Now())
		infected := strings.Replace(string(mail("a@x.example", "ned@stark.net", "virus", "v@x", "EICAR")), "\r\n\r\n", "\r\nX-Virus-Status: Infected (Eicar-Test-Signature)\r\n\r\n", 1)
		e.deliver("ned@stark.net", "Quarantine", []byte(infected), time.Now())
		base := "/users/" + ned + "/emails/Quarantine/"

		e.do(req{Method: "POST", Path: base + "fugl-1/release"}).expect(204)
		got := relay.Received()
		if len(got) != 1 || got[0].From != "sender@lannister.example" || len(got[0].To) != 1 || got[0].To[0] != "ned@stark.net" {
			t.Fatalf("received %+v", got)
		}
		want := strings.NewReplacer("Subject: [SPAM] Debts\r\n", "Subject: Debts\r\n", "X-Spam-Flag: YES\r\n", "",
			"X-Spam-Status: Yes, score=9.1\r\n  tests=LOTS\r\n", "").Replace(held)
		if string(got[0].Data) != want {
			t.Errorf("released bytes:\n%q\nwant\n%q", got[0].Data, want)
		}
		// Released once: a second release sends nothing, and the message
		// is marked.
		e.do(req{Method: "POST", Path: base + "fugl-1/release"}).expect(204)
		if n := len(relay.Received()); n != 1 {
			t.Errorf("%d messages after a second release, want 1", n)
		}
		if flags := e.do(req{Method: "GET", Path: "/users/" + ned + "/emails/Quarantine?id=fugl-1"}).expect(200).list(); len(flags) != 1 {
			t.Errorf("the released message: %v", flags)
		}

		e.do(req{Method: "POST", Path: base + "v@x/release"}).expect(412)
		e.do(req{Method: "POST", Path: base + "debts@lannister.example/release", Header: map[string]string{"X-Virus-Lover": "yes"}}).expect(412)
		e.do(req{Method: "POST", Path: base + "v@x/release", Header: map[string]string{"X-Virus-Lover": "yes"}}).expect(204)
		if n := len(relay.Received()); n != 2 {
			t.Errorf("%d messages after releasing the infected one, want 2", n)
		}
		e.do(req{Method: "POST", Path: base + "nope@x/release"}).problem(404, "No message has this id in this folder")

		// The platform down: the doc's 500, saying which peer.
		relay.Close()
		e.deliver("ned@stark.net", "Quarantine", []byte(mail("a@x.example", "ned@stark.net", "later", "l@x", "x")), time.Now())
		e.do(req{Method: "POST", Path: base + "l@x/release"}).problem(500, "Unable to reach the SMTP relay; please retry later.")
	})
}

// TestFolderContentDateBounds: dates beyond what IMAP can say (four-digit
// years) are the client's 400, not the mail store's failure.
func TestFolderContentDateBounds(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) {
		d := e.newDomain("stark.net")
		ned := e.newUser(d, "ned@stark.net")
		e.do(req{Method: "GET", Path: "/users/" + ned + "/emails/INBOX?receivedBefore=9223372036854775807"}).problem(400, "receivedBefore")
		e.do(req{Method: "GET", Path: "/users/" + ned + "/emails/INBOX?receivedAfter=-1"}).problem(400, "receivedAfter")
		e.do(req{Method: "GET", Path: "/users/" + ned + "/emails/INBOX?receivedBefore=253402300799999"}).expect(200)
	})
}
