package message

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"mime"
	"strconv"
	"strings"
	"time"

	gomessage "github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // the charsets of mail in the wild, for bodies and encoded words
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"

	"github.com/cleanmail/cleanmail/pkg/fault"
)

// maxHeaderBytes bounds one header block (the message's or a part's).
const maxHeaderBytes = 1 << 20

// Message is a message as the API shows it: its headers decoded to UTF-8,
// its body, its attachments.
type Message struct {
	Subject string
	// From, To, Cc, Bcc and ReplyTo are the addresses of those fields,
	// each "Name <local@domain>" (the name decoded) or "local@domain". A
	// field that does not parse as addresses is given as its decoded text,
	// one element.
	From, To, Cc, Bcc, ReplyTo []string
	// Date is the Date field; zero when absent or unreadable.
	Date time.Time
	// MessageID, InReplyTo and References are message ids without their
	// angle brackets.
	MessageID  string
	InReplyTo  []string
	References []string
	// Headers is every field of the message's header, in order, its name
	// in canonical case ("Message-Id"), its value decoded (encoded words,
	// folding); a field may repeat.
	Headers []Field
	// Body is the text the message is read as, in UTF-8: the first
	// text/html part that is not an attachment, else the first text/plain
	// one (a message/rfc822 attached is not looked into). HTML tells which.
	Body string
	HTML bool
	// Attachments are the parts that are files: a part whose disposition
	// is "attachment", that has a file name, or whose type is not text
	// (an image, a message/rfc822, which is listed whole and not looked
	// into); inline images are listed too, and so is a text part that is
	// neither the body nor an alternative of it (a footer after the
	// body). Parts are listed in the order of the message.
	Attachments []Attachment
	// Important is the sender's mark: Importance: high, X-Priority 1 or
	// 2, or Priority: urgent.
	Important bool
	// Size is the size of the raw message in bytes.
	Size int64
}

// Field is a header field: its name, its value decoded.
type Field struct {
	Key, Value string
}

// Attachment is a part of a message that is a file.
type Attachment struct {
	// PartID is the part's number as IMAP numbers it (RFC 3501 §6.4.5):
	// "2", "1.2"; Part fetches the part by it, as does an IMAP
	// BODY[PartID].
	PartID string
	// Filename is the part's name (Content-Disposition's filename, else
	// Content-Type's name), RFC 2231 and RFC 2047 decoded; empty when it
	// has none.
	Filename string
	// ContentType is the part's media type, lower case, without
	// parameters ("application/pdf").
	ContentType string
	// Size is the size of the part decoded (base64, quoted-printable), in
	// bytes.
	Size int64
}

// part is one MIME entity met while walking a message.
type part struct {
	id        string // IMAP part number; "" for the root of a multipart
	parent    string // the media type of the multipart holding it, if one does
	header    gomessage.Header
	mediaType string // lower case; the RFC 2046 defaults when absent
	params    map[string]string
	body      io.Reader // raw: still transfer-encoded
}

// disposition is the part's Content-Disposition and its file name.
func (p *part) disposition() (disp, filename string) {
	disp, params, _ := p.header.ContentDisposition()
	filename = params["filename"]
	if filename == "" {
		filename = p.params["name"]
		if filename != "" {
			// Content-Type's parameters are decoded here, not by go-message.
			filename = decodeWords(filename)
		}
	}
	return strings.ToLower(disp), filename
}

// isAttachment tells a part that is a file from one that is the text.
func (p *part) isAttachment() bool {
	disp, filename := p.disposition()
	if disp == "attachment" || filename != "" {
		return true
	}
	return p.mediaType != "text/plain" && p.mediaType != "text/html"
}

// decoded is the part's body without its transfer encoding (and, when
// text is true, converted to UTF-8 from its charset).
func (p *part) decoded(text bool) (io.Reader, error) {
	h := p.header.Copy()
	if !text {
		// Without a Content-Type, go-message leaves the charset alone.
		h.Del("Content-Type")
	}
	e, err := gomessage.New(h, p.body)
	if err != nil && !gomessage.IsUnknownCharset(err) {
		// An unknown transfer encoding: the body is given as it is.
		return p.body, nil
	}
	return e.Body, nil
}

// visit is called for every part walked, leaves and multiparts; it
// returns whether to descend into a message/rfc822 part, and stop to end
// the walk.
type visit func(p *part) (descend, stop bool, err error)

// walk reads the message in r and calls fn for each of its parts in
// order, numbering them as IMAP does: the parts of a multipart are
// prefix.1, prefix.2, …; the body of a message that is not multipart (the
// whole message, or one attached) is prefix.1.
func walk(r io.Reader, fn visit) error {
	_, err := walkEntity(r, "", fn)
	return err
}

