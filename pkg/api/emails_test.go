package api_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"
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
