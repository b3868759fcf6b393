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

// where adds the filter m on expr (an SQL expression) to q. An empty Match
// filters nothing.
func where(q *gorm.DB, m Match, expr string) *gorm.DB {
	if m == "" {
		return q
	}
	sqlExpr, arg := matchClause(m, expr)
	return q.Where(sqlExpr, arg)
}

// matchClause renders m on expr (an SQL expression): the condition and its
// one argument.
func matchClause(m Match, expr string) (string, string) {
	if m.Exact() {
		return fmt.Sprintf("lower(%s) = ?", expr), m.Like()
	}
	return fmt.Sprintf(`lower(%s) LIKE ? ESCAPE '\'`, expr), m.Like()
}

func dialectOf(q *gorm.DB) Dialect {
	if q.Dialector.Name() == "postgres" {
		return Postgres
	}
	return SQLite
}
