package db

import (
	"context"
	"database/sql"
	"slices"
	"sync"

	"gorm.io/gorm"
)

// Statement is one SQL statement a store call ran, as it went to the
// database: its text (with the dialect's placeholders) and arguments.
type Statement struct {
	SQL  string
	Vars []any
}

type recordingKey struct{}

type recording struct {
	mu    sync.Mutex
	stmts []Statement
}

// Record runs fn and returns the statements that the store's reads made
// with fn's context (or one derived from it) ran: for the test that has
// the database explain each list call's statements, and the benchmarks
// that run them bare. Writes through SQLite's writer are not recorded.
// Its first call registers a GORM callback on the store: make it before
// the store is shared between goroutines.
func (s *Store) Record(ctx context.Context, fn func(ctx context.Context) error) ([]Statement, error) {
	s.recorder.Do(func() { s.recorderErr = registerRecorder(s.gdb) })
	if s.recorderErr != nil {
		return nil, s.recorderErr
	}
	r := &recording{}
	err := fn(context.WithValue(ctx, recordingKey{}, r))
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stmts, err
}

// registerRecorder adds to gdb's queries and rows a callback that copies
// each statement into the recording its context carries, if any.
func registerRecorder(gdb *gorm.DB) error {
	fn := func(tx *gorm.DB) {
		// A subquery is built by a dry run of its own, whose statement
		// is part of the one that runs.
		if tx.DryRun || tx.Statement.SQL.Len() == 0 || tx.Statement.Context == nil {
			return
		}
		record(tx.Statement.Context, tx.Statement.SQL.String(), tx.Statement.Vars)
	}
	if err := gdb.Callback().Query().After("gorm:query").Register("cleanmail:record", fn); err != nil {
		return err
	}
	return gdb.Callback().Row().After("gorm:row").Register("cleanmail:record", fn)
}

// record copies a statement into the recording ctx carries, if any: from
// GORM's callbacks, and from query, which runs its reads without them.
func record(ctx context.Context, sql string, vars []any) {
	if ctx == nil {
		return
	}
	r, ok := ctx.Value(recordingKey{}).(*recording)
	if !ok {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stmts = append(r.stmts, Statement{SQL: sql, Vars: slices.Clone(vars)})
}

// ReadSQL returns the pool that reads (on SQLite the readers' pool, on
// PostgreSQL the one pool), for the benchmarks that run a call's
// statements bare beside the store.
func (s *Store) ReadSQL() (*sql.DB, error) { return s.gdb.DB() }
