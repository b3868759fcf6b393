package db

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"sync/atomic"

	"github.com/ncruces/go-sqlite3"
	sqlite3driver "github.com/ncruces/go-sqlite3/driver"
	"gorm.io/gorm"
)

// The embedded SQLite runs as two pools on one file: a writer of one
// connection, through which every transaction and every write goes, one
// at a time in arrival order (writerGate); and readers, query-only, for
// everything else. WAL mode lets the readers read while the writer
// writes. One writer connection is what SQLite allows anyway, and with it
// a write waits its turn instead of polling the file lock against other
// connections, which is unordered and fails after the busy timeout
// ("database is locked") however briefly each write holds the lock.
//
// The busy timeout stays, on every connection, for other processes on the
// same file (`cleanmail token create` while the server runs): the
// driver's busy handler polls without backoff, so that a waiter is not
// overtaken for having waited long, and gives up when its context ends
// (ncruces/go-sqlite3's Xgo_busy_timeout). Transactions begin IMMEDIATE,
// taking the write lock at BEGIN, where the busy timeout applies, rather
// than failing at their first write.

// sqliteReaders is the size of the readers' pool: a streamed export holds
// one connection for its cursor and uses another to embed related rows.
func sqliteReaders() int { return max(4, runtime.GOMAXPROCS(0)) }

// sqliteDSN builds the driver's data source name for the file at path.
// Readers are query-only: a write that reached them by mistake fails at
// once ("attempt to write a readonly database") instead of competing with
// the writer for the lock.
func sqliteDSN(path string, reader bool) string {
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	if !strings.HasPrefix(path, "file:") {
		path = "file:" + path
	}
	dsn := path + sep + "_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=journal_mode(wal)&_pragma=synchronous(normal)"
	if reader {
		return dsn + "&_pragma=query_only(1)"
	}
	return dsn + "&_txlock=immediate"
}

// openSQLite opens a pool on dsn whose connections cannot panic.
func openSQLite(dsn string) (*sql.DB, error) {
	c, err := (&sqlite3driver.SQLite{}).OpenConnector(dsn)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(safeConnector{c}), nil
}

// The driver panics when SQLite runs out of memory (its heap is bounded,
// 256 MB a connection): a huge statement or value is enough. database/sql
// is not written for panicking drivers: a prepared statement that panics
// inside a transaction never gives back the transaction's lock, so the
// rollback that follows waits for it forever, and the connection keeps
// SQLite's write lock; every later write then failed with "database is
// locked". The types below turn any panic of the driver into an error and
// retire the connection (closing it rolls back and releases its locks), so
// that database/sql's bookkeeping stays whole and a failed transaction
// rolls back like any other.

// PanicError is a failure of the SQLite driver itself (out of memory,
// usually): the statement failed and its connection was discarded.
type PanicError struct{ Value any }

func (e *PanicError) Error() string {
	return fmt.Sprintf("sqlite driver failure (connection discarded): %v", e.Value)
}

type safeConnector struct{ driver.Connector }

func (c safeConnector) Connect(ctx context.Context) (_ driver.Conn, err error) {
	defer recoverAs(&err, nil)
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &safeConn{inner: conn.(sqlite3driver.Conn)}, nil
}

func recoverAs(err *error, broken *atomic.Bool) {
	if r := recover(); r != nil {
		if broken != nil {
			broken.Store(true)
		}
		*err = &PanicError{Value: r}
	}
}

// safeConn is a driver connection that reports its own panics as errors.
// Once one happened it is no longer valid, and database/sql closes it when
// it comes back to the pool. It is also invalid when it comes back still
// inside a transaction (a rollback that failed): reused, it would keep the
// write lock.
type safeConn struct {
	inner  sqlite3driver.Conn
	broken atomic.Bool
}

var (
	_ driver.Conn               = (*safeConn)(nil)
	_ driver.ConnBeginTx        = (*safeConn)(nil)
	_ driver.ConnPrepareContext = (*safeConn)(nil)
	_ driver.ExecerContext      = (*safeConn)(nil)
	_ driver.NamedValueChecker  = (*safeConn)(nil)
	_ driver.SessionResetter    = (*safeConn)(nil)
	_ driver.Validator          = (*safeConn)(nil)
)

// Raw gives the SQLite connection, as the driver's own connections do.
func (c *safeConn) Raw() *sqlite3.Conn { return c.inner.Raw() }

