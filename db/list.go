package db

import (
	"context"
	"fmt"
	"maps"
	"math"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/schema"

	"github.com/cleanmail/cleanmail/pkg/listing"
)

// Page selects one page of a list, in one order (pkg/listing).
type Page = listing.Page

// Cursor names the row a keyset page starts after (pkg/listing). Every
// List method returns, after its page and the count of all matches, the
// cursor of the page that follows (nil on the last): findPage's.
type Cursor = listing.Cursor

// Match is the API's filter syntax (pkg/listing), rendered here as SQL.
type Match = listing.Match

// ListSpec declares how a resource may be listed: which API fields sort
// on which columns. Ties are always broken by the primary key, so paging
// is stable.
type ListSpec struct {
	// Table qualifies the id tie-breaker (lists often join).
	Table string
	// Sorts maps an API field name to its SQL expression, computed from
	// one column of Table (a keyset page computes it from a cursor's
	// value of that column the same way).
	Sorts map[string]string
	// DefaultSort is used when Page.Sort is empty.
	DefaultSort string
	// Nullable names the sort fields whose key may be NULL. Each database
	// puts NULLs at its own end of an order (PostgreSQL after every
	// value, SQLite before them), and a keyset page follows the order
	// there as an offset does.
	Nullable []string
	// Constant names the sort fields whose key is the same on every row
	// of one list (a rule list's owner): the id alone orders them, and
	// continues them after a cursor.
	Constant []string
}

// order parses a sort parameter against the list's fields.
func (spec ListSpec) order(s string) (listing.Order, error) {
	return listing.ParseSort(s, spec.DefaultSort, slices.Collect(maps.Keys(spec.Sorts)))
}

// key is the SQL expression of field's sort key. Case-insensitive text
// keys (lower(…)) sort in byte order on both databases: PostgreSQL is
// told the "C" collation, SQLite's default.
func (spec ListSpec) key(d Dialect, field string) string {
	col := spec.Sorts[field]
	if d == Postgres && strings.HasPrefix(col, "lower(") {
		col += ` COLLATE "C"`
	}
	return col
}

// orderBy turns a sort parameter into an ORDER BY clause.
func (spec ListSpec) orderBy(d Dialect, s string) (string, error) {
	o, err := spec.order(s)
	if err != nil {
		return "", err
	}
	return spec.orderOf(d, o), nil
}

// orderOf is the ORDER BY clause of o, with the id tie-breaker.
func (spec ListSpec) orderOf(d Dialect, o listing.Order) string {
	dir := "ASC"
	if o.Desc {
		dir = "DESC"
	}
	return fmt.Sprintf("%s %s, %s.id %s", spec.key(d, o.Field), dir, spec.Table, dir)
}

// Validate checks the sort field without querying.
func (spec ListSpec) Validate(p Page) error {
	_, err := spec.orderBy(SQLite, p.Sort)
	return err
}

