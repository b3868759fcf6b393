// Package listing is the one semantics of the API's lists: a page (offset
// and size), an order on one of the fields a list declares ("-" first for
// descending; ties broken by a stable key), and filters where `*` matches
// any run of characters. The store renders it as SQL (db), this package in
// memory (Slice), and the mail store, next, as IMAP SEARCH.
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
}

// Order is a parsed sort: the field, and the direction.
type Order struct {
	Field string
	Desc  bool
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

// Fields declares the fields a list held in memory sorts on, each a
// comparison of two items.
type Fields[T any] map[string]func(a, b T) int

// Slice is the page p of the items that keep retains (all when keep is
// nil), in p's order over fields (def when p has none; ties broken by tie),
// with the number of all the items kept.
func Slice[T any](items []T, keep func(T) bool, p Page, fields Fields[T], def string, tie func(a, b T) int) ([]T, int64, error) {
	o, err := ParseSort(p.Sort, def, keysOf(fields))
	if err != nil {
		return nil, 0, err
	}
	kept := make([]T, 0, len(items))
	for _, it := range items {
		if keep == nil || keep(it) {
			kept = append(kept, it)
		}
	}
	by := fields[o.Field]
	slices.SortStableFunc(kept, func(a, b T) int {
		c := cmp.Or(by(a, b), tie(a, b))
		if o.Desc {
			return -c
		}
		return c
	})
	total := int64(len(kept))
	if p.Offset >= len(kept) {
		return []T{}, total, nil
	}
	return kept[p.Offset:min(len(kept), p.Offset+p.PageSize)], total, nil
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
