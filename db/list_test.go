package db

import (
	"slices"
	"testing"
)

func TestMatchClause(t *testing.T) {
	for _, tc := range []struct {
		in, sql, arg string
		// SQLite's rendering, where it differs: the range of the
		// pattern's literal start beside the LIKE.
		sqlite string
		bounds []any
	}{
		{in: "Stark.net", sql: "lower(c) = ?", arg: "stark.net"},
		{in: "stark*", sql: `lower(c) LIKE ? ESCAPE '\'`, arg: "stark%",
			sqlite: `(lower(c) LIKE ? ESCAPE '\' AND lower(c) >= ? AND lower(c) < ?)`, bounds: []any{"stark", "starl"}},
		{in: "*stark", sql: `lower(c) LIKE ? ESCAPE '\'`, arg: "%stark"},
		{in: "*stark*", sql: `lower(c) LIKE ? ESCAPE '\'`, arg: "%stark%"},
		{in: "st*rk", sql: `lower(c) LIKE ? ESCAPE '\'`, arg: "st%rk",
			sqlite: `(lower(c) LIKE ? ESCAPE '\' AND lower(c) >= ? AND lower(c) < ?)`, bounds: []any{"st", "su"}},
		{in: "50%_off*", sql: `lower(c) LIKE ? ESCAPE '\'`, arg: `50\%\_off%`,
			sqlite: `(lower(c) LIKE ? ESCAPE '\' AND lower(c) >= ? AND lower(c) < ?)`, bounds: []any{"50%_off", "50%_ofg"}},
		{in: `back\slash*`, sql: `lower(c) LIKE ? ESCAPE '\'`, arg: `back\\slash%`,
			sqlite: `(lower(c) LIKE ? ESCAPE '\' AND lower(c) >= ? AND lower(c) < ?)`, bounds: []any{`back\slash`, `back\slasi`}},
		// No ASCII successor: the range is open above.
		{in: "Café*", sql: `lower(c) LIKE ? ESCAPE '\'`, arg: "café%",
			sqlite: `(lower(c) LIKE ? ESCAPE '\' AND lower(c) >= ?)`, bounds: []any{"café"}},
		{in: "100%", sql: "lower(c) = ?", arg: "100%"},
	} {
		sql, args := matchClause(Postgres, Match(tc.in), "c")
		if sql != tc.sql || !slices.Equal(args, []any{tc.arg}) {
			t.Errorf("PostgreSQL: Match(%q).clause = %q, %q; want %q, %q", tc.in, sql, args, tc.sql, tc.arg)
		}
		want, wantArgs := tc.sql, []any{tc.arg}
		if tc.sqlite != "" {
			want, wantArgs = tc.sqlite, append(wantArgs, tc.bounds...)
		}
		sql, args = matchClause(SQLite, Match(tc.in), "c")
		if sql != want || !slices.Equal(args, wantArgs) {
			t.Errorf("SQLite: Match(%q).clause = %q, %q; want %q, %q", tc.in, sql, args, want, wantArgs)
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
