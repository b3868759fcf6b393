package listing

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/cleanmail/cleanmail/pkg/fault"
)

func TestMatches(t *testing.T) {
	for _, tc := range []struct {
		m    Match
		s    string
		want bool
	}{
		{"", "anything", true},
		{"abc", "ABC", true},
		{"abc", "abcd", false},
		{"abc*", "abcd", true},
		{"abc*", "xabcd", false},
		{"*bcd", "abcd", true},
		{"*bcd", "abcdx", false},
		{"*bc*", "abcd", true},
		{"a*d", "abcd", true},
		{"a*d", "abcde", false},
		{"a*b*b", "ab", false}, // the parts may not overlap
		{"a*b*b", "abb", true},
		{"a_c", "abc", false}, // _ is literal
		{"a_c", "a_c", true},
		{"a%", "abc", false}, // so is %
		{"a.c", "abc", false},
		{"*", "", true},
		{"**", "x", true},
		{"Ü*", "übung", true},
	} {
		if got := tc.m.Matches(tc.s); got != tc.want {
			t.Errorf("Match(%q).Matches(%q) = %v, want %v", tc.m, tc.s, got, tc.want)
		}
	}
}

func TestLike(t *testing.T) {
	for _, tc := range []struct {
		in, like string
		exact    bool
	}{
		{"Stark.net", "stark.net", true},
		{"stark*", "stark%", false},
		{"*stark", "%stark", false},
		{"*stark*", "%stark%", false},
		{"50%_off*", `50\%\_off%`, false},
		{`back\slash*`, `back\\slash%`, false},
		{"100%", "100%", true},
	} {
		m := Match(tc.in)
		if m.Like() != tc.like || m.Exact() != tc.exact {
			t.Errorf("Match(%q): Like %q, Exact %v; want %q, %v", tc.in, m.Like(), m.Exact(), tc.like, tc.exact)
		}
	}
}

func TestParseSort(t *testing.T) {
	allowed := []string{"name", "id"}
	for _, tc := range []struct {
		in   string
		want Order
	}{
		{"", Order{Field: "name"}},
		{"id", Order{Field: "id"}},
		{"-name", Order{Field: "name", Desc: true}},
	} {
		if got, err := ParseSort(tc.in, "name", allowed); err != nil || got != tc.want {
			t.Errorf("ParseSort(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"nope", "-", "--name", "name;drop", "Name"} {
		_, err := ParseSort(bad, "name", allowed)
		f, ok := fault.As(err)
		if !ok || f.Kind != fault.Invalid || f.Field != "sort" || !strings.Contains(f.Detail, "allowed: id, name") {
			t.Errorf("ParseSort(%q) = %v; want a 400 on sort naming the allowed fields", bad, err)
		}
	}
}

func TestSlice(t *testing.T) {
	type item struct {
		name string
		n    string
	}
	items := []item{{"b", "2"}, {"a", "2"}, {"c", "1"}, {"ab", "3"}}
	fields := Fields[item]{
		"name": func(it item) string { return it.name },
		"n":    func(it item) string { return it.n },
	}
	tie := func(it item) string { return it.name }
	names := func(its []item) string {
		var s []string
		for _, it := range its {
			s = append(s, it.name)
		}
		return strings.Join(s, ",")
	}
	for _, tc := range []struct {
		p     Page
		keep  func(item) bool
		want  string
		total int64
		next  *Cursor
	}{
		{Page{PageSize: 10}, nil, "a,ab,b,c", 4, nil},
		{Page{PageSize: 10, Sort: "-name"}, nil, "c,b,ab,a", 4, nil},
		{Page{PageSize: 10, Sort: "n"}, nil, "c,a,b,ab", 4, nil},                                // ties by name
		{Page{PageSize: 10, Sort: "-n"}, nil, "ab,b,a,c", 4, nil},                               // the whole order reversed
		{Page{Offset: 1, PageSize: 2}, nil, "ab,b", 4, &Cursor{Order{"name", false}, "b", "b"}}, // a window
		{Page{Offset: 2, PageSize: 2}, nil, "b,c", 4, nil},                                      // the last page
		{Page{Offset: 4, PageSize: 2}, nil, "", 4, nil},                                         // past the end
		{Page{PageSize: 10}, func(it item) bool { return Match("a*").Matches(it.name) }, "a,ab", 2, nil},
		// Keyset pages: just after the cursor's item, whether or not it is
		// still there.
		{Page{PageSize: 2, After: &Cursor{Order{"name", false}, "ab", "ab"}}, nil, "b,c", 4, nil},
		{Page{PageSize: 1, After: &Cursor{Order{"name", false}, "aa", "aa"}}, nil, "ab", 4, &Cursor{Order{"name", false}, "ab", "ab"}},
		{Page{PageSize: 2, Sort: "-n", After: &Cursor{Order{"n", true}, "2", "b"}}, nil, "a,c", 4, nil},
		{Page{PageSize: 1, Sort: "n", After: &Cursor{Order{"n", false}, "2", "a"}}, nil, "b", 4, &Cursor{Order{"n", false}, "2", "b"}},
		{Page{PageSize: 2, After: &Cursor{Order{"name", false}, "c", "c"}}, nil, "", 4, nil},
	} {
		got, total, next, err := Slice(items, tc.keep, tc.p, fields, "name", tie)
		if err != nil || names(got) != tc.want || total != tc.total || !reflect.DeepEqual(next, tc.next) {
			t.Errorf("Slice(%+v) = %q, %d, %+v, %v; want %q, %d, %+v", tc.p, names(got), total, next, err, tc.want, tc.total, tc.next)
		}
	}
	if !slices.Equal([]string{names(items)}, []string{"b,a,c,ab"}) {
		t.Errorf("Slice reordered its input: %s", names(items))
	}
	if _, _, _, err := Slice(items, nil, Page{PageSize: 1, Sort: "size"}, fields, "name", tie); fault.KindOf(err) != fault.Invalid {
		t.Errorf("sort=size: %v, want a 400", err)
	}
}

// A cursor continues the order it was read in, and says where its page
// starts: another order, or an offset beside it, is a 400 naming cursor.
func TestPageStart(t *testing.T) {
	byName := Order{Field: "name"}
	c := &Cursor{Order: byName, Key: "a", Tie: int64(1)}
	for _, tc := range []struct {
		p    Page
		o    Order
		want string // "" for no error
	}{
		{Page{PageSize: 1}, byName, ""},
		{Page{Offset: 5, PageSize: 1}, byName, ""},
		{Page{PageSize: 1, After: c}, byName, ""},
		{Page{PageSize: 1, After: c}, Order{Field: "name", Desc: true}, "sorted by name, not by -name"},
		{Page{PageSize: 1, After: c}, Order{Field: "id"}, "sorted by name, not by id"},
		{Page{Offset: 1, PageSize: 1, After: c}, byName, "offset"},
	} {
		err := tc.p.Start(tc.o)
		if tc.want == "" {
			if err != nil {
				t.Errorf("%+v in %v: %v", tc.p, tc.o, err)
			}
			continue
		}
		f, ok := fault.As(err)
		if !ok || f.Kind != fault.Invalid || f.Field != "cursor" || !strings.Contains(f.Detail, tc.want) {
			t.Errorf("%+v in %v: %v; want a 400 on cursor saying %q", tc.p, tc.o, err, tc.want)
		}
	}
}