// findPage counts every row q matches (countMatches: a kept count when q
// has one), then loads the requested page: two queries whatever the page
// length, or for a keyset page one a run of the order it reads until the
// page is full (ks.after: one on PostgreSQL, up to three on SQLite). It
// reads one row past the page, which tells whether another follows: then
// it also returns the cursor that continues after the page's last row.
//
// q holds the list's filters, as GORM conditions; GORM writes them once
// (whereOf), and findPage writes the rest of the two statements itself and
// runs them as query does, scanning the page's rows by hand (c, the
// columns of T): GORM's building of each statement (cloning q's
// statement, adding its clauses) and its reflective scanning cost a
// one-row page about 15 kB of allocations, half of what it allocated
// beyond the bare SQL's (issue 14). The statements are GORM's own but
// for their select list (the columns, not *) and their table's name,
// unquoted.
func findPage[T any](ctx context.Context, q *gorm.DB, spec ListSpec, c columns[T], p Page) ([]T, int64, *Cursor, error) {
	d := dialectOf(q)
	o, err := spec.order(p.Sort)
	if err != nil {
		return nil, 0, nil, err
	}
	if err := p.Start(o); err != nil {
		return nil, 0, nil, err
	}
	ks, err := newKeyset[T](q, spec, o)
	if err != nil {
		return nil, 0, nil, err
	}
	// An offset page is one run of the order; a keyset page is where the
	// rows after its cursor lie, in one run or more.
	runs := []run{{}}
	if p.After != nil {
		if runs, err = ks.after(d, *p.After); err != nil {
			return nil, 0, nil, err
		}
	}
	r := readerOf(q)
	m := matches{table: spec.Table}
	if m.cond, m.vars, err = whereOf(q); err != nil {
		return nil, 0, nil, err
	}
	_, m.loose = q.Get(unanchoredKey)
	total, err := countMatches(r, q, m)
	if err != nil {
		return nil, 0, nil, err
	}
	rows := []T{}
	if total == 0 || int64(p.Offset) >= total {
		return rows, total, nil, nil
	}
	order := spec.orderOf(d, o)
	for _, run := range runs {
		part, err := readRun(r, m, c, order, run, p.Offset, p.PageSize+1-len(rows), total)
		if err != nil {
			return nil, 0, nil, err
		}
		rows = append(rows, part...)
		if len(rows) > p.PageSize {
			break
		}
	}
	if len(rows) <= p.PageSize || p.PageSize <= 0 {
		return rows[:min(len(rows), max(p.PageSize, 0))], total, nil, nil
	}
	rows = rows[:p.PageSize:p.PageSize]
	next, err := ks.cursorOf(ctx, &rows[len(rows)-1])
	return rows, total, next, err
}

// matches are the rows of a list's table that its filters select: their
// condition as GORM writes it ("" for none) and its arguments, numbered
// from the first placeholder.
type matches struct {
	table string
	cond  string
	vars  []any
	// loose: a filter with a leading wildcard (anchor).
	loose bool
}

// where is m's WHERE clause with more conditions after it (and), ""
// when there are none.
func (m matches) where(and string) string {
	switch {
	case m.cond == "" && and == "":
		return ""
	case m.cond == "":
		return " WHERE " + and
	case and == "":
		return " WHERE " + m.cond
	}
	return " WHERE (" + m.cond + ") AND (" + and + ")"
}

// whereOf is q's condition as GORM writes it in a WHERE clause (its
// conditions joined by AND), and the arguments of its placeholders.
func whereOf(q *gorm.DB) (string, []any, error) {
	c, ok := q.Statement.Clauses["WHERE"]
	if !ok || c.Expression == nil {
		return "", nil, q.Error
	}
	st := &gorm.Statement{DB: q, Context: q.Statement.Context, Clauses: map[string]clause.Clause{}}
	c.Expression.Build(st)
	// A condition GORM cannot write (an argument it cannot bind) is
	// q's error, as GORM's own statements report it.
	return st.SQL.String(), st.Vars, q.Error
}

// readRun loads at most limit rows of m in order, from the run of the
// order, past offset.
func readRun[T any](r reader, m matches, c columns[T], order string, run run, offset, limit int, total int64) ([]T, error) {
	if run.order != "" {
		order = run.order
	}
	// m's condition is written (its placeholders numbered) already; the
	// run's condition and the page's bounds follow it.
	vars := slices.Clone(m.vars)
	cond := ""
	if run.cond != "" {
		cond, vars = bindAfter(r.d, vars, run.cond, run.args)
	}
	rest, bounds := " ORDER BY "+order+" LIMIT ?", []any{limit}
	if m.loose && total <= fewMatches && r.d == Postgres {
		// A `*ab*` filter that matches few rows: the page is sorted from
		// its matches, found by their (trigram) index, rather than by
		// walking the sort's index until enough of them turn up, which
		// the planner may choose for want of a good estimate of such a
		// filter (it samples a hundred values: one that matches makes
		// it expect a match in a hundred rows, and it walked all
		// 200,000 users for five). MATERIALIZED keeps the two apart.
		head := "WITH matches AS MATERIALIZED (SELECT * FROM " + m.table + m.where("") + ") "
		text, vars := bindAfter(r.d, vars, rest+" OFFSET ?", append(bounds, offset))
		body := matches{table: m.table}.where(cond)
		return scanAll(r, c, head+"SELECT "+c.of(m.table)+" FROM matches AS "+m.table+body+text, vars)
	}
	if offset > 0 {
		rest, bounds = rest+" OFFSET ?", append(bounds, offset)
	}
	text, vars := bindAfter(r.d, vars, rest, bounds)
	return scanAll(r, c, "SELECT "+c.of(m.table)+" FROM "+m.table+m.where(cond)+text, vars)
}

