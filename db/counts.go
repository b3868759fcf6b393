package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"gorm.io/gorm"
)

// The totals of the unfiltered lists (X-Total-Count) come from row counts
// that triggers keep in row_counts, in the transaction of each insert and
// delete (migration 00014, dialectSQL.Counted): a key lookup, whatever the
// size of the table or of the owner's rows, and exact, as the count moves
// with the rows it counts, committed or rolled back with them. A filtered
// list counts its matches from its indexes (README "What the lists read").
//
// A count is the sum of its slots: on PostgreSQL each session writes to
// one of 16 (dialectSQL.Counted), so that concurrent writers of one list
// seldom wait for each other's commit; on SQLite there is one.

// keptCounts is what the triggers count: per table, the columns whose
// values are counted besides the whole table. CheckCounts compares them
// with the rows.
var keptCounts = map[string][]string{
	"domains":            nil,
	"customers":          nil,
	"admins":             nil,
	"users":              {"domain_id"},
	"email_aliases":      {"domain_id"},
	"wblist_rules":       {"domain_id", "user_id"},
	"attachment_filters": {"domain_id"},
	"uri_filters":        {"domain_id"},
}

// keptWhere are the counts of the rows that meet a condition, per value
// of a column (dialectSQL.CountedWhere), by table; CheckCounts compares
// them with the rows too.
var keptWhere = map[string][]countedWhere{
	"users": {{col: "domain_id", name: "enabled", cond: "status = 'ENABLED'"}},
}

type countedWhere struct{ col, name, cond string }

// key is the count's col in row_counts.
func (c countedWhere) key() string { return c.col + ":" + c.name }

// rowCount names one kept count: the rows of table, or those whose col is
// val.
type rowCount struct {
	table, col string
	val        int64
	// less, when set, counts the rows the list leaves out (the expired
	// sender rules that wait for the purge).
	less *gorm.DB
}

// countKey marks a query (gorm's Set) whose matches a rowCount counts.
const countKey = "cleanmail:count"

// counted tells findPage that c counts every row q matches.
func counted(q *gorm.DB, c rowCount) *gorm.DB {
	if _, ok := keptCounts[c.table]; !ok {
		panic("db: no count is kept of " + c.table)
	}
	return q.Set(countKey, c)
}

// countMatches is the number of rows of m, the matches of q's filters:
// its kept count when q has one (counted), else a count of the matches.
func countMatches(r reader, q *gorm.DB, m matches) (int64, error) {
	var n int64
	scan := func(rows *sql.Rows) error { return rows.Scan(&n) }
	c, ok := q.Get(countKey)
	if !ok {
		text := "SELECT count(*) FROM " + m.table + m.where("")
		return n, queryBound(r, scan, text, m.vars)
	}
	rc := c.(rowCount)
	kept := "SELECT (SELECT COALESCE(SUM(n), 0) FROM row_counts WHERE tbl = ? AND col = ? AND val = ?)"
	if rc.less == nil {
		return n, query(r, scan, kept, rc.table, rc.col, rc.val)
	}
	// What the kept count holds beyond the matches, a GORM statement.
	err := q.Session(&gorm.Session{NewDB: true}).Raw(kept+" - (?)", rc.table, rc.col, rc.val, rc.less).Scan(&n).Error
	return n, translate(err)
}

// ErrCountsDiffer is CheckCounts' finding.
var ErrCountsDiffer = errors.New("row counts differ from the rows")

// CheckCounts compares every kept count with the rows it counts, and
// describes each that differs (a count of zero and no count agree). The
// tests call it after their writes.
func (s *Store) CheckCounts(ctx context.Context) error {
	gdb, cancel := s.db(ctx)
	defer cancel()
	type row struct {
		Tbl, Col string
		Val, N   int64
	}
	key := func(r row) string { return fmt.Sprintf("%s.%s=%d", r.Tbl, r.Col, r.Val) }
	kept := map[string]int64{}
	var rows []row
	if err := gdb.Raw("SELECT tbl, col, val, SUM(n) AS n FROM row_counts GROUP BY tbl, col, val HAVING SUM(n) <> 0").Scan(&rows).Error; err != nil {
		return translate(err)
	}
	for _, r := range rows {
		kept[key(r)] = r.N
	}
	var diffs []string
	for table, cols := range keptCounts {
		var real []row
		q := fmt.Sprintf("SELECT '%s' AS tbl, '' AS col, 0 AS val, COUNT(*) AS n FROM %s", table, table)
		for _, c := range cols {
			q += fmt.Sprintf(" UNION ALL SELECT '%s', '%s', %s, COUNT(*) FROM %s WHERE %s IS NOT NULL GROUP BY %s", table, c, c, table, c, c)
		}
		for _, c := range keptWhere[table] {
			q += fmt.Sprintf(" UNION ALL SELECT '%s', '%s', %s, COUNT(*) FROM %s WHERE %s GROUP BY %s", table, c.key(), c.col, table, c.cond, c.col)
		}
		if err := gdb.Raw(q).Scan(&real).Error; err != nil {
			return translate(err)
		}
		for _, r := range real {
			k := key(r)
			if kept[k] != r.N {
				diffs = append(diffs, fmt.Sprintf("%s: kept %d, %d rows", k, kept[k], r.N))
			}
			delete(kept, k)
		}
	}
	for k, n := range kept {
		diffs = append(diffs, fmt.Sprintf("%s: kept %d, no rows", k, n))
	}
	if len(diffs) > 0 {
		slices.Sort(diffs)
		if len(diffs) > 10 {
			diffs = append(diffs[:10], fmt.Sprintf("and %d more", len(diffs)-10))
		}
		return fmt.Errorf("%w: %s", ErrCountsDiffer, strings.Join(diffs, "; "))
	}
	return nil
}

// dropCounts deletes the counts of the owners (the rows whose col, an
// owner column such as domain_id, is one of ids) that tx has just deleted:
// their rows went with them (the foreign keys cascade, their counts
// decremented to zero), and no row can name them any more. It must run
// after the owners' deletion, in its transaction: a count deleted before
// would be made again, negative, by the deletion of the rows.
func dropCounts(tx *gorm.DB, col string, ids []int64) error {
	var tables []string
	cols := []string{col}
	for table, counted := range keptCounts {
		if slices.Contains(counted, col) {
			tables = append(tables, table)
		}
		for _, c := range keptWhere[table] {
			if c.col == col {
				cols = append(cols, c.key())
			}
		}
	}
	slices.Sort(tables)
	for chunk := range slices.Chunk(ids, 1000) {
		if err := tx.Exec("DELETE FROM row_counts WHERE tbl IN ? AND col IN ? AND val IN ?", tables, cols, chunk).Error; err != nil {
			return err
		}
	}
	return nil
}
