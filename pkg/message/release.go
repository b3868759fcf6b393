package message

import (
	"bytes"
	"strings"
)

// field is one field of a raw header block: raw[start:end] is the field
// with its continuation lines and their line endings, raw[start:colon]
// its name (colon < 0 for a line that is no field).
type field struct {
	start, colon, end int
}

// headerFields splits the header block of raw (up to the first empty
// line, or all of raw when it has none) into fields, as bytes. Line
// endings are CRLF or LF, whichever each line has.
func headerFields(raw []byte) []field {
	var fields []field
	for i := 0; i < len(raw); {
		end := lineEnd(raw, i)
		line := raw[i:end]
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			break // the empty line that ends the header block
		}
		if (line[0] == ' ' || line[0] == '\t') && len(fields) > 0 {
			fields[len(fields)-1].end = end
		} else {
			colon := bytes.IndexByte(line, ':')
			if colon >= 0 {
				colon += i
			}
			fields = append(fields, field{start: i, colon: colon, end: end})
		}
		i = end
	}
	return fields
}

// lineEnd is the index just after the line of raw that starts at i (its
// LF included), or len(raw).
func lineEnd(raw []byte, i int) int {
	if n := bytes.IndexByte(raw[i:], '\n'); n >= 0 {
		return i + n + 1
	}
	return len(raw)
}

// name is the field's name, its trailing white space dropped (RFC 822
// allowed it before the colon).
func (f field) name(raw []byte) string {
	if f.colon < 0 {
		return ""
	}
	return string(bytes.TrimRight(raw[f.start:f.colon], " \t"))
}

// StripSpamTag is the message to release: raw with prefix (the spam tag,
// "[SPAM] ") taken from the start of the Subject field's value, and the
// X-Spam-Flag and X-Spam-Status fields (with their continuation lines)
// removed. Every other byte is left as it was: line endings, the order and
// spelling of the other fields, the body.
//
// Field names match in any case. The prefix matches in any ASCII case,
// after the white space that starts the value, across a folding (a prefix
// "[SPAM] " matches "[SPAM]" CRLF " Hello"), and, when it ends in white
// space, also as the whole value ("Subject: [SPAM]"). A tag inside an
// RFC 2047 encoded word ("=?UTF-8?Q?[SPAM]_Hello?=") is left alone:
// filters write their tag in ASCII before the encoded words, and
// rewriting an encoded word would mean re-encoding it. An empty prefix
// leaves the Subject as it is.
func StripSpamTag(raw []byte, prefix string) []byte {
	fields := headerFields(raw)
	out := make([]byte, 0, len(raw))
	last := 0
	for _, f := range fields {
		switch name := f.name(raw); {
		case strings.EqualFold(name, "X-Spam-Flag"), strings.EqualFold(name, "X-Spam-Status"):
			out = append(out, raw[last:f.start]...)
			last = f.end
		case strings.EqualFold(name, "Subject") && prefix != "":
			from, to, ok := matchPrefix(raw[f.colon+1:f.end], prefix)
			if ok {
				out = append(out, raw[last:f.colon+1+from]...)
				last = f.colon + 1 + to
			}
		}
	}
	return append(out, raw[last:]...)
}

// matchPrefix finds prefix at the start of a field's value (after the
// white space and foldings that start it) and returns the span of v it
// covers.
func matchPrefix(v []byte, prefix string) (from, to int, ok bool) {
	i := skipFolding(v, 0)
	if to, ok := matchFolded(v, i, prefix); ok {
		return i, to, true
	}
	// "[SPAM]" alone, for a prefix "[SPAM] ".
	if trimmed := strings.TrimRight(prefix, " \t"); trimmed != prefix && trimmed != "" {
		if to, ok := matchFolded(v, i, trimmed); ok && len(bytes.TrimSpace(v[to:])) == 0 {
			return i, to, true
		}
	}
	return 0, 0, false
}

// skipFolding skips white space and foldings (a line ending followed by
// white space) from v[i].
func skipFolding(v []byte, i int) int {
	for i < len(v) {
		switch {
		case v[i] == ' ' || v[i] == '\t':
			i++
		case foldAt(v, i) > 0:
			i += foldAt(v, i)
		default:
			return i
		}
	}
	return i
}

// foldAt is the length of the line ending at v[i] when a continuation line
// follows it, or 0.
func foldAt(v []byte, i int) int {
	n := 0
	if i < len(v) && v[i] == '\r' {
		n = 1
	}
	if i+n < len(v) && v[i+n] == '\n' && i+n+1 < len(v) && (v[i+n+1] == ' ' || v[i+n+1] == '\t') {
		return n + 1
	}
	return 0
}

// matchFolded matches prefix at v[i] in any ASCII case, a folding in v
// being invisible (it unfolds to nothing), and returns where the match
// ends.
func matchFolded(v []byte, i int, prefix string) (int, bool) {
	for j := 0; j < len(prefix); {
		if n := foldAt(v, i); n > 0 {
			i += n
			continue
		}
		if i >= len(v) || lower(v[i]) != lower(prefix[j]) {
			return 0, false
		}
		i++
		j++
	}
	return i, true
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// DefaultVirusHeader is the field a virus scanner writes its verdict to.
const DefaultVirusHeader = "X-Virus-Status"

// Infected tells whether the virus scanner's field (header; "" for
// DefaultVirusHeader) of raw says the message is infected: a value that
// starts with "Infected", in any case. Any one of several such fields
// suffices.
func Infected(raw []byte, header string) bool {
	if header == "" {
		header = DefaultVirusHeader
	}
	for _, f := range headerFields(raw) {
		if !strings.EqualFold(f.name(raw), header) {
			continue
		}
		v := raw[f.colon+1 : f.end]
		i := skipFolding(v, 0)
		if to, ok := matchFolded(v, i, "infected"); ok && to > i {
			return true
		}
	}
	return false
}