// scanAll runs a statement already bound and returns its rows, the
// columns c (an empty slice for none).
func scanAll[T any](r reader, c columns[T], text string, vars []any) ([]T, error) {
	out := []T{}
	err := appendRows(r, c, &out, text, vars)
	return out, err
}

// run is a stretch of a list's order that one statement reads: the rows
// of the list that meet cond, in the list's order (or in order, an order
// that is the list's on those rows).
type run struct {
	cond  string
	args  []any
	order string
}

// keyset is how a list read in one order continues after a cursor: the
// column of the rows its key is computed from, and how.
type keyset struct {
	spec  ListSpec
	order listing.Order
	// byID: the order is the id's (the id itself, or a constant key).
	byID bool
	// param is the key's expression computed from a parameter, the
	// cursor's value of column (lower(?)).
	param    string
	column   *schema.Field
	id       *schema.Field
	nullable bool
}

// sortColumns finds the column of Table a sort expression is computed
// from (spec.Table.name, every time it appears).
var sortColumns = regexp.MustCompile(`\b([a-z_]+)\.([a-z_]+)\b`)

// sortColumn is the one column of the list's table that field's key is
// computed from, and the key's expression with that column a parameter
// (lower(?)): a cursor holds the column's value, and the keyset condition
// computes the key from it as the order computes it from each row.
func (spec ListSpec) sortColumn(field string) (column, param string, err error) {
	expr := spec.Sorts[field]
	for _, m := range sortColumns.FindAllStringSubmatch(expr, -1) {
		if m[1] != spec.Table || column != "" && m[2] != column {
			return "", "", fmt.Errorf("list %s: sort %s (%s) is not computed from one column of %[1]s", spec.Table, field, expr)
		}
		column = m[2]
	}
	if column == "" {
		return "", "", fmt.Errorf("list %s: sort %s (%s) reads no column", spec.Table, field, expr)
	}
	return column, strings.ReplaceAll(expr, spec.Table+"."+column, "?"), nil
}

func newKeyset[T any](q *gorm.DB, spec ListSpec, o listing.Order) (*keyset, error) {
	ks := &keyset{spec: spec, order: o, nullable: slices.Contains(spec.Nullable, o.Field)}
	column, param, err := spec.sortColumn(o.Field)
	if err != nil {
		return nil, err
	}
	ks.byID = column == "id" || slices.Contains(spec.Constant, o.Field)
	ks.param = param
	stmt := q.Session(&gorm.Session{NewDB: true}).Statement
	if err := stmt.Parse(new(T)); err != nil {
		return nil, err
	}
	if ks.id = stmt.Schema.LookUpField("id"); ks.id == nil {
		return nil, fmt.Errorf("list %s: its rows have no id", spec.Table)
	}
	if ks.column = stmt.Schema.LookUpField(column); ks.column == nil {
		return nil, fmt.Errorf("list %s: its rows have no column %s (sort %s)", spec.Table, column, o.Field)
	}
	return ks, nil
}

// cursorOf is the cursor that continues after row.
func (ks *keyset) cursorOf(ctx context.Context, row any) (*Cursor, error) {
	v := reflect.ValueOf(row).Elem()
	id, _ := ks.id.ValueOf(ctx, v)
	c := &Cursor{Order: ks.order}
	var err error
	if c.Tie, err = plainValue(id); err != nil {
		return nil, err
	}
	if !ks.byID {
		key, _ := ks.column.ValueOf(ctx, v)
		if c.Key, err = plainValue(key); err != nil {
			return nil, fmt.Errorf("list %s, sort %s: %w", ks.spec.Table, ks.order.Field, err)
		}
	}
	return c, nil
}

// plainValue is a row's value as a cursor holds it: a string, an int64, or
// nil for NULL.
func plainValue(v any) (any, error) {
	r := reflect.ValueOf(v)
	for r.IsValid() && r.Kind() == reflect.Pointer {
		if r.IsNil() {
			return nil, nil
		}
		r = r.Elem()
	}
	switch {
	case !r.IsValid():
		return nil, nil
	case r.Kind() == reflect.String:
		return r.String(), nil
	case r.CanInt():
		return r.Int(), nil
	}
	return nil, fmt.Errorf("a sort key of type %s", r.Type())
}