// walkEntity reads one message (header and body) from r and walks it;
// prefix is its number ("" for the message itself). It returns whether
// the walk ended.
func walkEntity(r io.Reader, prefix string, fn visit) (stop bool, err error) {
	lr := &headerLimit{r: r, n: maxHeaderBytes}
	br := bufio.NewReader(lr)
	h, err := readHeader(br)
	if err != nil {
		return false, err
	}
	lr.n = -1
	p := newPart(h, br, "text/plain")
	p.id = prefix
	if !strings.HasPrefix(p.mediaType, "multipart/") {
		p.id = join(prefix, "1")
	}
	return walkPart(p, fn)
}

// headerLimit bounds what is read through it to n bytes, until n is made
// negative: it keeps a header block from taking all memory.
type headerLimit struct {
	r io.Reader
	n int64
}

func (l *headerLimit) Read(b []byte) (int, error) {
	if l.n < 0 {
		return l.r.Read(b)
	}
	if l.n == 0 {
		return 0, errors.New("the header block is over 1 MiB")
	}
	if int64(len(b)) > l.n {
		b = b[:l.n]
	}
	n, err := l.r.Read(b)
	l.n -= int64(n)
	return n, err
}

// walkPart visits p and what it holds; it returns whether the walk ended.
func walkPart(p *part, fn visit) (stop bool, err error) {
	descend, stop, err := fn(p)
	if err != nil || stop {
		return stop, err
	}
	switch {
	case strings.HasPrefix(p.mediaType, "multipart/"):
		def := "text/plain"
		if p.mediaType == "multipart/digest" {
			def = "message/rfc822"
		}
		mr := textproto.NewMultipartReader(p.body, p.params["boundary"])
		for n := 1; ; n++ {
			tp, err := mr.NextPart()
			if err != nil {
				// The end, or a multipart cut short or malformed: what
				// was read stands.
				return false, nil
			}
			child := newPart(tp.Header, tp, def)
			child.id = join(p.id, strconv.Itoa(n))
			child.parent = p.mediaType
			if stop, err := walkPart(child, fn); err != nil || stop {
				return stop, err
			}
		}
	case p.mediaType == "message/rfc822" && descend:
		body, err := p.decoded(false)
		if err != nil {
			return false, err
		}
		return walkEntity(body, p.id, fn)
	}
	return false, nil
}

func newPart(h textproto.Header, body io.Reader, def string) *part {
	p := &part{header: gomessage.Header{Header: h}, body: body}
	v := h.Get("Content-Type")
	if v == "" {
		p.mediaType, p.params = def, map[string]string{}
		return p
	}
	mt, params, err := mime.ParseMediaType(v)
	if err != nil && mt == "" {
		// Unreadable: RFC 2045 §5.2 reads it as the default text.
		mt, params = "text/plain", map[string]string{}
	}
	if params == nil {
		params = map[string]string{}
	}
	p.mediaType, p.params = strings.ToLower(mt), params
	return p
}

func readHeader(br *bufio.Reader) (textproto.Header, error) {
	h, err := textproto.ReadHeader(br)
	if err != nil {
		return h, fault.Invalidf("", "The message is not a valid RFC 5322 message: %v", err)
	}
	return h, nil
}

func join(prefix, n string) string {
	if prefix == "" {
		return n
	}
	return prefix + "." + n
}

var wordDecoder = mime.WordDecoder{CharsetReader: gomessage.CharsetReader}

// decodeWords decodes the RFC 2047 encoded words of s, or returns s.
func decodeWords(s string) string {
	if d, err := wordDecoder.DecodeHeader(s); err == nil {
		return d
	}
	return s
}

// counter counts the bytes read through it.
type counter struct {
	r io.Reader
	n int64
}

func (c *counter) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += int64(n)
	return n, err
}

// Read reads a raw RFC 5322 message: its headers, its body, the list of
// its attachments. A message that is not one (no header) is a
// fault.Invalid; a message cut short yields what was read of it.
func Read(r io.Reader) (*Message, error) {
	cr := &counter{r: r}
	var m *Message
	var text, html *part
	err := walk(cr, func(p *part) (bool, bool, error) {
		if m == nil {
			m = readHeaders(mail.Header{Header: p.header})
		}
		if strings.HasPrefix(p.mediaType, "multipart/") {
			return false, false, nil
		}
		if p.isAttachment() {
			_, filename := p.disposition()
			body, _ := p.decoded(false)
			n, err := io.Copy(io.Discard, body)
			if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
				return false, false, fault.Invalidf("", "The message's part %s cannot be read: %v", p.id, err)
			}
			m.Attachments = append(m.Attachments, Attachment{PartID: p.id, Filename: filename, ContentType: p.mediaType, Size: n})
			return false, false, nil
		}
		if (p.mediaType == "text/html" && html != nil) || (p.mediaType == "text/plain" && text != nil) {
			// Another text: an alternative of the body is skipped, any
			// other is shown as a file.
			if p.parent != "multipart/alternative" {
				body, _ := p.decoded(false)
				n, err := io.Copy(io.Discard, body)
				if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
					return false, false, fault.Invalidf("", "The message's part %s cannot be read: %v", p.id, err)
				}
				m.Attachments = append(m.Attachments, Attachment{PartID: p.id, ContentType: p.mediaType, Size: n})
			}
			return false, false, nil
		}
		{
			body, _ := p.decoded(true)
			b, err := io.ReadAll(body)
			if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
				return false, false, fault.Invalidf("", "The message's part %s cannot be read: %v", p.id, err)
			}
			if p.mediaType == "text/html" {
				html = p
				m.Body, m.HTML = string(b), true
			} else {
				text = p
				if html == nil {
					m.Body = string(b)
				}
			}
		}
		return false, false, nil
	})
	if err != nil {
		return nil, err
	}
	if _, err := io.Copy(io.Discard, cr); err != nil {
		return nil, fault.Invalidf("", "The message cannot be read: %v", err)
	}
	m.Size = cr.n
	return m, nil
}

