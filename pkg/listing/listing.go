// Package listing is the one semantics of the API's lists: a page (offset
// and size, or a cursor), an order on one of the fields a list declares
// ("-" first for descending; ties broken by a stable key), and filters
// where `*` matches any run of characters. The store renders it as SQL
// (db), this package in memory (Slice), and the mail store, next, as IMAP
// SEARCH.
package listing

import (
	"cmp"
	"slices"
	"strings"

	"github.com/cleanmail/cleanmail/pkg/fault"
)

// Page selects one page of a list, in one order.
type Page struct {
	Offset   int
	PageSize int
	// Sort is a field name of the list, "-" first for descending order.
	// Empty means the list's default.
	Sort string
	// After, if set, starts the page just after the row it names, in the
	// same order (keyset continuation): a deep page then costs what the
	// first one does. Offset must be 0 with it.
	After *Cursor
}

// Order is a parsed sort: the field, and the direction.
type Order struct {
	Field string
	Desc  bool
}

// String is o as the sort parameter spells it.
func (o Order) String() string {
	if o.Desc {
		return "-" + o.Field
	}
	return o.Field
}

// Cursor names the last row of a page, for the next page to start after
// it: the order the page was read in, and that row's sort key and
// tie-breaker. Its values are what the store reads them as: a string, an
// int64, or nil for a NULL key.
type Cursor struct {
	Order Order
	// Key is the row's value of the sort field (the stored value, before
	// any lower-casing the order applies). Unused when the order is the
	// tie-breaker's own.
	Key any
	// Tie is the row's tie-breaker: its id (a name, in the catalog).
	Tie any
}

// ErrNotACursor answers a cursor that no page of the list gave: one that
// does not decode, was altered, or names a row another list holds.
var ErrNotACursor = fault.Invalidf("cursor", "is not a cursor of this list: follow the Link header of one of its pages, or start again without a cursor")

// Start checks where p starts, for a list read in order o: a cursor must
// continue that order, and comes without an offset. Each is a 400 naming
// the cursor parameter.
func (p Page) Start(o Order) error {
	if p.After == nil {
		return nil
	}
	if p.Offset != 0 {
		return fault.Invalidf("cursor", "cannot be combined with offset: a cursor says where its page starts, send one of the two")
	}
	if p.After.Order != o {
		return fault.Invalidf("cursor", "continues the list sorted by %s, not by %s: send it with the sort of the page that gave it",
			p.After.Order, o)
	}
	return nil
}

// ParseSort reads sort ("" meaning def) against the fields a list
// declares. Any other field is a 400 on sort that names the allowed ones.
func ParseSort(sort, def string, allowed []string) (Order, error) {
	if sort == "" {
		sort = def
	}
	o := Order{Field: sort}
	if f, ok := strings.CutPrefix(sort, "-"); ok {
		o = Order{Field: f, Desc: true}
	}
	if !slices.Contains(allowed, o.Field) {
		names := slices.Sorted(slices.Values(allowed))
		return Order{}, fault.Invalidf("sort", "cannot sort on %q; allowed: %s (prefix with - for descending order)",
			o.Field, strings.Join(names, ", "))
	}
	return o, nil
}

// Fields declares the fields a list held in memory sorts on, each by its
// key (compared byte by byte, as the store's text sorts).
type Fields[T any] map[string]func(T) string

// Slice is the page p of the items that keep retains (all when keep is
// nil), in p's order over fields (def when p has none; ties broken by the
// key tie, unique to an item), with the number of all the items kept, and
// the cursor of the next page when there is one.
func Slice[T any](items []T, keep func(T) bool, p Page, fields Fields[T], def string, tie func(T) string) ([]T, int64, *Cursor, error) {
	o, err := ParseSort(p.Sort, def, keysOf(fields))
	if err != nil {
		return nil, 0, nil, err
	}
	if err := p.Start(o); err != nil {
		return nil, 0, nil, err
	}
	by := fields[o.Field]
	compare := func(key, tieKey string, b T) int {
		c := cmp.Or(strings.Compare(key, by(b)), strings.Compare(tieKey, tie(b)))
		if o.Desc {
			return -c
		}
		return c
	}
	kept := make([]T, 0, len(items))
	for _, it := range items {
		if keep == nil || keep(it) {
			kept = append(kept, it)
		}
	}
	slices.SortStableFunc(kept, func(a, b T) int { return compare(by(a), tie(a), b) })
	total := int64(len(kept))
	start := p.Offset
	if c := p.After; c != nil {
		key, _ := c.Key.(string)
		tieKey, _ := c.Tie.(string)
		// The first item after the cursor's: it need not be in the list
		// any more.
		start, _ = slices.BinarySearchFunc(kept, 0, func(b T, _ int) int {
			if compare(key, tieKey, b) < 0 {
				return 1
			}
			return -1
		})
	}
	if start >= len(kept) {
		return []T{}, total, nil, nil
	}
	end := min(len(kept), start+p.PageSize)
	var next *Cursor
	if end < len(kept) {
		last := kept[end-1]
		next = &Cursor{Order: o, Key: by(last), Tie: tie(last)}
	}
	return kept[start:end], total, next, nil
}

func keysOf[T any](m map[string]T) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	return keys
}

// Match is the API's filter syntax: case-insensitive, `*` matches any run
// of characters (so "abc", "abc*", "*abc" and "*abc*" are exact, prefix,
// suffix and contains), and every other character, `%` and `_` included,
// is literal. The empty Match filters nothing.
type Match string

// Exact reports whether m has no wildcard: it matches one value only
// (case aside).
func (m Match) Exact() bool { return !strings.Contains(string(m), "*") }

// Parts are m's literal runs between wildcards, lower-cased: "*ab*c" is
// "", "ab", "c". A value matches when it holds them in order, the first
// as a prefix and the last as a suffix.
func (m Match) Parts() []string { return strings.Split(strings.ToLower(string(m)), "*") }

// Matches applies m to a value held in memory.
func (m Match) Matches(s string) bool {
	if m == "" {
		return true
	}
	parts := m.Parts()
	s = strings.ToLower(s)
	if len(parts) == 1 {
		return s == parts[0]
	}
	first, last := parts[0], parts[len(parts)-1]
	if !strings.HasPrefix(s, first) {
		return false
	}
	s = s[len(first):]
	for _, mid := range parts[1 : len(parts)-1] {
		i := strings.Index(s, mid)
		if i < 0 {
			return false
		}
		s = s[i+len(mid):]
	}
	return strings.HasSuffix(s, last)
}

// Like is m as the argument of an SQL `LIKE … ESCAPE '\'` on a lower-cased
// column: `*` becomes `%`, and `%`, `_` and `\` are escaped. For an Exact
// m it is the lower-cased value, to compare with `=`.
func (m Match) Like() string {
	v := strings.ToLower(string(m))
	if m.Exact() {
		return v
	}
	var b strings.Builder
	for _, r := range v {
		switch r {
		case '*':
			b.WriteByte('%')
		case '%', '_', '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