// fits tells whether v (a cursor's value) is one that f can hold.
func fits(f *schema.Field, v any) bool {
	t := f.FieldType
	pointer := t.Kind() == reflect.Pointer
	if pointer {
		t = t.Elem()
	}
	switch v.(type) {
	case nil:
		return pointer
	case string:
		return t.Kind() == reflect.String
	case int64:
		return t.Kind() >= reflect.Int && t.Kind() <= reflect.Int64
	}
	return false
}

// after is where the rows that follow c lie in the keyset's order, as
// runs of that order, each written as conditions that the sort's index
// starts at.
//
// PostgreSQL compares the row value (key, id) with the cursor's: one
// bound of an index on (key, id), one run. SQLite uses a row value as a
// bound only when every member is a plain column of the index (not an
// expression like lower(name), nor the id, the table's rowid): there the
// rest of the cursor's key follows (key = ? AND id > ?, in id order: an
// equality on an expression does not make SQLite read the index as ordered
// by it), then the keys past it (key > ?).
//
// A nullable key adds the run of its NULLs, which the databases put at
// opposite ends (after every value in PostgreSQL's ascending orders,
// before them in SQLite's). A comparison with a NULL key holds for no
// row, so the values' runs leave them out; the NULLs' run is in id order.
func (ks *keyset) after(d Dialect, c Cursor) ([]run, error) {
	if !fits(ks.id, c.Tie) || c.Tie == nil || !ks.byID && !fits(ks.column, c.Key) {
		return nil, listing.ErrNotACursor
	}
	cmp, dir := ">", "ASC"
	if ks.order.Desc {
		cmp, dir = "<", "DESC"
	}
	id := ks.spec.Table + ".id"
	byID := id + " " + dir
	if ks.byID {
		return []run{{cond: fmt.Sprintf("%s %s ?", id, cmp), args: []any{c.Tie}}}, nil
	}
	key := ks.spec.key(d, ks.order.Field)
	nullsFirst := (d == SQLite) != ks.order.Desc
	if ks.nullable && c.Key == nil {
		nulls := run{cond: fmt.Sprintf("%s IS NULL AND %s %s ?", key, id, cmp), args: []any{c.Tie}}
		if d == SQLite {
			nulls.order = byID
		}
		if !nullsFirst {
			return []run{nulls}, nil
		}
		return []run{nulls, ks.values(d, key)}, nil
	}
	var runs []run
	if d == Postgres {
		runs = []run{{cond: fmt.Sprintf("(%s, %s) %s (%s, ?)", key, id, cmp, ks.param), args: []any{c.Key, c.Tie}}}
	} else {
		runs = []run{
			{cond: fmt.Sprintf("%s = %s AND %s %s ?", key, ks.param, id, cmp), args: []any{c.Key, c.Tie}, order: byID},
			{cond: fmt.Sprintf("%s %s %s", key, cmp, ks.param), args: []any{c.Key}},
		}
	}
	if ks.nullable && !nullsFirst {
		nulls := run{cond: key + " IS NULL"}
		if d == SQLite {
			nulls.order = byID
		}
		runs = append(runs, nulls)
	}
	return runs, nil
}

// values is the run of every row whose key is not NULL, for an order in
// which they follow the NULLs, written so that the sort's index starts at
// the first of them: PostgreSQL reads IS NOT NULL as a bound of an index
// (its NULLs come last in the index, first in a descending order); SQLite
// does not (a scan from the index's start would read every NULL first)
// but reads a lower bound below every value of the key's type: the empty
// string for text (lower() of any value is text), the least integer.
func (ks *keyset) values(d Dialect, key string) run {
	if d == Postgres {
		return run{cond: key + " IS NOT NULL"}
	}
	var least any = ""
	if t := ks.column.FieldType; t.Kind() != reflect.String && (t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.String) {
		least = int64(math.MinInt64)
	}
	return run{cond: key + " >= ?", args: []any{least}}
}