// readHeaders is the decoded header of a message.
func readHeaders(h mail.Header) *Message {
	m := &Message{}
	for f := h.Fields(); f.Next(); {
		v, err := f.Text()
		if err != nil {
			v = f.Value()
		}
		m.Headers = append(m.Headers, Field{Key: f.Key(), Value: v})
	}
	m.Subject, _ = h.Subject()
	m.From = addresses(h, "From")
	m.To = addresses(h, "To")
	m.Cc = addresses(h, "Cc")
	m.Bcc = addresses(h, "Bcc")
	m.ReplyTo = addresses(h, "Reply-To")
	if d, err := h.Date(); err == nil {
		m.Date = d
	}
	if id, err := h.MessageID(); err == nil {
		m.MessageID = id
	} else {
		m.MessageID = strings.Trim(strings.TrimSpace(h.Get("Message-Id")), "<>")
	}
	m.InReplyTo, _ = h.MsgIDList("In-Reply-To")
	m.References, _ = h.MsgIDList("References")
	m.Important = important(h)
	return m
}

// addresses reads an address field for display.
func addresses(h mail.Header, key string) []string {
	if !h.Has(key) {
		return nil
	}
	list, err := h.AddressList(key)
	if err != nil {
		if v, _ := h.Text(key); strings.TrimSpace(v) != "" {
			return []string{strings.TrimSpace(v)}
		}
		return nil
	}
	out := make([]string, 0, len(list))
	for _, a := range list {
		if a.Name != "" {
			out = append(out, a.Name+" <"+a.Address+">")
		} else {
			out = append(out, a.Address)
		}
	}
	return out
}

// important tells the sender's marks of importance apart from the rest.
func important(h mail.Header) bool {
	if strings.EqualFold(strings.TrimSpace(h.Get("Importance")), "high") {
		return true
	}
	if strings.EqualFold(strings.TrimSpace(h.Get("Priority")), "urgent") {
		return true
	}
	// "1 (Highest)", "2 (High)".
	p := strings.TrimSpace(h.Get("X-Priority"))
	return strings.HasPrefix(p, "1") || strings.HasPrefix(p, "2")
}

// Part streams the part partID (an IMAP part number, as Attachment.PartID
// gives) of the raw message in r, decoded from its transfer encoding but
// not from its charset: the bytes of the file. contentType is its media
// type with its charset, when it has one ("text/plain; charset=iso-8859-1"),
// ready for an HTTP Content-Type; filename its name, when it has one. The
// reader is r's: read it before reading r otherwise. A part that the
// message does not have, or one that is a multipart, is fault.NotFound.
// A message/rfc822 part is the attached message; its parts are numbered
// below it ("3.1", "3.2").
func Part(r io.Reader, partID string) (body io.Reader, contentType, filename string, err error) {
	if !validPartID(partID) {
		return nil, "", "", notFound(partID)
	}
	var found *part
	err = walk(r, func(p *part) (bool, bool, error) {
		if p.id == partID {
			if strings.HasPrefix(p.mediaType, "multipart/") {
				return false, true, nil
			}
			found = p
			return false, true, nil
		}
		// Descend into an attached message only when the part sought is
		// in it.
		return strings.HasPrefix(partID, p.id+"."), false, nil
	})
	if err != nil {
		return nil, "", "", err
	}
	if found == nil {
		return nil, "", "", notFound(partID)
	}
	_, filename = found.disposition()
	contentType = found.mediaType
	if cs := found.params["charset"]; cs != "" && strings.HasPrefix(contentType, "text/") {
		contentType = mime.FormatMediaType(contentType, map[string]string{"charset": cs})
	}
	body, err = found.decoded(false)
	if err != nil {
		return nil, "", "", err
	}
	return body, contentType, filename, nil
}

func notFound(partID string) *fault.Error {
	return fault.Fail(fault.NotFound, "partId", fmt.Sprintf("The message has no part %q.", partID))
}

// validPartID tells an IMAP part number: positive integers joined by dots.
func validPartID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, n := range strings.Split(id, ".") {
		if n == "" || n[0] == '0' || strings.Trim(n, "0123456789") != "" {
			return false
		}
	}
	return true
}
