package db

import "testing"

func TestMatchClause(t *testing.T) {
	for _, tc := range []struct {
		in, sql, arg string
	}{
		{"Stark.net", "lower(c) = ?", "stark.net"},
		{"stark*", `lower(c) LIKE ? ESCAPE '\'`, "stark%"},
		{"*stark", `lower(c) LIKE ? ESCAPE '\'`, "%stark"},
		{"*stark*", `lower(c) LIKE ? ESCAPE '\'`, "%stark%"},
		{"50%_off*", `lower(c) LIKE ? ESCAPE '\'`, `50\%\_off%`},
		{`back\slash*`, `lower(c) LIKE ? ESCAPE '\'`, `back\\slash%`},
		{"100%", "lower(c) = ?", "100%"},
	} {
		sql, arg := matchClause(Match(tc.in), "c")
		if sql != tc.sql || arg != tc.arg {
			t.Errorf("Match(%q).clause = %q, %q; want %q, %q", tc.in, sql, arg, tc.sql, tc.arg)
		}
	}
}

func TestOrderBy(t *testing.T) {
	spec := ListSpec{Table: "x", DefaultSort: "name", Sorts: map[string]string{"name": "lower(x.name)", "id": "x.id"}}
	for _, tc := range []struct{ in, want string }{
		{"", "lower(x.name) ASC, x.id ASC"},
		{"name", "lower(x.name) ASC, x.id ASC"},
		{"-name", "lower(x.name) DESC, x.id DESC"},
		{"-id", "x.id DESC, x.id DESC"},
	} {
		got, err := spec.orderBy(SQLite, tc.in)
		if err != nil || got != tc.want {
			t.Errorf("orderBy(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	if got, _ := spec.orderBy(Postgres, "-name"); got != `lower(x.name) COLLATE "C" DESC, x.id DESC` {
		t.Errorf("PostgreSQL order %q, want the C collation", got)
	}
	for _, bad := range []string{"nope", "-", "--name", "name;drop"} {
		if _, err := spec.orderBy(SQLite, bad); err == nil {
			t.Errorf("orderBy(%q) accepted; want a 400 on sort", bad)
		}
	}
}
