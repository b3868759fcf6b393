package api

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"net/url"
	"strconv"
	"strings"

	"github.com/cleanmail/cleanmail/db"
	"github.com/cleanmail/cleanmail/gen"
	"github.com/cleanmail/cleanmail/pkg/listing"
)

// Keyset continuation of the lists (an extension of the doc's paging): a
// page that another follows names it in a Link header (RFC 8288), the
// same request with a cursor instead of an offset. The cursor is the
// store's listing.Cursor (the order, the last row's sort key and id),
// sealed: AES-256-GCM under a key derived from the token key, bound to
// the list it continues (the operation and the object of its path). It
// shows nothing (no database key, no value), and one altered, made up,
// or given for another list does not open: a 400 naming cursor.

// cursorSeal seals and opens the cursors of the lists.
type cursorSeal struct{ aead cipher.AEAD }

// newCursorSeal derives the cursors' key from the token key (so that
// neither kind of token passes for the other): cursors stay valid as
// long as the token key does, across restarts and replicas when
// CLEANMAIL_JWT_KEY is set.
func newCursorSeal(jwtKey []byte) (cursorSeal, error) {
	m := hmac.New(sha256.New, jwtKey)
	m.Write([]byte("cleanmail list cursors v1"))
	block, err := aes.NewCipher(m.Sum(nil))
	if err != nil {
		return cursorSeal{}, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return cursorSeal{}, err
	}
	return cursorSeal{aead: aead}, nil
}

// The cursor's plain form: a version, the order (field, direction), then
// the key and the tie-breaker, each a tagged value.
const (
	cursorVersion = 1
	valueNull     = 0
	valueString   = 1
	valueInt      = 2
)

// seal is c for the wire, bound to list: base64url, without padding. Sort
// keys are bounded by the spec (255 characters), so a cursor stays well
// within the parameter's 2,048 characters.
func (cs cursorSeal) seal(list string, c listing.Cursor) string {
	b := []byte{cursorVersion}
	b = binary.AppendUvarint(b, uint64(len(c.Order.Field)))
	b = append(b, c.Order.Field...)
	if c.Order.Desc {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	b = appendValue(b, c.Key)
	b = appendValue(b, c.Tie)
	nonce := make([]byte, cs.aead.NonceSize(), cs.aead.NonceSize()+len(b)+cs.aead.Overhead())
	rand.Read(nonce)
	return base64.RawURLEncoding.EncodeToString(cs.aead.Seal(nonce, nonce, b, []byte(list)))
}

func appendValue(b []byte, v any) []byte {
	switch v := v.(type) {
	case string:
		b = append(b, valueString)
		b = binary.AppendUvarint(b, uint64(len(v)))
		return append(b, v...)
	case int64:
		return binary.AppendVarint(append(b, valueInt), v)
	}
	return append(b, valueNull)
}

// open reads a cursor of list; anything else is listing.ErrNotACursor.
func (cs cursorSeal) open(list, s string) (*listing.Cursor, error) {
	sealed, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(sealed) < cs.aead.NonceSize()+cs.aead.Overhead() {
		return nil, listing.ErrNotACursor
	}
	n := cs.aead.NonceSize()
	b, err := cs.aead.Open(nil, sealed[:n], sealed[n:], []byte(list))
	if err != nil || len(b) == 0 || b[0] != cursorVersion {
		return nil, listing.ErrNotACursor
	}
	r := cursorReader{b: b[1:]}
	c := &listing.Cursor{}
	c.Order.Field = r.text()
	c.Order.Desc = r.byte() == 1
	c.Key = r.value()
	c.Tie = r.value()
	if r.err != nil || len(r.b) != 0 {
		return nil, listing.ErrNotACursor
	}
	return c, nil
}

// cursorReader reads a cursor's plain form; the first failure sticks.
type cursorReader struct {
	b   []byte
	err error
}

var errShortCursor = errors.New("cursor: truncated")

func (r *cursorReader) byte() byte {
	if r.err != nil || len(r.b) == 0 {
		r.err = errShortCursor
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *cursorReader) text() string {
	n, k := binary.Uvarint(r.b)
	if r.err != nil || k <= 0 || n > uint64(len(r.b)-k) {
		r.err = errShortCursor
		return ""
	}
	s := string(r.b[k : k+int(n)])
	r.b = r.b[k+int(n):]
	return s
}

func (r *cursorReader) value() any {
	switch r.byte() {
	case valueNull:
		return nil
	case valueString:
		return r.text()
	case valueInt:
		v, k := binary.Varint(r.b)
		if k <= 0 {
			r.err = errShortCursor
			return nil
		}
		r.b = r.b[k:]
		return v
	}
	r.err = errShortCursor
	return nil
}

// listOf names the list a request reads, for its cursors: the operation,
// and the object of its path (a domain, a user; none for the lists at the
// root), however the path spells it.
func listOf(ctx context.Context) string {
	return factsOf(ctx).operation + "\x00" + strconv.FormatInt(targetOf(ctx).key, 10)
}

// listPage is page, continued after cursor when the request sends one.
// A cursor's order and offset are checked by the list (listing.Page.Start).
func (s *Server) listPage(ctx context.Context, offset *gen.Offset, pageSize *gen.PageSize, sort *string, cursor *gen.Cursor) (db.Page, error) {
	p := page(offset, pageSize, sort)
	if cursor == nil {
		return p, nil
	}
	c, err := s.cursors.open(listOf(ctx), *cursor)
	if err != nil {
		return db.Page{}, err
	}
	p.After = c
	return p, nil
}

// nextLink is the Link header that names the page after this one, when
// there is one (next): this request, with next's cursor and without its
// offset, every other parameter kept in its order (and escaped anew, so
// that nothing in it can end the URI reference). A path-absolute
// reference, as a Location is, under CLEANMAIL_PUBLIC_URL when set.
func (s *Server) nextLink(ctx context.Context, next *listing.Cursor) *string {
	if next == nil {
		return nil
	}
	f := factsOf(ctx)
	var query []string
	for _, part := range strings.Split(f.query, "&") {
		k, v, _ := strings.Cut(part, "=")
		key, err := url.QueryUnescape(k)
		if err != nil || key == "" || key == "offset" || key == "cursor" {
			continue
		}
		value, err := url.QueryUnescape(v)
		if err != nil {
			continue
		}
		query = append(query, url.QueryEscape(key)+"="+url.QueryEscape(value))
	}
	query = append(query, "cursor="+s.cursors.seal(listOf(ctx), *next))
	link := "<" + s.publicURL + f.path + "?" + strings.Join(query, "&") + `>; rel="next"`
	return &link
}
