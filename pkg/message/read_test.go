package message

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-message/charset"

	"github.com/cleanmail/cleanmail/pkg/fault"
)

// crlf makes a message of lines written with LF.
func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

// nested is mixed > (alternative > text + html) + a PDF (base64, an RFC
// 2231 name) + an attached message (itself mixed > text + an image with
// an RFC 2047 name) + a text file in Latin-1 (quoted-printable).
var nested = crlf(`From: =?UTF-8?Q?Ren=C3=A9e?= <renee@example.com>
To: Bob <bob@example.net>, carol@example.org
Cc: dave@example.org
Subject: =?UTF-8?B?UsOpc3Vtw6k=?= of the week
Date: Tue, 01 Dec 2026 10:00:00 +0100
Message-ID: <abc.123@example.com>
In-Reply-To: <parent@example.com>
References: <root@example.com> <parent@example.com>
X-Priority: 2 (High)
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="outer"

preamble
--outer
Content-Type: multipart/alternative; boundary="alt"

--alt
Content-Type: text/plain; charset=iso-8859-1
Content-Transfer-Encoding: quoted-printable

Caf=E9 plain
--alt
Content-Type: text/html; charset=iso-8859-1
Content-Transfer-Encoding: quoted-printable

<p>Caf=E9 <b>html</b></p>
--alt--
--outer
Content-Type: application/pdf
Content-Disposition: attachment; filename*=UTF-8''r%C3%A9sum%C3%A9%20final.pdf
Content-Transfer-Encoding: base64

JVBERi0xLjQKJcOkw7zDtsOf
--outer
Content-Type: message/rfc822
Content-Disposition: attachment; filename="fwd.eml"

From: x@example.com
Subject: inner
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="inner"

--inner
Content-Type: text/plain

inner text
--inner
Content-Type: image/png
Content-Disposition: inline; filename="=?UTF-8?Q?bild_=C3=BC.png?="
Content-Transfer-Encoding: base64

iVBORw0KGgo=
--inner--
--outer
Content-Type: text/plain; charset=iso-8859-1; name="notes.txt"
Content-Disposition: attachment
Content-Transfer-Encoding: quoted-printable

na=EFve
--outer--
`)

