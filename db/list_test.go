package db

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"gorm.io/gorm"
	"gorm.io/gorm/utils/tests"

	"github.com/cleanmail/cleanmail/pkg/listing"
)

func TestMatchClause(t *testing.T) {
	for _, tc := range []struct {
		in, sql, arg string
		// bounds: the range of the pattern's literal start beside the
		// LIKE (sql names "lower(c)" for it, which PostgreSQL compares in
		// the C collation).
		bounds []any
	}{
		{in: "Stark.net", sql: "lower(c) = ?", arg: "stark.net"},
		{in: "stark*", sql: `(lower(c) LIKE ? ESCAPE '\' AND lower(c)! >= ? AND lower(c)! < ?)`, arg: "stark%", bounds: []any{"stark", "starl"}},
		{in: "*stark", sql: `lower(c) LIKE ? ESCAPE '\'`, arg: "%stark"},
		{in: "*stark*", sql: `lower(c) LIKE ? ESCAPE '\'`, arg: "%stark%"},
		{in: "st*rk", sql: `(lower(c) LIKE ? ESCAPE '\' AND lower(c)! >= ? AND lower(c)! < ?)`, arg: "st%rk", bounds: []any{"st", "su"}},
		{in: "50%_off*", sql: `(lower(c) LIKE ? ESCAPE '\' AND lower(c)! >= ? AND lower(c)! < ?)`, arg: `50\%\_off%`, bounds: []any{"50%_off", "50%_ofg"}},
		{in: `back\slash*`, sql: `(lower(c) LIKE ? ESCAPE '\' AND lower(c)! >= ? AND lower(c)! < ?)`, arg: `back\\slash%`, bounds: []any{`back\slash`, `back\slasi`}},
		// No ASCII successor: the range is open above.
		{in: "Café*", sql: `(lower(c) LIKE ? ESCAPE '\' AND lower(c)! >= ?)`, arg: "café%", bounds: []any{"café"}},
		{in: "100%", sql: "lower(c) = ?", arg: "100%"},
	} {
		wantArgs := append([]any{tc.arg}, tc.bounds...)
		for d, collate := range map[Dialect]string{Postgres: ` COLLATE "C"`, SQLite: ""} {
			want := strings.ReplaceAll(tc.sql, "!", collate)
			sql, args := matchClause(d, Match(tc.in), "c")
			if sql != want || !slices.Equal(args, wantArgs) {
				t.Errorf("%v: Match(%q).clause = %q, %q; want %q, %q", d, tc.in, sql, args, want, wantArgs)
			}
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

// listSpecs is every list the store pages.
func listSpecs() []ListSpec {
	return []ListSpec{AdminList, AttachmentFilterList, BrokerList, CustomerList, DomainAliasList, DomainList, EmailAliasList,
		OutgoingProviderList, PolicyList, UriFilterList, UserList, WblistList(DomainOwner(1)), WblistList(UserOwner(1))}
}

// A keyset page follows the order of the offset walk, NULLs included,
// only if it knows which sort keys may be NULL: ListSpec.Nullable must
// name exactly the keys computed from a column the schema lets be NULL
// (a COALESCE never is; a list's constant key orders nothing).
func TestListSpecsNullable(t *testing.T) {
	testStores(t, func(t *testing.T, s *Store) {
		pool, err := s.SQL()
		if err != nil {
			t.Fatal(err)
		}
		for _, spec := range listSpecs() {
			for field, expr := range spec.Sorts {
				column, _, err := spec.sortColumn(field)
				if err != nil {
					t.Error(err)
					continue
				}
				q := `SELECT "notnull" = 0 AND pk = 0 FROM pragma_table_info(?) WHERE name = ?` // the rowid: never NULL
				if s.Dialect() == Postgres {
					q = "SELECT is_nullable = 'YES' FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1 AND column_name = $2"
				}
				var nullable bool
				if err := pool.QueryRow(q, spec.Table, column).Scan(&nullable); err != nil {
					t.Errorf("%s.%s: %v", spec.Table, column, err)
					continue
				}
				want := nullable && !strings.HasPrefix(expr, "COALESCE(") && !slices.Contains(spec.Constant, field)
				if got := slices.Contains(spec.Nullable, field); got != want {
					t.Errorf("list %s, sort %s (%s): declared nullable %v, want %v", spec.Table, field, expr, got, want)
				}
			}
		}
	})
}

// The runs of a keyset page, as each database reads them: PostgreSQL in
// one bound of a row value, SQLite in the rest of the cursor's key then
// the keys past it; a nullable key's NULLs where each database puts them.
func TestKeysetRuns(t *testing.T) {
	spec := ListSpec{Table: "x", DefaultSort: "name", Nullable: []string{"nick"},
		Sorts: map[string]string{"name": "lower(x.name)", "nick": "lower(x.nick)", "id": "x.id", "owner": "x.owner_id",
			"expire": "COALESCE(x.expire_at, 9223372036854775807)"}, Constant: []string{"owner"}}
	type row struct {
		ID       int64
		Name     string
		Nick     *string
		OwnerID  *int64
		ExpireAt *int64
	}
	gdb, err := gorm.Open(tests.DummyDialector{}, &gorm.Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		d    Dialect
		sort string
		key  any
		want []string
	}{
		{Postgres, "name", "Ned", []string{`(lower(x.name) COLLATE "C", x.id) > (lower(?), ?) [Ned 7]`}},
		{Postgres, "-name", "Ned", []string{`(lower(x.name) COLLATE "C", x.id) < (lower(?), ?) [Ned 7]`}},
		{SQLite, "name", "Ned", []string{`lower(x.name) = lower(?) AND x.id > ? [Ned 7] x.id ASC`, `lower(x.name) > lower(?) [Ned]`}},
		{SQLite, "-name", "Ned", []string{`lower(x.name) = lower(?) AND x.id < ? [Ned 7] x.id DESC`, `lower(x.name) < lower(?) [Ned]`}},
		{Postgres, "id", nil, []string{`x.id > ? [7]`}},
		// A NULL column, a key that is not: no run of NULLs.
		{Postgres, "expire", nil, []string{`(COALESCE(x.expire_at, 9223372036854775807), x.id) > (COALESCE(?, 9223372036854775807), ?) [<nil> 7]`}},
		{SQLite, "-expire", nil, []string{`COALESCE(x.expire_at, 9223372036854775807) = COALESCE(?, 9223372036854775807) AND x.id < ? [<nil> 7] x.id DESC`,
			`COALESCE(x.expire_at, 9223372036854775807) < COALESCE(?, 9223372036854775807) [<nil>]`}},
		{SQLite, "-owner", nil, []string{`x.id < ? [7]`}},
		// PostgreSQL: NULLs after the values, ascending; before them,
		// descending.
		{Postgres, "nick", "Ned", []string{`(lower(x.nick) COLLATE "C", x.id) > (lower(?), ?) [Ned 7]`, `lower(x.nick) COLLATE "C" IS NULL []`}},
		{Postgres, "nick", nil, []string{`lower(x.nick) COLLATE "C" IS NULL AND x.id > ? [7]`}},
		{Postgres, "-nick", "Ned", []string{`(lower(x.nick) COLLATE "C", x.id) < (lower(?), ?) [Ned 7]`}},
		{Postgres, "-nick", nil, []string{`lower(x.nick) COLLATE "C" IS NULL AND x.id < ? [7]`, `lower(x.nick) COLLATE "C" IS NOT NULL []`}},
		// SQLite: NULLs before the values, ascending; after them,
		// descending.
		{SQLite, "nick", "Ned", []string{`lower(x.nick) = lower(?) AND x.id > ? [Ned 7] x.id ASC`, `lower(x.nick) > lower(?) [Ned]`}},
		{SQLite, "nick", nil, []string{`lower(x.nick) IS NULL AND x.id > ? [7] x.id ASC`, `lower(x.nick) >= ? []`}},
		{SQLite, "-nick", "Ned", []string{`lower(x.nick) = lower(?) AND x.id < ? [Ned 7] x.id DESC`, `lower(x.nick) < lower(?) [Ned]`, `lower(x.nick) IS NULL [] x.id DESC`}},
		{SQLite, "-nick", nil, []string{`lower(x.nick) IS NULL AND x.id < ? [7] x.id DESC`}},
	} {
		o, err := spec.order(tc.sort)
		if err != nil {
			t.Fatal(err)
		}
		ks, err := newKeyset[row](gdb, spec, o)
		if err != nil {
			t.Fatal(err)
		}
		runs, err := ks.after(tc.d, Cursor{Order: o, Key: tc.key, Tie: int64(7)})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range runs {
			got = append(got, strings.TrimSpace(fmt.Sprintf("%s %v %s", r.cond, r.args, r.order)))
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%v, sort=%s after %v:\n got %q\nwant %q", tc.d, tc.sort, tc.key, got, tc.want)
		}
	}
	// A cursor whose values the rows cannot hold is not this list's.
	o, _ := spec.order("name")
	ks, err := newKeyset[row](gdb, spec, o)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []Cursor{{Order: o, Key: int64(3), Tie: int64(7)}, {Order: o, Key: nil, Tie: int64(7)}, {Order: o, Key: "Ned", Tie: "7"}, {Order: o, Key: "Ned"}} {
		if _, err := ks.after(SQLite, c); !errors.Is(err, listing.ErrNotACursor) {
			t.Errorf("after %+v: %v, want ErrNotACursor", c, err)
		}
	}
}
