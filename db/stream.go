package db

import (
	"context"

	"gorm.io/gorm"
)

// StreamBatch is how many rows a streamed list hands over at a time: an
// export of any length holds one batch (and what each batch embeds) in
// memory, never the whole list.
const StreamBatch = 1000

// streamAll is findPage without the page: it runs q in the order the sort
// parameter selects (validated by spec, as for a page) over every match,
// reading rows from one cursor, and hands them to fn in batches of at most
// StreamBatch rows. fn must not keep the slice: it is reused.
//
// One query with a cursor, rather than a query per batch: offsets would
// make an export quadratic, and keyset pages (findPage's) would take a
// query or more a batch. The cursor holds one connection of the pool; fn
// may use others (to embed related rows), but not a transaction.
func streamAll[T any](ctx context.Context, q *gorm.DB, spec ListSpec, sort string, fn func([]T) error) error {
	order, err := spec.orderBy(dialectOf(q), sort)
	if err != nil {
		return err
	}
	rows, err := q.Session(&gorm.Session{}).WithContext(ctx).Order(order).Rows()
	if err != nil {
		return translate(err)
	}
	defer rows.Close()
	// A fresh session to scan into: ScanRows would otherwise reuse q's
	// statement.
	scan := q.Session(&gorm.Session{NewDB: true})
	batch := make([]T, 0, StreamBatch)
	for rows.Next() {
		var row T
		if err := scan.ScanRows(rows, &row); err != nil {
			return translate(err)
		}
		batch = append(batch, row)
		if len(batch) == StreamBatch {
			if err := fn(batch); err != nil {
				return err
			}
			clear(batch)
			batch = batch[:0]
		}
	}
	if err := rows.Err(); err != nil {
		return translate(err)
	}
	if len(batch) > 0 {
		return fn(batch)
	}
	return nil
}