// fewMatches is how many matches of a `*ab*` filter findPage sorts itself
// (a few megabytes at most); past it, the sort's index meets matches often
// enough to walk it.
const fewMatches = 10_000

// unanchoredKey marks a query (gorm's Set) that holds a filter with a
// leading wildcard.
const unanchoredKey = "cleanmail:unanchored"

// anchor marks q when m starts with a wildcard (`*ab*`, `*ab`): a filter
// no b-tree serves, whose matches a page is then sorted from.
func anchor(q *gorm.DB, m Match) *gorm.DB {
	if m.Exact() || m.Parts()[0] != "" {
		return q
	}
	return q.Set(unanchoredKey, true)
}

// where adds the filter m on expr (an SQL expression) to q. An empty Match
// filters nothing.
func where(q *gorm.DB, m Match, expr string) *gorm.DB {
	if m == "" {
		return q
	}
	sqlExpr, args := matchClause(dialectOf(q), m, expr)
	return anchor(q, m).Where(sqlExpr, args...)
}

// matchClause renders m on expr (an SQL expression): the condition and its
// arguments.
//
// A pattern with a literal start (`ab*`, `ab*cd`) is also bounded by the
// range of the values that start with it, compared byte by byte (in the
// "C" collation on PostgreSQL, its sort indexes' own). The LIKE still
// decides: the range holds every value it matches (byte order is code
// point order in UTF-8, and the literal start is the LIKE's own), so it
// only spares the rows that cannot match. On SQLite, it is what an index
// serves: SQLite serves a LIKE from no index on lower(expr) (its LIKE
// optimisation applies to plain columns only), but serves the range from
// the index of lower(expr). On PostgreSQL, which derives that range from a
// LIKE's constant pattern itself, it keeps a prefix filter's statement
// apart from a `*infix*` filter's on the same column: the two were once
// one statement, which pgx prepares once a connection, and once
// PostgreSQL had planned it for a few infix patterns (costly plans) it
// kept a generic plan for it, one that knows no pattern and so no range: a
// prefix filter then walked a sort index through the whole table (0.4 to
// 0.8 s, against 3 ms, at 1,000,000 administrators). A prefix filter's own
// custom plans stay cheap, so PostgreSQL keeps planning them with the
// pattern.
func matchClause(d Dialect, m Match, expr string) (string, []any) {
	if m.Exact() {
		return fmt.Sprintf("lower(%s) = ?", expr), []any{m.Like()}
	}
	cond, args := fmt.Sprintf(`lower(%s) LIKE ? ESCAPE '\'`, expr), []any{m.Like()}
	prefix := m.Parts()[0]
	if prefix == "" {
		return cond, args
	}
	bytewise := fmt.Sprintf("lower(%s)", expr)
	if d == Postgres {
		bytewise += ` COLLATE "C"`
	}
	cond += fmt.Sprintf(" AND %s >= ?", bytewise)
	args = append(args, prefix)
	// The first value past the prefix: its last byte plus one, kept to
	// ASCII (anything else has no upper bound: the range is then open).
	if last := prefix[len(prefix)-1]; last < 0x7f {
		cond += fmt.Sprintf(" AND %s < ?", bytewise)
		args = append(args, prefix[:len(prefix)-1]+string(rune(last+1)))
	}
	return "(" + cond + ")", args
}

// inSubquery is "col IN (sub)", written so that col's index serves it
// whatever surrounds it. PostgreSQL does not make an IN (subquery) under
// an OR a join: it tests it on every row (a hashed SubPlan), which reads
// the whole table; and where it makes it a join, it may hash all of col's
// table against sub's rows rather than look them up. col = ANY
// (ARRAY(sub)) runs sub once and looks up the values it gives in col's
// index, beside an OR's other conditions (a BitmapOr). The two agree on
// every row, NULLs included. SQLite serves IN (subquery) from indexes as
// it is.
func inSubquery(d Dialect, col, sub string) string {
	if d == Postgres {
		return col + " = ANY (ARRAY(" + sub + "))"
	}
	return col + " IN (" + sub + ")"
}

func dialectOf(q *gorm.DB) Dialect {
	if q.Dialector.Name() == "postgres" {
		return Postgres
	}
	return SQLite
}
