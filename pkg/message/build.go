package message

import (
	"bytes"
	"fmt"
	"html"
	"io"
	"mime"
	"path"
	"regexp"
	"strings"
	"time"

	gomessage "github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"

	"github.com/cleanmail/cleanmail/pkg/fault"
	"github.com/cleanmail/cleanmail/pkg/names"
)

// Draft is a message to build.
type Draft struct {
	// From is the author (one address, usually); To, Cc the recipients
	// the header shows. An address is "local@domain" or "Name
	// <local@domain>", the address part valid for names.Mailbox.
	From, To, Cc []string
	// Bcc are validated like the others but never written to the message:
	// they are envelope recipients only, for the caller to submit to.
	Bcc []string
	// Subject is any text; non-ASCII is RFC 2047 encoded.
	Subject string
	// HTML and Text are the body. With both empty the message has an
	// empty text/plain body; with HTML alone the text alternative is
	// made from it (see PlainText).
	HTML, Text  string
	Attachments []File
	// InReplyTo is the Message-ID replied to; References the ids of the
	// thread, separated by white space (InReplyTo alone when empty). With
	// or without angle brackets.
	InReplyTo, References string
	// DispositionNotificationTo asks for a read receipt to that address.
	DispositionNotificationTo string
	// Important sets Importance: high (and X-Priority: 1).
	Important bool
	// Date is the Date field; the current time when zero.
	Date time.Time
	// MessageID is the Message-ID, with or without angle brackets;
	// generated (random, @ the From domain) when empty.
	MessageID string
}

// File is an attachment to build.
type File struct {
	// Name is the file name, any UTF-8 (RFC 2231 encoded when not ASCII).
	Name string
	// ContentType is its media type; guessed from Name's extension when
	// empty, else application/octet-stream.
	ContentType string
	Body        io.Reader
}

