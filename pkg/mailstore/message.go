package mailstore

import (
	"bufio"
	"bytes"
	"context"
	"net/textproto"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/cleanmail/cleanmail/pkg/fault"
)

// Summary is what a list shows of a message.
type Summary struct {
	UID                       imap.UID
	Flags                     []imap.Flag
	SentDate, ReceivedDate    time.Time
	Subject, From             string
	To, Cc, Bcc               []string
	Size                      int64
	HasAttachments, Important bool
	// Headers holds the few header fields fetched with the summary
	// (summaryHeaders), by their canonical names.
	Headers map[string][]string
}

// Has reports whether the message carries flag.
func (m *Summary) Has(flag imap.Flag) bool {
	for _, f := range m.Flags {
		if strings.EqualFold(string(f), string(flag)) {
			return true
		}
	}
	return false
}

// summaryHeaders are fetched with every summary: the ids a message is
// found by, and what makes it important.
var summaryHeaders = []string{"Message-ID", "X-Fuglu-Id", "Importance", "X-Priority", "Priority"}

var summarySection = &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, HeaderFields: summaryHeaders, Peek: true}

// summaries fetches the summaries of uids, in their order.
func (c *conn) summaries(uids []imap.UID) ([]Summary, error) {
	if len(uids) == 0 {
		return []Summary{}, nil
	}
	msgs, err := c.c.Fetch(imap.UIDSetNum(uids...), &imap.FetchOptions{
		UID: true, Flags: true, Envelope: true, InternalDate: true, RFC822Size: true,
		BodyStructure: &imap.FetchItemBodyStructure{Extended: true},
		BodySection:   []*imap.FetchItemBodySection{summarySection},
	}).Collect()
	if err != nil {
		return nil, err
	}
	byUID := make(map[imap.UID]*imapclient.FetchMessageBuffer, len(msgs))
	for _, m := range msgs {
		byUID[m.UID] = m
	}
	out := make([]Summary, 0, len(uids))
	for _, u := range uids {
		if m, ok := byUID[u]; ok { // expunged meanwhile: left out
			out = append(out, summaryOf(m))
		}
	}
	return out, nil
}

func summaryOf(m *imapclient.FetchMessageBuffer) Summary {
	s := Summary{UID: m.UID, Flags: m.Flags, ReceivedDate: m.InternalDate, Size: m.RFC822Size,
		Headers: parseHeader(m.FindBodySection(summarySection))}
	if e := m.Envelope; e != nil {
		s.SentDate, s.Subject = e.Date, e.Subject
		if len(e.From) > 0 {
			s.From = address(e.From[0])
		}
		s.To, s.Cc, s.Bcc = addresses(e.To), addresses(e.Cc), addresses(e.Bcc)
	}
	if s.SentDate.IsZero() {
		s.SentDate = s.ReceivedDate
	}
	if m.BodyStructure != nil {
		m.BodyStructure.Walk(func(path []int, part imap.BodyStructure) bool {
			if single, ok := part.(*imap.BodyStructureSinglePart); ok {
				d := single.Disposition()
				if d != nil && strings.EqualFold(d.Value, "attachment") || single.Filename() != "" {
					s.HasAttachments = true
				}
			}
			return !s.HasAttachments
		})
	}
	s.Important = important(s.Headers)
	return s
}

// important reads the headers by which a sender marks a message.
func important(h map[string][]string) bool {
	first := func(k string) string {
		if v := h[k]; len(v) > 0 {
			return strings.ToLower(strings.TrimSpace(v[0]))
		}
		return ""
	}
	p := first("X-Priority")
	return first("Importance") == "high" || first("Priority") == "urgent" || strings.HasPrefix(p, "1") || strings.HasPrefix(p, "2")
}

func address(a imap.Address) string {
	addr := a.Addr()
	if a.Name == "" || addr == "" {
		return addr
	}
	return a.Name + " <" + addr + ">"
}

func addresses(as []imap.Address) []string {
	out := make([]string, 0, len(as))
	for _, a := range as {
		if s := address(a); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// parseHeader reads a header block into canonical names and values.
func parseHeader(b []byte) map[string][]string {
	h, err := textproto.NewReader(bufio.NewReader(bytes.NewReader(append(bytes.TrimRight(b, "\r\n"), "\r\n\r\n"...)))).ReadMIMEHeader()
	if err != nil && len(h) == 0 {
		return map[string][]string{}
	}
	return h
}

// Find returns the UID of the message of folder that id names: a UID, or
// the value of its Message-ID (with or without <>) or X-Fuglu-Id header.
// None is a fault.NotFound.
func (s *Store) Find(ctx context.Context, user, folder, id string) (Summary, error) {
	var out Summary
	err := s.with(ctx, user, func(c *conn) error {
		if err := c.examine(folder); err != nil {
			return err
		}
		sum, err := c.find(id)
		out = sum
		return err
	})
	return out, answer(err)
}

func (c *conn) find(id string) (Summary, error) {
	var candidates []imap.UID
	if uid, ok := ParseUID(id); ok {
		candidates = []imap.UID{uid}
	} else {
		found, err := c.c.UIDSearch(Query{ID: id}.criteria(), nil).Wait()
		if err != nil {
			return Summary{}, err
		}
		candidates = found.AllUIDs()
	}
	sums, err := c.summaries(candidates)
	if err != nil {
		return Summary{}, err
	}
	bare := strings.Trim(id, "<> ")
	for _, m := range sums {
		if _, ok := ParseUID(id); ok {
			return m, nil
		}
		// SEARCH matches substrings: keep the message whose id is this one.
		for _, k := range []string{"Message-Id", "X-Fuglu-Id"} {
			for _, v := range m.Headers[k] {
				if strings.Trim(strings.TrimSpace(v), "<>") == bare {
					return m, nil
				}
			}
		}
	}
	return Summary{}, fault.NotFoundOf(fault.MailMessage)
}

// MaxRaw bounds the source of a message that Raw reads into memory.
const MaxRaw = 64 << 20

// Raw returns the message of folder that id names (as Find) with its whole
// source (at most MaxRaw bytes).
func (s *Store) Raw(ctx context.Context, user, folder, id string) (Summary, []byte, error) {
	var out Summary
	var raw []byte
	err := s.with(ctx, user, func(c *conn) error {
		if err := c.examine(folder); err != nil {
			return err
		}
		sum, err := c.find(id)
		if err != nil {
			return err
		}
		if sum.Size > MaxRaw {
			return fault.New(fault.TooLarge, "", "The message is larger than %d bytes.", MaxRaw)
		}
		whole := &imap.FetchItemBodySection{Peek: true}
		msgs, err := c.c.Fetch(imap.UIDSetNum(sum.UID), &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{whole}}).Collect()
		if err != nil {
			return err
		}
		if len(msgs) == 0 {
			return fault.NotFoundOf(fault.MailMessage)
		}
		out, raw = sum, msgs[0].FindBodySection(whole)
		return nil
	})
	return out, raw, answer(err)
}
