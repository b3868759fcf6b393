package message

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	gomessage "github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"

	"github.com/cleanmail/cleanmail/pkg/fault"
)

func draft() Draft {
	return Draft{
		From:                      []string{"Renée Dupont <renee@EXAMPLE.com>"},
		To:                        []string{"bob@example.net", "Carol <carol@example.org>"},
		Cc:                        []string{"dave@example.org"},
		Bcc:                       []string{"hidden@example.org"},
		Subject:                   "Résumé, enfin",
		HTML:                      "<html><head><style>p{}</style></head><body><p>Hello &amp; <b>welcome</b></p><p>line<br>two</p></body></html>",
		InReplyTo:                 "<parent@example.com>",
		DispositionNotificationTo: "renee@example.com",
		Important:                 true,
		Date:                      time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC),
		Attachments: []File{
			{Name: "résumé final.pdf", ContentType: "application/pdf", Body: strings.NewReader("%PDF-1.4 binary \x00\xff")},
			{Name: "notes.txt", Body: strings.NewReader("plain\nnotes\n")},
		},
	}
}

func TestBuild(t *testing.T) {
	raw, err := Build(draft())
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(bytes.ReplaceAll(raw, []byte("\r\n"), nil), []byte("\n")) {
		t.Error("a line ends in a bare LF")
	}
	if bytes.Contains(raw, []byte("hidden@example.org")) {
		t.Error("the Bcc address is in the message")
	}
	e, err := gomessage.Read(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	h := mail.Header{Header: e.Header}
	check := func(what, got, want string) {
		t.Helper()
		if got != want {
			t.Errorf("%s = %q, want %q", what, got, want)
		}
	}
	subject, _ := h.Subject()
	check("Subject", subject, "Résumé, enfin")
	from, _ := h.AddressList("From")
	to, _ := h.AddressList("To")
	cc, _ := h.AddressList("Cc")
	dnt, _ := h.AddressList("Disposition-Notification-To")
	if len(from) != 1 || len(to) != 2 || len(cc) != 1 || len(dnt) != 1 {
		t.Fatalf("addresses: %v %v %v %v", from, to, cc, dnt)
	}
	check("From", from[0].Name+" <"+from[0].Address+">", "Renée Dupont <renee@example.com>")
	check("To", to[0].Address+","+to[1].Name+" <"+to[1].Address+">", "bob@example.net,Carol <carol@example.org>")
	check("Cc", cc[0].Address, "dave@example.org")
	check("Disposition-Notification-To", dnt[0].Address, "renee@example.com")
	check("Importance", h.Get("Importance"), "high")
	check("MIME-Version", h.Get("Mime-Version"), "1.0")
	date, _ := h.Date()
	if !date.Equal(draft().Date) {
		t.Errorf("Date = %v", date)
	}
	id, _ := h.MessageID()
	if !strings.HasSuffix(id, "@example.com") || len(id) < 20 {
		t.Errorf("Message-ID = %q, want a generated one @example.com", id)
	}
	irt, _ := h.MsgIDList("In-Reply-To")
	refs, _ := h.MsgIDList("References")
	check("In-Reply-To", strings.Join(irt, " "), "parent@example.com")
	check("References", strings.Join(refs, " "), "parent@example.com")

	// mixed > alternative (text, html) + the two files.
	var got []string
	err = e.Walk(func(path []int, p *gomessage.Entity, err error) error {
		if err != nil {
			return err
		}
		mt, params, _ := p.Header.ContentType()
		line := mt
		if !strings.HasPrefix(mt, "multipart/") {
			b, err := io.ReadAll(p.Body)
			if err != nil {
				return err
			}
			disp, dp, _ := p.Header.ContentDisposition()
			line += " " + p.Header.Get("Content-Transfer-Encoding") + " " + params["charset"] + " " + disp + " " + dp["filename"] + " " + string(b)
		}
		got = append(got, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"multipart/mixed",
		"multipart/alternative",
		"text/plain quoted-printable utf-8   Hello & welcome\r\n\r\nline\r\ntwo\r\n",
		"text/html quoted-printable utf-8   " + draft().HTML,
		"application/pdf base64  attachment résumé final.pdf %PDF-1.4 binary \x00\xff",
		"text/plain base64 utf-8 attachment notes.txt plain\nnotes\n",
	}
	if strings.Join(got, "\n--\n") != strings.Join(want, "\n--\n") {
		t.Errorf("parts:\n%q\nwant\n%q", got, want)
	}
	// The name is RFC 2231, not RFC 2047, and our reader finds it.
	if !bytes.Contains(raw, []byte(`filename*=utf-8''r%C3%A9sum%C3%A9%20final.pdf`)) {
		t.Errorf("no RFC 2231 file name in\n%s", raw)
	}
	m, err := Read(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Attachments) != 2 || m.Attachments[0] != (Attachment{PartID: "2", Filename: "résumé final.pdf", ContentType: "application/pdf", Size: 18}) ||
		m.Attachments[1].Filename != "notes.txt" || !m.Important || !m.HTML {
		t.Errorf("read back: %+v", m)
	}
}

func TestBuildShapes(t *testing.T) {
	base := Draft{From: []string{"a@example.com"}, To: []string{"b@example.com"}, Subject: "s", MessageID: "<given@example.com>"}
	for _, tc := range []struct {
		name     string
		edit     func(*Draft)
		top      string
		body     string
		headerOK func(mail.Header) bool
	}{
		{"text alone", func(d *Draft) { d.Text = "just text\n" }, "text/plain", "just text\r\n", func(h mail.Header) bool {
			id, _ := h.MessageID()
			return id == "given@example.com" && !h.Has("Importance") && !h.Has("In-Reply-To") && !h.Has("Disposition-Notification-To")
		}},
		{"html without files", func(d *Draft) { d.HTML = "<p>x</p>"; d.Text = "own text" }, "multipart/alternative", "own text", nil},
		{"text with a file", func(d *Draft) {
			d.Text = "t"
			d.Attachments = []File{{Name: "a.bin", Body: strings.NewReader("x")}}
		}, "multipart/mixed", "t", nil},
		{"references given", func(d *Draft) { d.InReplyTo = "p@x.y"; d.References = "<r@x.y> p@x.y" }, "text/plain", "", func(h mail.Header) bool {
			refs, _ := h.MsgIDList("References")
			return strings.Join(refs, " ") == "r@x.y p@x.y"
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := base
			tc.edit(&d)
			raw, err := Build(d)
			if err != nil {
				t.Fatal(err)
			}
			e, err := gomessage.Read(bytes.NewReader(raw))
			if err != nil {
				t.Fatal(err)
			}
			if mt, _, _ := e.Header.ContentType(); mt != tc.top {
				t.Errorf("Content-Type %s, want %s", mt, tc.top)
			}
			m, err := Read(bytes.NewReader(raw))
			if err != nil {
				t.Fatal(err)
			}
			if tc.top == "text/plain" && m.Body != tc.body {
				t.Errorf("Body = %q, want %q", m.Body, tc.body)
			}
			if tc.headerOK != nil && !tc.headerOK(mail.Header{Header: e.Header}) {
				t.Errorf("header wrong:\n%s", raw)
			}
		})
	}
}

func TestBuildRefusesInjection(t *testing.T) {
	const evil = "x\r\nBcc: evil@example.com"
	for _, tc := range []struct {
		field string
		edit  func(*Draft)
	}{
		{"from.0", func(d *Draft) { d.From = []string{"a@example.com" + evil} }},
		{"from.0", func(d *Draft) { d.From = []string{"Name" + evil + " <a@example.com>"} }},
		{"to.2", func(d *Draft) { d.To = append(d.To, evil) }},
		{"cc.0", func(d *Draft) { d.Cc = []string{"c@example.com\nBcc: evil@example.com"} }},
		{"bcc.0", func(d *Draft) { d.Bcc = []string{evil} }},
		{"subject", func(d *Draft) { d.Subject = evil }},
		{"subject", func(d *Draft) { d.Subject = "x\nBcc: evil@example.com" }},
		{"subject", func(d *Draft) { d.Subject = "x\rBcc: evil@example.com" }},
		{"subject", func(d *Draft) { d.Subject = "x\x00y" }},
		{"attachments.0.name", func(d *Draft) { d.Attachments[0].Name = "a.pdf" + evil }},
		{"attachments.0.contentType", func(d *Draft) { d.Attachments[0].ContentType = "text/plain" + evil }},
		{"attachments.0.contentType", func(d *Draft) { d.Attachments[0].ContentType = "not a type" }},
		{"inReplyTo", func(d *Draft) { d.InReplyTo = "<a@b>" + evil }},
		{"inReplyTo", func(d *Draft) { d.InReplyTo = "no-at-sign" }},
		{"inReplyTo", func(d *Draft) { d.InReplyTo = "<a@b@c>" }},
		{"messageId", func(d *Draft) { d.MessageID = "<a b@c>" }},
		{"references", func(d *Draft) { d.References = "<a@b> <c@d>\r\nBcc: evil@example.com" }},
		{"dispositionNotificationTo", func(d *Draft) { d.DispositionNotificationTo = "a@example.com" + evil }},
		{"messageId", func(d *Draft) { d.MessageID = "<id@example.com>" + evil }},
		{"to.0", func(d *Draft) { d.To = []string{"not an address"} }},
		{"to.0", func(d *Draft) { d.To = []string{"a@localhost"} }},
		{"from", func(d *Draft) { d.From = nil }},
	} {
		d := draft()
		tc.edit(&d)
		raw, err := Build(d)
		e, ok := fault.As(err)
		if !ok || e.Kind != fault.Invalid || e.Field != tc.field {
			t.Errorf("field %s: Build = %v, want an Invalid on %s", tc.field, err, tc.field)
		}
		if raw != nil || errors.Is(err, fault.ErrNotFound) {
			t.Errorf("field %s: a message was built", tc.field)
		}
	}
}

func TestPlainText(t *testing.T) {
	got := PlainText("<div>Un&nbsp;deux</div>\r\n<script>alert(1)</script><!-- c --><ul><li>a</li><li>b</li></ul><p></p><p></p><p>fin &lt;3</p>")
	if want := "Un\u00a0deux\na\nb\n\nfin <3\n"; got != want {
		t.Errorf("PlainText = %q, want %q", got, want)
	}
}
