package db

import (
	"context"
	"reflect"
	"slices"
	"testing"

	"gorm.io/gorm/schema"

	"github.com/cleanmail/cleanmail/db/dbtest"
)

// TestScanColumns holds the column lists of the reads scanned by hand
// (scan.go) to GORM's schema of their models: the same columns in the
// same order, each scanned into its own field, a JSON-serialized field
// through jsonOf. A field added to a model and not to its list fails
// here, not in a response that lacks it.
func TestScanColumns(t *testing.T) {
	s := openTestStore(t, dbtest.SQLite(t))
	t.Run("Domain", func(t *testing.T) { checkColumns(t, s, domainColumns) })
	t.Run("Policy", func(t *testing.T) { checkColumns(t, s, policyColumns) })
	t.Run("DomainAlias", func(t *testing.T) { checkColumns(t, s, domainAliasColumns) })
	t.Run("Platform", func(t *testing.T) { checkColumns(t, s, platformColumns) })
	t.Run("Customer", func(t *testing.T) { checkColumns(t, s, customerColumns) })
	t.Run("OutgoingProvider", func(t *testing.T) { checkColumns(t, s, outgoingProviderColumns) })
	t.Run("Admin", func(t *testing.T) { checkColumns(t, s, adminColumns) })
	t.Run("Authority", func(t *testing.T) { checkColumns(t, s, authorityColumns) })
	t.Run("PersonalToken", func(t *testing.T) { checkColumns(t, s, tokenColumns) })
	t.Run("User", func(t *testing.T) { checkColumns(t, s, userColumns) })
	t.Run("Broker", func(t *testing.T) { checkColumns(t, s, brokerColumns) })
	t.Run("EmailAlias", func(t *testing.T) { checkColumns(t, s, emailAliasColumns) })
	t.Run("AttachmentFilter", func(t *testing.T) { checkColumns(t, s, attachmentFilterColumns) })
	t.Run("UriFilter", func(t *testing.T) { checkColumns(t, s, uriFilterColumns) })
	t.Run("WblistRule", func(t *testing.T) { checkColumns(t, s, wblistColumns) })
}

func checkColumns[T any](t *testing.T, s *Store, c columns[T]) {
	var v T
	stmt := s.gdb.WithContext(context.Background()).Statement
	if err := stmt.Parse(&v); err != nil {
		t.Fatal(err)
	}
	var names []string
	var fields []*schema.Field
	for _, f := range stmt.Schema.Fields {
		if f.DBName != "" {
			names, fields = append(names, f.DBName), append(fields, f)
		}
	}
	if !slices.Equal(c.names, names) {
		t.Fatalf("columns %v, the model's %v", c.names, names)
	}
	dest := c.fields(&v)
	if len(dest) != len(fields) {
		t.Fatalf("%d fields scanned for %d columns", len(dest), len(fields))
	}
	for i, f := range fields {
		want := reflect.ValueOf(&v).Elem().FieldByIndex(f.StructField.Index).Addr()
		got, json := dest[i], false
		if j, ok := got.(interface{ target() any }); ok {
			got, json = j.target(), true
		}
		if g := reflect.ValueOf(got); g.Type() != want.Type() || g.Pointer() != want.Pointer() {
			t.Errorf("column %s scans into a %T, not into its field %s", f.DBName, dest[i], f.Name)
		}
		if serialized := f.Serializer != nil; json != serialized {
			t.Errorf("column %s: scanned as JSON %v, serialized by GORM %v", f.DBName, json, serialized)
		}
	}
}

func TestBind(t *testing.T) {
	for _, c := range []struct {
		d          Dialect
		q          string
		args       []any
		text       string
		vars       []any
		wantsPanic bool
	}{
		{d: Postgres, q: "SELECT a FROM t WHERE x = ? AND y IN ?", args: []any{1, []int64{7, 8}},
			text: "SELECT a FROM t WHERE x = $1 AND y IN ($2, $3)", vars: []any{1, int64(7), int64(8)}},
		{d: Postgres, q: "SELECT a FROM t WHERE x = ? AND y IN ?", args: []any{1, []int64{9}},
			text: "SELECT a FROM t WHERE x = $1 AND y IN ($2)", vars: []any{1, int64(9)}},
		{d: Postgres, q: "SELECT a FROM t WHERE x IN ? AND y IN ?", args: []any{[]string{"a"}, []int64{7, 8}},
			text: "SELECT a FROM t WHERE x IN ($1) AND y IN ($2, $3)", vars: []any{"a", int64(7), int64(8)}},
		{d: SQLite, q: "SELECT a FROM t WHERE x = ? AND y IN ?", args: []any{1, []int64{7, 8}},
			text: "SELECT a FROM t WHERE x = ? AND y IN (?, ?)", vars: []any{1, int64(7), int64(8)}},
		{d: Postgres, q: "SELECT a FROM t WHERE y IN ?", args: []any{[]string{}},
			text: "SELECT a FROM t WHERE y IN (NULL)", vars: []any{}},
		{d: Postgres, q: "SELECT a FROM t WHERE b = ? AND c = '?'", args: []any{[]byte("x")},
			text: "SELECT a FROM t WHERE b = $1 AND c = '?'", vars: []any{[]byte("x")}},
		{d: Postgres, q: "SELECT a FROM t WHERE b = ? AND c = ?", args: []any{1, "x"},
			text: "SELECT a FROM t WHERE b = $1 AND c = $2", vars: []any{1, "x"}},
		{d: SQLite, q: "SELECT a FROM t WHERE b = ? AND c = ?", args: []any{1, "x"},
			text: "SELECT a FROM t WHERE b = ? AND c = ?", vars: []any{1, "x"}},
		// The text of a statement without an IN list, kept after its
		// first writing, is not another count of arguments'.
		{d: Postgres, q: "SELECT a FROM t WHERE b = ? AND c = ?", args: []any{1}, wantsPanic: true},
		{d: SQLite, q: "SELECT a FROM t WHERE b = ?", args: nil, wantsPanic: true},
		{d: SQLite, q: "SELECT a FROM t", args: []any{1}, wantsPanic: true},
	} {
		t.Run(c.q, func(t *testing.T) {
			// Twice: written, then (without an IN list) as kept.
			for range 2 {
				func() {
					defer func() {
						if r := recover(); (r != nil) != c.wantsPanic {
							t.Errorf("panic %v, want one: %v", r, c.wantsPanic)
						}
					}()
					text, vars := bind(c.d, c.q, c.args)
					if text != c.text || !reflect.DeepEqual(vars, c.vars) {
						t.Errorf("bind = %q %#v, want %q %#v", text, vars, c.text, c.vars)
					}
				}()
			}
		})
	}
}