func TestReadNested(t *testing.T) {
	m, err := Read(strings.NewReader(nested))
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != "Résumé of the week" {
		t.Errorf("Subject = %q", m.Subject)
	}
	if got := strings.Join(m.From, "|"); got != "Renée <renee@example.com>" {
		t.Errorf("From = %q", got)
	}
	if got := strings.Join(m.To, "|"); got != "Bob <bob@example.net>|carol@example.org" {
		t.Errorf("To = %q", got)
	}
	if got := strings.Join(m.Cc, "|"); got != "dave@example.org" {
		t.Errorf("Cc = %q", got)
	}
	if want := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC); !m.Date.Equal(want) {
		t.Errorf("Date = %v, want %v", m.Date, want)
	}
	if m.MessageID != "abc.123@example.com" || strings.Join(m.InReplyTo, " ") != "parent@example.com" ||
		strings.Join(m.References, " ") != "root@example.com parent@example.com" {
		t.Errorf("ids = %q %q %q", m.MessageID, m.InReplyTo, m.References)
	}
	if !m.Important {
		t.Error("X-Priority 2 is not Important")
	}
	if !m.HTML || m.Body != "<p>Café <b>html</b></p>" {
		t.Errorf("Body = %q (HTML %v)", m.Body, m.HTML)
	}
	if m.Size != int64(len(nested)) {
		t.Errorf("Size = %d, want %d", m.Size, len(nested))
	}
	if len(m.Headers) != 11 || m.Headers[3].Key != "Subject" || m.Headers[3].Value != "Résumé of the week" {
		t.Errorf("Headers = %q", m.Headers)
	}
	want := []Attachment{
		{PartID: "2", Filename: "résumé final.pdf", ContentType: "application/pdf", Size: 18},
		{PartID: "3", Filename: "fwd.eml", ContentType: "message/rfc822"},
		{PartID: "4", Filename: "notes.txt", ContentType: "text/plain", Size: 5},
	}
	if len(m.Attachments) != len(want) {
		t.Fatalf("Attachments = %+v, want %+v", m.Attachments, want)
	}
	for i, a := range m.Attachments {
		w := want[i]
		if w.Size == 0 {
			w.Size = a.Size // the attached message: checked by Part below
		}
		if a != w {
			t.Errorf("Attachments[%d] = %+v, want %+v", i, a, w)
		}
	}

	// Every part listed is fetched by its id, and the ids are IMAP's.
	parts := []struct {
		id, contentType, filename, body string
	}{
		{"1.1", "text/plain; charset=iso-8859-1", "", "Caf\xe9 plain"},
		{"1.2", "text/html; charset=iso-8859-1", "", "<p>Caf\xe9 <b>html</b></p>"},
		{"2", "application/pdf", "résumé final.pdf", "%PDF-1.4\n%äüöß"},
		{"3.1", "text/plain", "", "inner text"},
		{"3.2", "image/png", "bild ü.png", "\x89PNG\r\n\x1a\n"},
		{"4", "text/plain; charset=iso-8859-1", "notes.txt", "na\xefve"},
	}
	for _, p := range parts {
		r, ct, name, err := Part(strings.NewReader(nested), p.id)
		if err != nil {
			t.Errorf("Part(%s): %v", p.id, err)
			continue
		}
		b, err := io.ReadAll(r)
		if err != nil {
			t.Errorf("Part(%s): reading: %v", p.id, err)
		}
		if ct != p.contentType || name != p.filename || string(b) != p.body {
			t.Errorf("Part(%s) = %q, %q, %q; want %q, %q, %q", p.id, b, ct, name, p.body, p.contentType, p.filename)
		}
	}
	r, ct, _, err := Part(strings.NewReader(nested), "3")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r)
	if ct != "message/rfc822" || !bytes.HasPrefix(b, []byte("From: x@example.com\r\nSubject: inner\r\n")) ||
		!bytes.HasSuffix(b, []byte("--inner--")) || int64(len(b)) != m.Attachments[1].Size {
		t.Errorf("Part(3) = %q (%s), want the attached message of %d bytes", b, ct, m.Attachments[1].Size)
	}
	inner, err := Read(bytes.NewReader(b))
	if err != nil || inner.Subject != "inner" || len(inner.Attachments) != 1 || inner.Attachments[0].Filename != "bild ü.png" {
		t.Errorf("the attached message read: %+v, %v", inner, err)
	}

	for _, id := range []string{"5", "1", "0", "1.3", "2.1", "3.3", "3.2.1", "", "x", "01", "1..2"} {
		_, _, _, err := Part(strings.NewReader(nested), id)
		if !errors.Is(err, fault.ErrNotFound) {
			t.Errorf("Part(%q): %v, want a NotFound", id, err)
		}
	}
}

func TestReadSinglePart(t *testing.T) {
	for _, tc := range []struct {
		name, raw, body string
		html            bool
		attachments     []Attachment
		important       bool
	}{
		{name: "no MIME at all", raw: "Subject: hi\n\nhello\n", body: "hello\n"},
		{name: "text in Latin-1, QP", raw: crlf("Subject: hi\nImportance: High\nContent-Type: text/plain; charset=ISO-8859-1\nContent-Transfer-Encoding: quoted-printable\n\nd=E9j=E0 vu\n"),
			body: "déjà vu\r\n", important: true},
		{name: "html alone", raw: crlf("Priority: urgent\nContent-Type: text/html\n\n<b>x</b>"), body: "<b>x</b>", html: true, important: true},
		{name: "a file alone is part 1", raw: crlf("X-Priority: 3\nContent-Type: application/zip; name=a.zip\nContent-Transfer-Encoding: base64\n\nUEsDBA==\n"),
			attachments: []Attachment{{PartID: "1", Filename: "a.zip", ContentType: "application/zip", Size: 4}}},
		{name: "text then a footer text: the footer is a file", raw: crlf("Content-Type: multipart/mixed; boundary=b\n\n--b\n\nfirst\n--b\nContent-Type: text/plain\n\nfooter\n--b--\n"),
			body: "first", attachments: []Attachment{{PartID: "2", ContentType: "text/plain", Size: 6}}},
		{name: "digest parts are messages", raw: crlf("Content-Type: multipart/digest; boundary=d\n\n--d\n\nSubject: one\n\nbody one\n--d--\n"),
			attachments: []Attachment{{PartID: "1", ContentType: "message/rfc822", Size: 24}}},
		{name: "a multipart cut short", raw: crlf("Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\ncut"), body: "cut"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Read(strings.NewReader(tc.raw))
			if err != nil {
				t.Fatal(err)
			}
			if m.Body != tc.body || m.HTML != tc.html || m.Important != tc.important {
				t.Errorf("Body %q HTML %v Important %v, want %q %v %v", m.Body, m.HTML, m.Important, tc.body, tc.html, tc.important)
			}
			if len(m.Attachments) != len(tc.attachments) {
				t.Fatalf("Attachments = %+v, want %+v", m.Attachments, tc.attachments)
			}
			for i := range tc.attachments {
				if m.Attachments[i] != tc.attachments[i] {
					t.Errorf("Attachments[%d] = %+v, want %+v", i, m.Attachments[i], tc.attachments[i])
				}
				if _, _, _, err := Part(strings.NewReader(tc.raw), tc.attachments[i].PartID); err != nil {
					t.Errorf("Part(%s): %v", tc.attachments[i].PartID, err)
				}
			}
		})
	}
}

