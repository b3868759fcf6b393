package api_test

import (
	"bytes"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	gomail "github.com/emersion/go-message/mail"

	"github.com/cleanmail/cleanmail/pkg/api"
	"github.com/cleanmail/cleanmail/pkg/loopback"
	"github.com/cleanmail/cleanmail/pkg/submit"
)

func TestSendEmail(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) {
		stark := e.newDomain("stark.net", map[string]any{"quarantine": true})
		ned := e.newUser(stark, "ned@stark.net", map[string]any{"firstname": "Eddard", "lastname": "Stark"})
		plan := e.upload("", "plan.txt", "text/plain; charset=utf-8", []byte("march north\n"))
		pdf := e.upload("", "x.pdf", "application/pdf", []byte("%PDF\x00\xff"))
		e.deliver("ned@stark.net", "Drafts", mail("ned@stark.net", "arya@stark.net", "draft", "d1@stark.net", "draft"), time.Now())
		drafts := e.do(req{Method: "GET", Path: "/users/" + ned + "/emails/Drafts"}).expect(200).list()
		if len(drafts) != 1 {
			t.Fatalf("drafts: %v", drafts)
		}

		e.do(req{Method: "POST", Path: "/users/" + ned + "/emails/send", Body: map[string]any{
			"to": []string{"Arya Stark <arya@stark.net>"}, "cc": []string{"jon@wall.example"}, "bcc": []string{"bran@stark.net"},
			"subject": "Winter ❄", "body": "<p>Winter is <b>coming</b></p>",
			"attachments": []map[string]any{{"uid": plan["uid"], "name": "plan.txt"}, {"uid": pdf["uid"], "name": "Überfällig.pdf"}},
			"originId":    "<orig@wall.example>", "ack": true, "important": true, "draftId": drafts[0]["id"],
		}}).expect(200)

		got := e.smtp.Received()
		if len(got) != 1 {
			t.Fatalf("the relay received %d messages, want 1", len(got))
		}
		env := got[0]
		if env.From != "ned@stark.net" || !slices.Equal(env.To, []string{"arya@stark.net", "jon@wall.example", "bran@stark.net"}) {
			t.Errorf("envelope: from %q to %v", env.From, env.To)
		}
		r, err := gomail.CreateReader(bytes.NewReader(env.Data))
		if err != nil {
			t.Fatal(err)
		}
		h := r.Header
		from, _ := h.AddressList("From")
		to, _ := h.AddressList("To")
		cc, _ := h.AddressList("Cc")
		subject, _ := h.Subject()
		inReplyTo, _ := h.MsgIDList("In-Reply-To")
		refs, _ := h.MsgIDList("References")
		dnt, _ := h.AddressList("Disposition-Notification-To")
		if len(from) != 1 || from[0].Address != "ned@stark.net" || from[0].Name != "Eddard Stark" {
			t.Errorf("From: %v", from)
		}
		if len(to) != 1 || to[0].Address != "arya@stark.net" || len(cc) != 1 || cc[0].Address != "jon@wall.example" || h.Has("Bcc") {
			t.Errorf("To %v, Cc %v, Bcc %q", to, cc, h.Get("Bcc"))
		}
		if subject != "Winter ❄" || !slices.Equal(inReplyTo, []string{"orig@wall.example"}) || !slices.Equal(refs, []string{"orig@wall.example"}) {
			t.Errorf("Subject %q, In-Reply-To %v, References %v", subject, inReplyTo, refs)
		}
		if len(dnt) != 1 || dnt[0].Address != "ned@stark.net" || h.Get("Importance") != "high" || h.Get("Message-Id") == "" {
			t.Errorf("Disposition-Notification-To %v, Importance %q, Message-Id %q", dnt, h.Get("Importance"), h.Get("Message-Id"))
		}
		var text, html string
		files := map[string]string{}
		for {
			p, err := r.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(p.Body)
			switch ph := p.Header.(type) {
			case *gomail.InlineHeader:
				ct, _, _ := ph.ContentType()
				if ct == "text/plain" {
					text = string(body)
				} else if ct == "text/html" {
					html = string(body)
				}
			case *gomail.AttachmentHeader:
				name, _ := ph.Filename()
				ct, _, _ := ph.ContentType()
				files[name] = ct + ":" + string(body)
			}
		}
		if !strings.Contains(text, "Winter is coming") || html != "<p>Winter is <b>coming</b></p>" {
			t.Errorf("text %q, html %q", text, html)
		}
		if files["plan.txt"] != "text/plain:march north\n" || files["Überfällig.pdf"] != "application/pdf:%PDF\x00\xff" || len(files) != 2 {
			t.Errorf("attachments: %q", files)
		}

		// The copy in Sent (seen), the draft gone, the uploads gone.
		sent := e.do(req{Method: "GET", Path: "/users/" + ned + "/emails/Sent"}).expect(200).list()
		if len(sent) != 1 || sent[0]["subject"] != "Winter ❄" || sent[0]["seen"] != true || sent[0]["important"] != true {
			t.Errorf("Sent: %v", sent)
		}
		if d := e.do(req{Method: "GET", Path: "/users/" + ned + "/emails/Drafts"}).expect(200).list(); len(d) != 0 {
			t.Errorf("the draft is still there: %v", d)
		}
		e.do(req{Method: "GET", Path: plan["uri"].(string)}).problem(404, "File not found.")
		e.do(req{Method: "GET", Path: pdf["uri"].(string)}).problem(404, "File not found.")
		e.do(req{Method: "POST", Path: "/users/" + ned + "/emails/send", Body: map[string]any{"to": []string{"arya@stark.net"},
			"attachments": []map[string]any{{"uid": plan["uid"], "name": "plan.txt"}}}}).problem(400, "attachments.0.uid")

		// Another caller's upload is unknown to this one.
		_, other := e.domainAdmin(stark, "jory", "USER_READ", "MAIL_SEND")
		his := e.upload(other, "his.txt", "", []byte("his"))
		e.do(req{Method: "POST", Path: "/users/" + ned + "/emails/send", Body: map[string]any{"to": []string{"arya@stark.net"},
			"attachments": []map[string]any{{"uid": his["uid"], "name": "his.txt"}}}}).problem(400, "attachments.0.uid")
		// As its owner, by address, with MAIL_SEND: sent, and From is still ned.
		e.do(req{Method: "POST", Path: "/users/ned@stark.net/emails/send", Token: other, Body: map[string]any{"to": []string{"arya@stark.net"},
			"subject": "from jory", "attachments": []map[string]any{{"uid": his["uid"], "name": "his.txt"}}}}).expect(200)
		if got := e.smtp.Received(); len(got) != 2 || got[1].From != "ned@stark.net" {
			t.Errorf("the second message: %d received", len(got))
		}

		// Header injection, field by field: 400 naming it, nothing sent.
		evil := "\r\nBcc: evil@evil.example"
		for field, body := range map[string]map[string]any{
			"to.0":     {"to": []string{"arya@stark.net" + evil}},
			"cc.0":     {"to": []string{"arya@stark.net"}, "cc": []string{"jon@wall.example" + evil}},
			"bcc.0":    {"to": []string{"arya@stark.net"}, "bcc": []string{"Bran <bran@stark.net>" + evil}},
			"subject":  {"to": []string{"arya@stark.net"}, "subject": "hi" + evil},
			"originId": {"to": []string{"arya@stark.net"}, "originId": "<o@x.example>" + evil},
			"draftId":  {"to": []string{"arya@stark.net"}, "draftId": "1" + evil},
			"attachments.0.name": {"to": []string{"arya@stark.net"},
				"attachments": []map[string]any{{"uid": e.upload("", "a.txt", "", []byte("a"))["uid"], "name": "a.txt" + evil}}},
			"attachments.0.uid": {"to": []string{"arya@stark.net"}, "attachments": []map[string]any{{"uid": "x" + evil, "name": "a.txt"}}},
		} {
			e.do(req{Method: "POST", Path: "/users/" + ned + "/emails/send", Body: body}).problem(400, field)
		}
		e.do(req{Method: "POST", Path: "/users/" + ned + "/emails/send", Body: map[string]any{"subject": "nobody"}}).problem(400, "to")
		if n := len(e.smtp.Received()); n != 2 {
			t.Errorf("the relay received %d messages after the refused ones, want 2", n)
		}

		// MAIL_SEND is required: 403 for an administrator of the domain
		// without it, 404 for one of another domain.
		_, reader := e.domainAdmin(stark, "maester", "USER_READ")
		e.do(req{Method: "POST", Path: "/users/" + ned + "/emails/send", Token: reader, Body: map[string]any{"to": []string{"a@x.example"}}}).problem(403, "MAIL_SEND")
		_, stranger := e.domainAdmin(e.newDomain("lannister.net"), "tywin", "USER_READ", "MAIL_SEND")
		e.do(req{Method: "POST", Path: "/users/" + ned + "/emails/send", Token: stranger, Body: map[string]any{"to": []string{"a@x.example"}}}).problem(404, "")
	})
}

