package db

import (
	"regexp"
	"strings"
	"testing"

	"github.com/cleanmail/cleanmail/pkg/fault"
)

// TestNormalizeOptionValues checks every option type: what is accepted, in
// which canonical form, and what is refused.
func TestNormalizeOptionValues(t *testing.T) {
	def := func(typ OptionType) *OptionDef {
		return &OptionDef{Name: "X", Type: typ, Values: []string{"NEVER", "DAILY"}, Min: some[int64](1), Max: some[int64](1000)}
	}
	long := strings.Repeat("a", 256)
	for _, tc := range []struct {
		typ  OptionType
		in   string
		want string
		ok   bool // false: refused
	}{
		{OptionString, "hello world", "hello world", true},
		{OptionString, "", "", true},
		{OptionString, " kept as is ", " kept as is ", true},
		{OptionString, "é" + strings.Repeat("a", 254), "é" + strings.Repeat("a", 254), true}, // 255 characters
		{OptionString, long, "", false},
		{OptionString, "two\nlines", "", false},
		{OptionString, "nul\x00byte", "", false},

		{OptionText, "line one\nline two\r\n\ttabbed", "line one\nline two\r\n\ttabbed", true},
		{OptionText, "bell\a", "", false},
		{OptionText, strings.Repeat("a", 65536), "", false},

		{OptionEmail, "admin@targaryen.net", "admin@targaryen.net", true},
		{OptionEmail, "Dany@TARGARYEN.Net", "Dany@targaryen.net", true},
		{OptionEmail, " admin@targaryen.net ", "admin@targaryen.net", true},
		{OptionEmail, "admin@bücher.de", "admin@xn--bcher-kva.de", true},
		{OptionEmail, "admin", "", false},
		{OptionEmail, "admin@localhost", "", false},
		{OptionEmail, "Dany <admin@targaryen.net>", "", false},
		{OptionEmail, "admin@targaryen.net (comment)", "", false},
		{OptionEmail, "a@b@c.net", "", false},
		{OptionEmail, "admin@under_score.net", "", false},
		{OptionEmail, "", "", false},

		{OptionURL, "https://help.cleanmail.tld/faq?x=1", "https://help.cleanmail.tld/faq?x=1", true},
		{OptionURL, "HTTP://help.cleanmail.tld", "HTTP://help.cleanmail.tld", true},
		{OptionURL, "ftp://help.cleanmail.tld", "", false},
		{OptionURL, "help.cleanmail.tld", "", false},
		{OptionURL, "https://", "", false},
		{OptionURL, "https://user:secret@help.cleanmail.tld", "", false},
		{OptionURL, "https://help.cleanmail.tld/a b", "", false},
		{OptionURL, "", "", false},

		{OptionHost, "mx.cleanmail.tld", "mx.cleanmail.tld", true},
		{OptionHost, "MX.Cleanmail.TLD.", "mx.cleanmail.tld", true},
		{OptionHost, "cleanmail", "cleanmail", true},
		{OptionHost, "bücher.de", "xn--bcher-kva.de", true},
		{OptionHost, "mx_1.cleanmail.tld", "", false},
		{OptionDNSName, "_SPF.Cleanmail.TLD.", "_spf.cleanmail.tld", true},
		{OptionDNSName, "bad name.example", "", false},
		{OptionHost, "-mx.cleanmail.tld", "", false},
		{OptionHost, strings.Repeat("a", 64) + ".tld", "", false},
		{OptionHost, "192.0.2.1", "", false},
		{OptionHost, "::1", "", false},
		{OptionHost, "", "", false},
		{OptionHost, "a b.tld", "", false},

		{OptionBool, "true", "true", true},
		{OptionBool, "FALSE", "false", true},
		{OptionBool, "yes", "", false},
		{OptionBool, "1", "", false},
		{OptionBool, "", "", false},

		{OptionColor, "#fff", "#fff", true},
		{OptionColor, "#1F6FEB", "#1f6feb", true},
		{OptionColor, "1f6feb", "", false},
		{OptionColor, "#1f6fe", "", false},
		{OptionColor, "#ggg", "", false},
		{OptionColor, "red", "", false},

		{OptionList, "DAILY", "DAILY", true},
		{OptionList, "never", "NEVER", true},
		{OptionList, "HOURLY", "", false},
		{OptionList, "", "", false},

		{OptionTimezone, "Europe/Paris", "Europe/Paris", true},
		{OptionTimezone, "UTC", "UTC", true},
		{OptionTimezone, "America/Argentina/Buenos_Aires", "America/Argentina/Buenos_Aires", true},
		{OptionTimezone, "Mars/Olympus_Mons", "", false},
		{OptionTimezone, "Local", "", false},
		{OptionTimezone, "", "", false},
		{OptionTimezone, "../../etc/passwd", "", false},

		{OptionInteger, "100", "100", true},
		{OptionInteger, " 007 ", "7", true},
		{OptionInteger, "+5", "5", true},
		{OptionInteger, "1000", "1000", true},
		{OptionInteger, "0", "", false},
		{OptionInteger, "1001", "", false},
		{OptionInteger, "1.5", "", false},
		{OptionInteger, "ten", "", false},
		{OptionInteger, "99999999999999999999", "", false},

		{"PASSWORD", "secret", "", false}, // types the catalog must not use
	} {
		got, err := def(tc.typ).Normalize(tc.in)
		switch {
		case tc.ok && err != nil:
			t.Errorf("%s %q: refused (%v), want %q", tc.typ, tc.in, err, tc.want)
		case tc.ok && got != tc.want:
			t.Errorf("%s %q: got %q, want %q", tc.typ, tc.in, got, tc.want)
		case !tc.ok && err == nil:
			t.Errorf("%s %q: accepted as %q, want refused", tc.typ, tc.in, got)
		case !tc.ok:
			if e, ok := fault.As(err); !ok || e.Kind != fault.Invalid || e.Field != "value" {
				t.Errorf("%s %q: error %#v, want an ErrInvalid naming value", tc.typ, tc.in, err)
			}
		}
	}
}

