package api_test

import (
	"bytes"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/cleanmail/cleanmail/pkg/api"
	"github.com/cleanmail/cleanmail/pkg/mailstore"
	"github.com/cleanmail/cleanmail/pkg/peertest"
	"github.com/cleanmail/cleanmail/pkg/submit"
)

// The mail operations against the real peers our users run: a message
// held in a user's quarantine in Dovecot is found by search, paged, read,
// its attachment downloaded, and released through Postfix, which delivers
// it back into the user's INBOX in Dovecot, its spam tag removed and every
// other byte intact.
func TestQuarantineWithDovecotAndPostfix(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"sqlite", "postgres"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dv := peertest.StartDovecot(t)
			pf := peertest.StartPostfix(t, dv)
			store, err := mailstore.New(mailstore.Options{URL: "imap://" + dv.IMAPAddr, MasterUser: dv.MasterUser,
				MasterPassword: dv.MasterPassword, Separator: dv.Separator, Timeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { store.Close() })
			relay, err := submit.ParseURL("smtp://" + pf.SMTPAddr)
			if err != nil {
				t.Fatal(err)
			}
			e := newEnvWith(t, databases(t)[name](t), func(o *api.Options) { o.Mail, o.Relays = store, []submit.Relay{relay} })

			host, port, _ := net.SplitHostPort(pf.SMTPAddr)
			p, _ := strconv.Atoi(port)
			d := e.newDomain("stark.net", map[string]any{"quarantine": true,
				"platforms": []map[string]any{{"name": "postfix", "transportDest": host, "transportType": "SMTP", "transportPort": p}}})
			ned := e.newUser(d, "ned@stark.net")
			// The relay checks of the platform, against Postfix.
			platform := e.do(req{Method: "GET", Path: "/domains/" + d}).expect(200).json()["platforms"].([]any)[0].(map[string]any)["id"].(string)
			if rep := e.do(req{Method: "POST", Path: "/platforms/" + platform + "/health"}).expect(201).json()["report"].(map[string]any); rep["status"] != true {
				t.Errorf("the relay checks against Postfix: %v", rep)
			}
			policy := e.do(req{Method: "GET", Path: "/domains/" + d}).expect(200).json()["policy"].(map[string]any)["id"].(string)
			e.do(req{Method: "PATCH", Path: "/policies/" + policy, Body: map[string]any{"relayProps": map[string]any{
				"relaySpam": false, "relayAdvert": false, "prefixSpam": "[SPAM] ", "relayBadHeaders": false, "relayBadAttachments": false, "spamScoreLimit": 5}}}).expect(204)
			for i := range 3 {
				dv.Deliver(t, "ned@stark.net", "Quarantine", mail("x@example.org", "ned@stark.net", "noise "+strconv.Itoa(i), "n"+strconv.Itoa(i)+"@x", "noise"))
			}
			dv.Deliver(t, "ned@stark.net", "Quarantine", []byte(held))

			base := "/users/" + ned + "/emails/Quarantine"
			createFolder(t, dv, "ned@stark.net", "Quarantine/Old")
			folders := e.do(req{Method: "GET", Path: "/users/" + ned + "/emails/folders?fields=STATS"}).expect(200).list()
			var quarantine map[string]any
			for _, f := range folders {
				if f["path"] == "Quarantine" {
					quarantine = f
				}
			}
			if quarantine == nil || quarantine["messageCount"] != 4.0 || quarantine["childrenUri"] == nil {
				t.Errorf("Dovecot's folders: %v", folders)
			}
			if kids := e.do(req{Method: "GET", Path: quarantine["childrenUri"].(string)}).expect(200).list(); len(kids) != 1 || kids[0]["name"] != "Old" {
				t.Errorf("Quarantine's children on Dovecot: %v", kids)
			}
			r := e.do(req{Method: "GET", Path: base + "?subject=debts&pageSize=1"}).expect(200)
			found := r.list()
			if len(found) != 1 || r.Header.Get("X-Total-Count") != "1" || found[0]["subject"] != "[SPAM] Debts" || found[0]["hasAttachments"] != true {
				t.Fatalf("search: %s", r.Body)
			}
			r = e.do(req{Method: "GET", Path: base + "?sort=-receivedDate&pageSize=2&offset=1"}).expect(200)
			if r.Header.Get("X-Total-Count") != "4" || len(r.list()) != 2 {
				t.Errorf("a page of 2 at offset 1: %s (total %s)", r.Body, r.Header.Get("X-Total-Count"))
			}
			id := found[0]["id"].(string)
			m := e.do(req{Method: "GET", Path: base + "/" + id + "?fields=HEADERS,ATTACHMENTS"}).expect(200).json()
			att := m["attachments"].(map[string]any)["items"].([]any)[0].(map[string]any)
			if body := e.do(req{Method: "GET", Path: att["downloadUri"].(string)}).expect(200).Body; string(body) != "%PDF-1.4" {
				t.Errorf("the attachment from Dovecot: %q", body)
			}
			if z := e.do(req{Method: "GET", Path: m["attachments"].(map[string]any)["archiveUri"].(string)}).expect(200); z.Header.Get("Content-Type") != "application/zip" || len(z.Body) < 100 {
				t.Errorf("the archive from Dovecot: %s, %d bytes", z.Header.Get("Content-Type"), len(z.Body))
			}

			e.do(req{Method: "POST", Path: base + "/fugl-1/release"}).expect(204)
			want := strings.NewReplacer("Subject: [SPAM] Debts\r\n", "Subject: Debts\r\n", "X-Spam-Flag: YES\r\n", "",
				"X-Spam-Status: Yes, score=9.1\r\n  tests=LOTS\r\n", "").Replace(held)
			// Return-Path is Postfix's and Dovecot's to write: the stored
			// one is replaced; everything after the trace fields is ours.
			want = want[strings.Index(want, "From: "):]
			var inbox [][]byte
			for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
				if inbox = dv.Messages(t, "ned@stark.net", "INBOX"); len(inbox) > 0 {
					break
				}
			}
			if len(inbox) != 1 {
				t.Fatalf("INBOX holds %d messages after the release", len(inbox))
			}
			got := inbox[0]
			i := bytes.Index(got, []byte("\r\nFrom: "))
			if i < 0 || string(got[i+2:]) != want {
				t.Errorf("delivered:\n%s\nwant, after the trace fields:\n%s", got, want)
			}
			if !bytes.Contains(got[:max(i, 0)], []byte("Return-Path: <sender@lannister.example>")) {
				t.Errorf("the envelope sender is not the original one:\n%s", got[:max(i, 0)])
			}
			// Sent through Postfix: delivered to the recipient's INBOX in
			// Dovecot, a copy in the sender's Sent.
			createFolder(t, dv, "ned@stark.net", "Sent")
			e.do(req{Method: "POST", Path: "/users/" + ned + "/emails/send", Body: map[string]any{
				"to": []string{"arya@winterfell.example"}, "subject": "Needle", "body": "<p>Stick them with the pointy end.</p>"}}).expect(200)
			var arya [][]byte
			for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline) && len(arya) == 0; time.Sleep(100 * time.Millisecond) {
				arya = dv.Messages(t, "arya@winterfell.example", "INBOX")
			}
			if len(arya) != 1 || !bytes.Contains(arya[0], []byte("Subject: Needle")) || !bytes.Contains(arya[0], []byte("pointy end")) ||
				!bytes.Contains(arya[0], []byte("\r\nFrom: <ned@stark.net>\r\n")) {
				t.Errorf("Arya's INBOX: %q", arya)
			}
			if sent := dv.Messages(t, "ned@stark.net", "Sent"); len(sent) != 1 || !bytes.Contains(sent[0], []byte("Subject: Needle")) {
				t.Errorf("Ned's Sent: %q", sent)
			}

			// Released once.
			e.do(req{Method: "POST", Path: base + "/fugl-1/release"}).expect(204)
			time.Sleep(500 * time.Millisecond)
			if n := len(dv.Messages(t, "ned@stark.net", "INBOX")); n != 1 {
				t.Errorf("INBOX holds %d messages after a second release, want 1", n)
			}
		})
	}
}

// createFolder creates a folder of user on d (IMAP, through the master
// user).
func createFolder(t *testing.T, d *peertest.Dovecot, user, folder string) {
	t.Helper()
	c, err := imapclient.DialInsecure(d.IMAPAddr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(user+d.Separator+d.MasterUser, d.MasterPassword).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Create(folder, nil).Wait(); err != nil {
		t.Fatal(err)
	}
}