// A relay that is down or silent is the doc's 500, within the sender's
// timeout; nothing is deleted.
func TestSendEmailRelayDown(t *testing.T) {
	t.Parallel()
	silent, err := loopback.StartSilent()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { silent.Close() })
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	closedAddr := closed.Addr().String()
	closed.Close()
	for name, addr := range map[string]string{"silent": silent.Addr(), "closed": closedAddr} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			relay, err := submit.ParseURL("smtp://" + addr)
			if err != nil {
				t.Fatal(err)
			}
			forEachDBWith(t, func(o *api.Options) {
				o.Submit, o.Relays = &submit.Sender{Timeout: 500 * time.Millisecond}, []submit.Relay{relay}
			}, func(t *testing.T, e *env) {
				ned := e.newUser(e.newDomain("stark.net"), "ned@stark.net")
				f := e.upload("", "a.txt", "", []byte("a"))
				begin := time.Now()
				e.do(req{Method: "POST", Path: "/users/" + ned + "/emails/send", Body: map[string]any{"to": []string{"arya@stark.net"},
					"attachments": []map[string]any{{"uid": f["uid"], "name": "a.txt"}}}}).problem(500, "Unable to reach the SMTP relay")
				if d := time.Since(begin); d > 3*time.Second {
					t.Errorf("answered after %v", d)
				}
				e.do(req{Method: "GET", Path: f["uri"].(string)}).expect(200)
				if sent := e.do(req{Method: "GET", Path: "/users/" + ned + "/emails/Sent"}).expect(200).list(); len(sent) != 0 {
					t.Errorf("a message not sent is in Sent: %v", sent)
				}
			})
		})
	}
}

// A relay's permanent refusal of a recipient is a 422 naming it.
func TestSendEmailRefused(t *testing.T) {
	t.Parallel()
	srv, err := loopback.StartSMTP(loopback.SMTPOptions{Reject: func(rcpt string) bool { return strings.HasPrefix(rcpt, "nobody@") }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	relay, _ := submit.ParseURL("smtp://" + srv.Addr())
	forEachDBWith(t, func(o *api.Options) { o.Relays = []submit.Relay{relay} }, func(t *testing.T, e *env) {
		ned := e.newUser(e.newDomain("stark.net"), "ned@stark.net")
		e.do(req{Method: "POST", Path: "/users/" + ned + "/emails/send", Body: map[string]any{"to": []string{"arya@stark.net"},
			"cc": []string{"jon@wall.example", "nobody@wall.example"}}}).problem(422, "cc.1: The SMTP relay refused")
	})
	if n := len(srv.Received()); n != 0 {
		t.Errorf("%d messages accepted, want none", n)
	}
}