// TestOptionCatalog checks the catalog's own consistency.
func TestOptionCatalog(t *testing.T) {
	name := regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)
	supported := map[OptionType]bool{OptionString: true, OptionText: true, OptionEmail: true, OptionURL: true, OptionHost: true, OptionDNSName: true,
		OptionBool: true, OptionColor: true, OptionList: true, OptionTimezone: true, OptionInteger: true}
	seen := map[string]bool{}
	for _, d := range catalog().sorted {
		if !name.MatchString(d.Name) || seen[d.Name] {
			t.Errorf("%q: names are unique, upper case", d.Name)
		}
		seen[d.Name] = true
		if !supported[d.Type] {
			t.Errorf("%s: type %s cannot be checked", d.Name, d.Type)
		}
		if d.Description == "" {
			t.Errorf("%s: no description", d.Name)
		}
		if len(d.Scopes) == 0 {
			t.Errorf("%s: no scope", d.Name)
		}
		if (d.Type == OptionList) != (len(d.Values) > 0) {
			t.Errorf("%s: values are for LIST options, which need some", d.Name)
		}
		if d.Default != nil {
			got, err := d.Normalize(*d.Default)
			if err != nil || got != *d.Default {
				t.Errorf("%s: default %q is not in canonical form (%q, %v)", d.Name, *d.Default, got, err)
			}
		}
		if got, ok := LookupOption(strings.ToLower(d.Name)); !ok || got != d {
			t.Errorf("LookupOption(%q) does not find it", strings.ToLower(d.Name))
		}
	}
	// What the server and the doc's examples need.
	for n, typ := range map[string]OptionType{"APP_URL": OptionHost, "DOMAIN_ADMIN": OptionEmail, "DOMAIN_OPTION_EXAMPLE": OptionString,
		"USER_OPTION_EXAMPLE": OptionString, "DKIM_SELECTOR": OptionHost, "MX_HOST": OptionHost} {
		if d, ok := LookupOption(n); !ok || d.Type != typ {
			t.Errorf("catalog lacks %s of type %s", n, typ)
		}
	}
	if d, _ := LookupOption("DKIM_SELECTOR"); d.Default == nil || *d.Default != "cleanmail" {
		t.Errorf("DKIM_SELECTOR default: %v", d.Default)
	}
	if _, ok := LookupOption("NO_SUCH_OPTION"); ok {
		t.Error("LookupOption finds an unknown name")
	}
}

// TestMatchRenderingsAgree checks that a filter means the same in memory
// (the catalog's list) and as SQL (every other list), on both databases.
func TestMatchRenderingsAgree(t *testing.T) {
	cases := []struct {
		m Match
		s string
	}{
		{"abc", "ABC"}, {"abc", "abcd"}, {"abc*", "abcd"}, {"*bcd", "abcd"}, {"*bcd", "abcdx"},
		{"*bc*", "abcd"}, {"a*d", "abcd"}, {"a*d", "abcde"}, {"a*b*b", "ab"}, {"a*b*b", "abb"},
		{"a_c", "abc"}, {"a_c", "a_c"}, {"a%", "abc"}, {"a%", "a%"}, {"a.c", "abc"}, {`a\c*`, `a\cd`},
		{"*", ""}, {"**", "x"}, {"Mail.Example*", "mail.example.com"},
		// The literal start's range (SQLite) must hold every match.
		{"ab*", "ab"}, {"ab*", "abz"}, {"ab*", "ac"}, {"ab*", "aa"}, {"ab*", "AB~"}, {"a~*", "a~~"},
		{"é*", "école"}, {"École*", "école"}, {"caf*", "CAFÉ"}, {"café*", "cafés"}, {"café*", "cafe"},
		{"a_*", "a_b"}, {"a_*", "abb"}, {"a%*", "a%b"}, {"a%*", "ab"},
	}
	testStores(t, func(t *testing.T, s *Store) {
		for _, tc := range cases {
			cond, args := matchClause(s.Dialect(), tc.m, "c")
			var n int64
			err := s.gdb.Raw("SELECT count(*) FROM (SELECT ? AS c) t WHERE "+cond, append([]any{tc.s}, args...)...).Scan(&n).Error
			if err != nil {
				t.Fatal(err)
			}
			if inMemory := tc.m.Matches(tc.s); inMemory != (n == 1) {
				t.Errorf("Match(%q) on %q: in memory %v, in SQL %v", tc.m, tc.s, inMemory, n == 1)
			}
		}
	})
}

func TestOptionDefsPaging(t *testing.T) {
	all, total, _, err := OptionDefs(OptionDefFilter{}, Page{PageSize: 1000})
	if err != nil || int(total) != len(optionCatalog) || len(all) != len(optionCatalog) {
		t.Fatalf("OptionDefs = %d items, total %d, %v; want the %d of the catalog", len(all), total, err, len(optionCatalog))
	}
	page, total, _, _ := OptionDefs(OptionDefFilter{}, Page{Offset: 1, PageSize: 2, Sort: "-name"})
	if int(total) != len(all) || len(page) != 2 || page[0] != all[len(all)-2] || page[1] != all[len(all)-3] {
		t.Errorf("offset 1, pageSize 2, -name: %v", page)
	}
	if _, _, _, err := OptionDefs(OptionDefFilter{}, Page{PageSize: 10, Sort: "value"}); fault.KindOf(err) != fault.Invalid {
		t.Errorf("sort=value: %v, want a 400", err)
	}
}