func (c *safeConn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

func (c *safeConn) PrepareContext(ctx context.Context, query string) (_ driver.Stmt, err error) {
	defer recoverAs(&err, &c.broken)
	s, err := c.inner.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	return &safeStmt{inner: s, conn: c}, nil
}

func (c *safeConn) Close() (err error) {
	defer recoverAs(&err, &c.broken)
	return c.inner.Close()
}

func (c *safeConn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

func (c *safeConn) BeginTx(ctx context.Context, opts driver.TxOptions) (_ driver.Tx, err error) {
	defer recoverAs(&err, &c.broken)
	tx, err := c.inner.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	return &safeTx{inner: tx, conn: c}, nil
}

func (c *safeConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (_ driver.Result, err error) {
	defer recoverAs(&err, &c.broken)
	return c.inner.(driver.ExecerContext).ExecContext(ctx, query, args)
}

func (c *safeConn) CheckNamedValue(nv *driver.NamedValue) (err error) {
	defer recoverAs(&err, &c.broken)
	return c.inner.(driver.NamedValueChecker).CheckNamedValue(nv)
}

func (c *safeConn) ResetSession(context.Context) error {
	if !c.IsValid() {
		return driver.ErrBadConn
	}
	return nil
}

func (c *safeConn) IsValid() (ok bool) {
	defer func() {
		if recover() != nil {
			c.broken.Store(true)
			ok = false
		}
	}()
	return !c.broken.Load() && c.inner.Raw().GetAutocommit()
}

type safeTx struct {
	inner driver.Tx
	conn  *safeConn
}

func (t *safeTx) Commit() (err error) {
	defer recoverAs(&err, &t.conn.broken)
	return t.inner.Commit()
}

func (t *safeTx) Rollback() (err error) {
	defer recoverAs(&err, &t.conn.broken)
	return t.inner.Rollback()
}

type safeStmt struct {
	inner driver.Stmt
	conn  *safeConn
}

var (
	_ driver.StmtExecContext   = (*safeStmt)(nil)
	_ driver.StmtQueryContext  = (*safeStmt)(nil)
	_ driver.NamedValueChecker = (*safeStmt)(nil)
)

func (s *safeStmt) Close() (err error) {
	defer recoverAs(&err, &s.conn.broken)
	return s.inner.Close()
}

func (s *safeStmt) NumInput() (n int) {
	defer func() {
		if recover() != nil {
			s.conn.broken.Store(true)
			n = -1
		}
	}()
	return s.inner.NumInput()
}

func (s *safeStmt) Exec(args []driver.Value) (driver.Result, error) {
	return s.ExecContext(context.Background(), named(args))
}

func (s *safeStmt) Query(args []driver.Value) (driver.Rows, error) {
	return s.QueryContext(context.Background(), named(args))
}

func named(args []driver.Value) []driver.NamedValue {
	out := make([]driver.NamedValue, len(args))
	for i, v := range args {
		out[i] = driver.NamedValue{Ordinal: i + 1, Value: v}
	}
	return out
}

func (s *safeStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (_ driver.Result, err error) {
	defer recoverAs(&err, &s.conn.broken)
	return s.inner.(driver.StmtExecContext).ExecContext(ctx, args)
}

func (s *safeStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (_ driver.Rows, err error) {
	defer recoverAs(&err, &s.conn.broken)
	r, err := s.inner.(driver.StmtQueryContext).QueryContext(ctx, args)
	if err != nil {
		return nil, err
	}
	return &safeRows{inner: r, conn: s.conn}, nil
}

func (s *safeStmt) CheckNamedValue(nv *driver.NamedValue) (err error) {
	defer recoverAs(&err, &s.conn.broken)
	return s.inner.(driver.NamedValueChecker).CheckNamedValue(nv)
}

// safeRows forwards the column metadata the driver offers (GORM scans by
// it).
type safeRows struct {
	inner driver.Rows
	conn  *safeConn
}

var (
	_ driver.RowsColumnTypeDatabaseTypeName = (*safeRows)(nil)
	_ driver.RowsColumnTypeNullable         = (*safeRows)(nil)
	_ driver.RowsColumnTypeScanType         = (*safeRows)(nil)
)

// guard recovers a panic of a method that cannot return an error: the
// connection is retired, and the next call that can fail says why.
func (r *safeRows) guard() {
	if recover() != nil {
		r.conn.broken.Store(true)
	}
}

func (r *safeRows) Columns() []string {
	defer r.guard()
	return r.inner.Columns()
}

func (r *safeRows) Close() (err error) {
	defer recoverAs(&err, &r.conn.broken)
	return r.inner.Close()
}

func (r *safeRows) Next(dest []driver.Value) (err error) {
	defer recoverAs(&err, &r.conn.broken)
	return r.inner.Next(dest)
}

func (r *safeRows) ColumnTypeDatabaseTypeName(i int) string {
	defer r.guard()
	return r.inner.(driver.RowsColumnTypeDatabaseTypeName).ColumnTypeDatabaseTypeName(i)
}

func (r *safeRows) ColumnTypeNullable(i int) (nullable, ok bool) {
	defer r.guard()
	return r.inner.(driver.RowsColumnTypeNullable).ColumnTypeNullable(i)
}

func (r *safeRows) ColumnTypeScanType(i int) (t reflect.Type) {
	defer func() {
		if recover() != nil {
			r.conn.broken.Store(true)
			t = reflect.TypeFor[any]()
		}
	}()
	return r.inner.(driver.RowsColumnTypeScanType).ColumnTypeScanType(i)
}

// Optimize keeps the query planner's statistics current: on SQLite,
// PRAGMA optimize (which runs ANALYZE on the tables whose statistics are
// missing or stale; SQLite keeps none by itself, and without them its
// plans ignore how large a table is); on PostgreSQL nothing, autovacuum
// analyzes. The purge job runs it.
func (s *Store) Optimize(ctx context.Context) error {
	if s.dialect != SQLite {
		return nil
	}
	return s.write(ctx, func(gdb *gorm.DB) error {
		return gdb.Exec("PRAGMA optimize=0x10002").Error
	})
}