func TestReadRefusesNoMessage(t *testing.T) {
	_, err := Read(strings.NewReader("this is no header line\n\nbody"))
	if !errors.Is(err, fault.ErrInvalid) {
		t.Errorf("Read: %v, want an Invalid", err)
	}
	_, err = Read(strings.NewReader("X-Long: " + strings.Repeat("a", maxHeaderBytes) + "\r\n\r\nbody"))
	if !errors.Is(err, fault.ErrInvalid) {
		t.Errorf("Read of a 1 MiB header: %v, want an Invalid", err)
	}
}

// TestPartNumbersAreIMAPs checks the part numbers against go-imap's
// server, which numbers and extracts the parts of a message for FETCH
// BINARY[part]: every leaf of the body structure (attached messages
// looked into) is the same part here, with the same bytes.
func TestPartNumbersAreIMAPs(t *testing.T) {
	for _, tc := range []struct{ name, raw, ids string }{
		{"nested", nested, "[1 1] [1 2] [2] [3] [3 1] [3 2] [4]"},
		{"single", crlf("Content-Type: application/zip\nContent-Transfer-Encoding: base64\n\nUEsDBA==\n"), "[1]"},
		{"attached single-part message", crlf("Content-Type: multipart/mixed; boundary=b\n\n--b\n\nhi\n--b\nContent-Type: message/rfc822\n\n" +
			"Subject: in\nContent-Type: image/gif\nContent-Transfer-Encoding: base64\n\nR0lGODlh\n--b--\n"), "[1] [2] [2 1]"},
	} {
		raw := tc.raw
		t.Run(tc.name, func(t *testing.T) {
			var ids []string
			var visit func(bs imap.BodyStructure, path []int)
			visit = func(bs imap.BodyStructure, path []int) {
				switch bs := bs.(type) {
				case *imap.BodyStructureMultiPart:
					for i, c := range bs.Children {
						visit(c, append(slices.Clone(path), i+1))
					}
				case *imap.BodyStructureSinglePart:
					if len(path) == 0 {
						path = []int{1}
					}
					check(t, raw, path, bs)
					ids = append(ids, fmt.Sprint(path))
					if bs.MessageRFC822 != nil {
						inner := bs.MessageRFC822.BodyStructure
						if _, multi := inner.(*imap.BodyStructureMultiPart); multi {
							visit(inner, path)
						} else {
							visit(inner, append(slices.Clone(path), 1))
						}
					}
				}
			}
			visit(imapserver.ExtractBodyStructure(strings.NewReader(raw)), nil)
			if got := strings.Join(ids, " "); got != tc.ids {
				t.Errorf("IMAP's parts: %s, want %s", got, tc.ids)
			}
		})
	}
}

// check compares Part with go-imap's BINARY[path] of raw.
func check(t *testing.T, raw string, path []int, bs *imap.BodyStructureSinglePart) {
	t.Helper()
	id := strings.Trim(strings.ReplaceAll(fmt.Sprint(path), " ", "."), "[]")
	r, ct, _, err := Part(strings.NewReader(raw), id)
	if err != nil {
		t.Errorf("Part(%s): %v", id, err)
		return
	}
	b, _ := io.ReadAll(r)
	if mt, _, _ := strings.Cut(ct, ";"); mt != bs.MediaType() {
		t.Errorf("Part(%s) is %s; IMAP's is %s", id, mt, bs.MediaType())
	}
	// go-imap converts text to UTF-8; Part gives the bytes as they are.
	if cs := bs.Params["charset"]; cs != "" && strings.HasPrefix(ct, "text/") {
		u, err := charset.Reader(cs, bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		b, _ = io.ReadAll(u)
	}
	want := imapserver.ExtractBinarySection(strings.NewReader(raw), &imap.FetchItemBinarySection{Part: path})
	if !bytes.Equal(b, want) {
		t.Errorf("Part(%s) = %q; IMAP's BINARY[%s] = %q", id, b, id, want)
	}
}