// Build makes a message of d: multipart/alternative of the text and the
// HTML (or text/plain alone when there is no HTML), in a multipart/mixed
// with the attachments (base64) when there are some; CRLF line endings,
// MIME-Version 1.0. A value that would go to the header with a CR, an LF
// or a NUL in it, an invalid address or message id, is a fault.Invalid
// naming the Draft's field ("to.1", "attachments.0.name"): a header
// cannot be injected.
func Build(d Draft) ([]byte, error) {
	var h mail.Header
	if len(d.From) == 0 {
		return nil, fault.Invalidf("from", "The message needs a sender (from).")
	}
	from, err := addressList("from", d.From)
	if err != nil {
		return nil, err
	}
	to, err := addressList("to", d.To)
	if err != nil {
		return nil, err
	}
	cc, err := addressList("cc", d.Cc)
	if err != nil {
		return nil, err
	}
	if _, err := addressList("bcc", d.Bcc); err != nil {
		return nil, err
	}
	if err := headerSafe("subject", d.Subject); err != nil {
		return nil, err
	}
	date := d.Date
	if date.IsZero() {
		date = time.Now()
	}
	h.SetDate(date)
	h.SetAddressList("From", from)
	h.SetAddressList("To", to)
	h.SetAddressList("Cc", cc)
	h.SetSubject(d.Subject)
	if d.MessageID != "" {
		id, err := msgID("messageId", d.MessageID)
		if err != nil {
			return nil, err
		}
		h.SetMessageID(id)
	} else {
		_, domain, _ := strings.Cut(from[0].Address, "@")
		if err := h.GenerateMessageIDWithHostname(domain); err != nil {
			return nil, err
		}
	}
	var inReplyTo, refs []string
	if d.InReplyTo != "" {
		id, err := msgID("inReplyTo", d.InReplyTo)
		if err != nil {
			return nil, err
		}
		inReplyTo = []string{id}
		refs = inReplyTo
	}
	if err := headerSafe("references", d.References); err != nil {
		return nil, err
	}
	if strings.TrimSpace(d.References) != "" {
		refs = nil
		for i, r := range strings.Fields(d.References) {
			id, err := msgID(fmt.Sprintf("references.%d", i), r)
			if err != nil {
				return nil, err
			}
			refs = append(refs, id)
		}
	}
	h.SetMsgIDList("In-Reply-To", inReplyTo)
	h.SetMsgIDList("References", refs)
	if d.DispositionNotificationTo != "" {
		a, err := address("dispositionNotificationTo", d.DispositionNotificationTo)
		if err != nil {
			return nil, err
		}
		h.SetAddressList("Disposition-Notification-To", []*mail.Address{a})
	}
	if d.Important {
		h.Set("Importance", "high")
		h.Set("X-Priority", "1 (Highest)")
	}
	attachments := make([]gomessage.Header, len(d.Attachments))
	for i, f := range d.Attachments {
		ah, err := attachmentHeader(i, f)
		if err != nil {
			return nil, err
		}
		attachments[i] = ah
	}

	text := d.Text
	if text == "" && d.HTML != "" {
		text = PlainText(d.HTML)
	}
	var buf bytes.Buffer
	write := func(w *gomessage.Writer) error {
		if d.HTML == "" {
			return writeText(w, "text/plain", text)
		}
		var ah gomessage.Header
		ah.SetContentType("multipart/alternative", nil)
		alt, err := w.CreatePart(ah)
		if err != nil {
			return err
		}
		if err := writeText(alt, "text/plain", text); err != nil {
			return err
		}
		if err := writeText(alt, "text/html", d.HTML); err != nil {
			return err
		}
		return alt.Close()
	}
	if len(attachments) == 0 && d.HTML == "" {
		// One text/plain part: the message is it.
		h.SetContentType("text/plain", map[string]string{"charset": "utf-8"})
		h.Set("Content-Transfer-Encoding", "quoted-printable")
		w, err := gomessage.CreateWriter(&buf, h.Header)
		if err != nil {
			return nil, err
		}
		if _, err := io.WriteString(w, text); err != nil {
			return nil, err
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	}
	if len(attachments) == 0 {
		h.SetContentType("multipart/alternative", nil)
		w, err := gomessage.CreateWriter(&buf, h.Header)
		if err != nil {
			return nil, err
		}
		if err := writeText(w, "text/plain", text); err != nil {
			return nil, err
		}
		if err := writeText(w, "text/html", d.HTML); err != nil {
			return nil, err
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	}
	h.SetContentType("multipart/mixed", nil)
	w, err := gomessage.CreateWriter(&buf, h.Header)
	if err != nil {
		return nil, err
	}
	if err := write(w); err != nil {
		return nil, err
	}
	for i, ah := range attachments {
		pw, err := w.CreatePart(ah)
		if err != nil {
			return nil, err
		}
		if d.Attachments[i].Body != nil {
			if _, err := io.Copy(pw, d.Attachments[i].Body); err != nil {
				return nil, fmt.Errorf("reading attachment %d: %w", i, err)
			}
		}
		if err := pw.Close(); err != nil {
			return nil, err
		}
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// writeText writes a text part (UTF-8, quoted-printable) to a multipart.
func writeText(w *gomessage.Writer, mediaType, text string) error {
	var ph gomessage.Header
	ph.SetContentType(mediaType, map[string]string{"charset": "utf-8"})
	ph.Set("Content-Transfer-Encoding", "quoted-printable")
	pw, err := w.CreatePart(ph)
	if err != nil {
		return err
	}
	if _, err := io.WriteString(pw, text); err != nil {
		return err
	}
	return pw.Close()
}

// attachmentHeader is the header of the attachment i, its name RFC 2231
// encoded by mime.FormatMediaType when it is not ASCII.
func attachmentHeader(i int, f File) (gomessage.Header, error) {
	var h gomessage.Header
	field := fmt.Sprintf("attachments.%d", i)
	if err := headerSafe(field+".name", f.Name); err != nil {
		return h, err
	}
	ct := f.ContentType
	if err := headerSafe(field+".contentType", ct); err != nil {
		return h, err
	}
	if ct == "" {
		ct = mime.TypeByExtension(path.Ext(f.Name))
	}
	if ct == "" {
		ct = "application/octet-stream"
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || strings.HasPrefix(mt, "multipart/") {
		return h, fault.Invalidf(field+".contentType", "%q is not a valid media type for a file.", ct)
	}
	params = map[string]string{"charset": params["charset"]}
	if params["charset"] == "" {
		delete(params, "charset")
	}
	disp := map[string]string{}
	if f.Name != "" {
		params["name"] = f.Name
		disp["filename"] = f.Name
	}
	h.Set("Content-Type", mime.FormatMediaType(mt, params))
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", disp))
	h.Set("Content-Transfer-Encoding", "base64")
	return h, nil
}

// headerSafe refuses a value that would break out of its header field.
func headerSafe(field, v string) error {
	if strings.ContainsAny(v, "\r\n\x00") {
		return fault.Invalidf(field, "It may not contain a line break (CR, LF) or a NUL.")
	}
	return nil
}

func addressList(field string, list []string) ([]*mail.Address, error) {
	out := make([]*mail.Address, 0, len(list))
	for i, s := range list {
		a, err := address(fmt.Sprintf("%s.%d", field, i), s)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// address reads "local@domain" or "Name <local@domain>", the address
// checked by names.Mailbox.
func address(field, s string) (*mail.Address, error) {
	if err := headerSafe(field, s); err != nil {
		return nil, err
	}
	a := &mail.Address{Address: strings.TrimSpace(s)}
	if strings.HasSuffix(a.Address, ">") {
		parsed, err := mail.ParseAddress(s)
		if err != nil {
			return nil, fault.Invalidf(field, "%q is not a valid e-mail address (local@domain, or Name <local@domain>).", s)
		}
		a = parsed
	}
	canonical, err := names.Mailbox(a.Address)
	if err != nil {
		return nil, fault.Invalidf(field, "%s", err.Error())
	}
	a.Address = canonical
	return a, nil
}

// msgID checks a message id (id-left@id-right, printable ASCII) and
// returns it without its angle brackets.
func msgID(field, s string) (string, error) {
	if err := headerSafe(field, s); err != nil {
		return "", err
	}
	id := strings.TrimSpace(s)
	if strings.HasPrefix(id, "<") && strings.HasSuffix(id, ">") {
		id = id[1 : len(id)-1]
	}
	left, right, ok := strings.Cut(id, "@")
	valid := ok && left != "" && right != "" && !strings.Contains(right, "@") && len(id) <= 250
	for i := 0; valid && i < len(id); i++ {
		if c := id[i]; c <= ' ' || c >= 0x7f || c == '<' || c == '>' || c == '"' || c == '(' || c == ')' || c == ',' || c == ';' || c == '\\' {
			valid = false
		}
	}
	if !valid {
		return "", fault.Invalidf(field, "%q is not a valid message id (<left@right>).", s)
	}
	return id, nil
}

var (
	dropped  = regexp.MustCompile(`(?is)<(script|style|head)\b.*?</(script|style|head)\s*>|<!--.*?-->`)
	paras    = regexp.MustCompile(`(?i)</p\s*>`)
	breaks   = regexp.MustCompile(`(?i)<br\s*/?>|</(div|li|tr|h[1-6]|blockquote|pre|table)\s*>`)
	tags     = regexp.MustCompile(`(?s)<[^>]*>`)
	spaces   = regexp.MustCompile(`[ \t]+`)
	newlines = regexp.MustCompile(`\n\s*\n\s*\n+`)
)

// PlainText is a text rendering of HTML, as the text alternative of a
// message: a simple tag stripping (scripts, styles and comments dropped,
// paragraphs separated by a blank line, other block ends and <br> made line breaks, entities decoded, runs of blank
// lines made one). It is no HTML renderer: no tables, no links listed.
func PlainText(htm string) string {
	s := strings.ReplaceAll(htm, "\r\n", "\n")
	s = dropped.ReplaceAllString(s, "")
	s = strings.ReplaceAll(s, "\n", " ")
	s = paras.ReplaceAllString(s, "\n\n")
	s = breaks.ReplaceAllString(s, "\n")
	s = tags.ReplaceAllString(s, "")
	s = html.UnescapeString(s)
	s = spaces.ReplaceAllString(s, " ")
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSpace(l)
	}
	s = strings.Join(lines, "\n")
	s = newlines.ReplaceAllString(s, "\n\n")
	return strings.TrimSpace(s) + "\n"
}
