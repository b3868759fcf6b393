package db

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"gorm.io/gorm"
)

// Page selects one page of a list, in one order. Every list of the API goes
// through it.
type Page struct {
	Offset   int
	PageSize int
	// Sort is an API field name, "-" first for descending order. Empty
	// means the resource's default.
	Sort string
}

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

// InvalidSortError names a sort field the resource does not offer.
type InvalidSortError struct {
	Field   string
	Allowed []string
}

func (e *InvalidSortError) Error() string {
	return fmt.Sprintf("cannot sort on %q; allowed: %s (prefix with - for descending order)", e.Field, strings.Join(e.Allowed, ", "))
}

// orderBy turns a sort parameter into an ORDER BY clause. Case-insensitive
// text keys (lower(…)) sort in byte order on both databases: PostgreSQL
// is told the "C" collation, SQLite's default.
func (spec ListSpec) orderBy(d Dialect, s string) (string, error) {
	if s == "" {
		s = spec.DefaultSort
	}
	dir := "ASC"
	field := s
	if strings.HasPrefix(s, "-") {
		dir, field = "DESC", s[1:]
	}
	col, ok := spec.Sorts[field]
	if !ok {
		allowed := make([]string, 0, len(spec.Sorts))
		for k := range spec.Sorts {
			allowed = append(allowed, k)
		}
		sort.Strings(allowed)
		return "", &InvalidSortError{Field: field, Allowed: allowed}
	}
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

// findPage counts every row q matches, then loads the requested page: two
// queries whatever the page length.
func findPage[T any](ctx context.Context, q *gorm.DB, spec ListSpec, p Page) ([]T, int64, error) {
	order, err := spec.orderBy(dialectOf(q), p.Sort)
	if err != nil {
		return nil, 0, err
	}
	var total int64
	if err := q.Session(&gorm.Session{}).WithContext(ctx).Count(&total).Error; err != nil {
		return nil, 0, translate(err)
	}
	rows := []T{}
	if total == 0 || int64(p.Offset) >= total {
		return rows, total, nil
	}
	err = q.Session(&gorm.Session{}).WithContext(ctx).
		Order(order).Offset(p.Offset).Limit(p.PageSize).Find(&rows).Error
	return rows, total, translate(err)
}

// Match is the API's filter syntax: case-insensitive, `*` matches any run
// of characters (so "abc", "abc*", "*abc" and "*abc*" are exact, prefix,
// suffix and contains), and every other character, `%` and `_` included,
// is literal.
type Match string

// where adds the filter on expr (an SQL expression) to q. An empty Match
// filters nothing.
func (m Match) where(q *gorm.DB, expr string) *gorm.DB {
	if m == "" {
		return q
	}
	sqlExpr, arg := m.clause(expr)
	return q.Where(sqlExpr, arg)
}

// clause returns the SQL condition and its single argument.
func (m Match) clause(expr string) (string, string) {
	v := strings.ToLower(string(m))
	if !strings.Contains(v, "*") {
		return fmt.Sprintf("lower(%s) = ?", expr), v
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
	return fmt.Sprintf(`lower(%s) LIKE ? ESCAPE '\'`, expr), b.String()
}

func dialectOf(q *gorm.DB) Dialect {
	if q.Dialector.Name() == "postgres" {
		return Postgres
	}
	return SQLite
}
