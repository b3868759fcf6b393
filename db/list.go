package db

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"gorm.io/gorm"

	"github.com/cleanmail/cleanmail/pkg/listing"
)

// Page selects one page of a list, in one order (pkg/listing).
type Page = listing.Page

// Match is the API's filter syntax (pkg/listing), rendered here as SQL.
type Match = listing.Match

// ListSpec declares how a resource may be listed: which API fields sort
// on which columns. Ties are always broken by the primary key, so paging
// is stable.
type ListSpec struct {
	// Table qualifies the id tie-breaker (lists often join).
	Table string
	// Sorts maps an API field name to its SQL expression.
	Sorts map[string]string
	// DefaultSort is used when Page.Sort is empty.
	DefaultSort string
}

// orderBy turns a sort parameter into an ORDER BY clause. Case-insensitive
// text keys (lower(…)) sort in byte order on both databases: PostgreSQL
// is told the "C" collation, SQLite's default.
func (spec ListSpec) orderBy(d Dialect, s string) (string, error) {
	o, err := listing.ParseSort(s, spec.DefaultSort, slices.Collect(maps.Keys(spec.Sorts)))
	if err != nil {
		return "", err
	}
	dir := "ASC"
	if o.Desc {
		dir = "DESC"
	}
	col := spec.Sorts[o.Field]
	if d == Postgres && strings.HasPrefix(col, "lower(") {
		col += ` COLLATE "C"`
	}
	return fmt.Sprintf("%s %s, %s.id %s", col, dir, spec.Table, dir), nil
}

// Validate checks the sort field without querying.
func (spec ListSpec) Validate(p Page) error {
	_, err := spec.orderBy(SQLite, p.Sort)
	return err
}

// findPage counts every row q matches (countMatches: a kept count when q
// has one), then loads the requested page: two queries whatever the page
// length.
func findPage[T any](ctx context.Context, q *gorm.DB, spec ListSpec, p Page) ([]T, int64, error) {
	order, err := spec.orderBy(dialectOf(q), p.Sort)
	if err != nil {
		return nil, 0, err
	}
	total, err := countMatches(ctx, q)
	if err != nil {
		return nil, 0, translate(err)
	}
	rows := []T{}
	if total == 0 || int64(p.Offset) >= total {
		return rows, total, nil
	}
	if _, loose := q.Get(unanchoredKey); loose && total <= fewMatches && dialectOf(q) == Postgres {
		// A `*ab*` filter that matches few rows: the page is sorted from
		// its matches, found by their (trigram) index, rather than by
		// walking the sort's index until enough of them turn up, which
		// the planner may choose for want of a good estimate of such a
		// filter (it samples a hundred values: one that matches makes
		// it expect a match in a hundred rows, and it walked all
		// 200,000 users for five). MATERIALIZED keeps the two apart.
		err = q.Session(&gorm.Session{NewDB: true}).WithContext(ctx).
			Raw("WITH matches AS MATERIALIZED (?) SELECT * FROM matches AS "+spec.Table+" ORDER BY "+order+" LIMIT ? OFFSET ?",
				q.Session(&gorm.Session{}), p.PageSize, p.Offset).
			Find(&rows).Error
		return rows, total, translate(err)
	}
	err = q.Session(&gorm.Session{}).WithContext(ctx).
		Order(order).Offset(p.Offset).Limit(p.PageSize).Find(&rows).Error
	return rows, total, translate(err)
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
// On SQLite, a pattern with a literal start (`ab*`, `ab*cd`) is also
// bounded by the range of the values that start with it: SQLite serves a
// LIKE from no index on lower(expr) (its LIKE optimisation applies to plain
// columns only), but serves the range from the index of lower(expr). The
// LIKE still decides: the range holds every value it matches (SQLite
// compares text byte by byte and lower-cases ASCII alone, in lower() as in
// LIKE), so it only spares the rows that cannot match. PostgreSQL derives
// the same range itself (text_pattern_ops, trigram indexes); there the
// range would compare in the database's collation, not byte by byte.
func matchClause(d Dialect, m Match, expr string) (string, []any) {
	if m.Exact() {
		return fmt.Sprintf("lower(%s) = ?", expr), []any{m.Like()}
	}
	cond, args := fmt.Sprintf(`lower(%s) LIKE ? ESCAPE '\'`, expr), []any{m.Like()}
	prefix := m.Parts()[0]
	if d != SQLite || prefix == "" {
		return cond, args
	}
	cond += fmt.Sprintf(" AND lower(%s) >= ?", expr)
	args = append(args, prefix)
	// The first value past the prefix: its last byte plus one, kept to
	// ASCII (anything else has no upper bound: the range is then open).
	if last := prefix[len(prefix)-1]; last < 0x7f {
		cond += fmt.Sprintf(" AND lower(%s) < ?", expr)
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
