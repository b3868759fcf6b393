// Package db implements Cleanmail's persistence: the GORM models, the
// versioned migrations, and one Store whose methods every handler calls.
//
// Two databases are supported with identical behaviour: PostgreSQL (the
// production choice) and an embedded, pure-Go SQLite file (the default, so
// the server runs anywhere).
package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	neturl "net/url"
	"strings"
	"sync"
	"time"

	"github.com/cleanmail/cleanmail/pkg/fault"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/gormlite"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// Dialect names the database engine behind a Store.
type Dialect string

const (
	Postgres Dialect = "postgres"
	SQLite   Dialect = "sqlite"
)

// Store is the single entry point to the database.
type Store struct {
	// gdb reads; on PostgreSQL it writes too.
	gdb *gorm.DB
	// wdb writes: on SQLite, the pool of the one writer connection, which
	// writer queues for; on PostgreSQL, gdb.
	wdb     *gorm.DB
	writer  *writerGate // nil on PostgreSQL
	dialect Dialect
	// Timeout bounds every store call that does not carry its own deadline.
	timeout time.Duration
	// url is the PostgreSQL URL the store was opened with (for the job
	// queue's listener, which needs a connection of its own); empty on
	// SQLite.
	url string
	// recorder registers Record's callback once.
	recorder    sync.Once
	recorderErr error
}

// Options configure Open.
type Options struct {
	// URL is "postgres://…" (or "postgresql://…") or "sqlite:PATH".
	// If empty, "sqlite:cleanmail.db" is used.
	URL string
	// Timeout bounds each store call. If zero, 30 seconds is used.
	Timeout time.Duration
	// Pool sizes the PostgreSQL connection pool (SQLite's is fixed: one
	// writer, a reader a core).
	Pool Pool
}

// Pool sizes a PostgreSQL connection pool. Zero values are the defaults.
type Pool struct {
	// MaxOpen bounds the connections open at once (0: no bound, as
	// database/sql; PostgreSQL's max_connections is then the bound).
	MaxOpen int
	// MaxIdle is how many idle connections are kept for the next queries;
	// 20 when 0.
	MaxIdle int
	// MaxIdleTime closes a connection idle this long; 5 minutes when 0.
	MaxIdleTime time.Duration
	// MaxLifetime closes a connection this old (0: never), so that a
	// replica rebalances across a pooler or a failover in time.
	MaxLifetime time.Duration
}

// pgIdleConns is how many idle PostgreSQL connections a store keeps for
// the next queries by default: the job queue's workers (10 by default)
// and the requests being served at once.
const pgIdleConns = 20

// Open connects to the database named by opts.URL. It does not migrate.
func Open(opts Options) (*Store, error) {
	url := opts.URL
	if url == "" {
		url = "sqlite:cleanmail.db"
	}
	timeout := opts.Timeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	cfg := &gorm.Config{
		Logger:                 logger.Discard,
		TranslateError:         true,
		SkipDefaultTransaction: true,
		// Statements are prepared once per connection and reused: parsing
		// and planning were a third of a list page's cost. The cache is
		// bounded, since IN lists of different lengths are different SQL.
		PrepareStmt:        true,
		PrepareStmtMaxSize: 512,
		PrepareStmtTTL:     time.Hour,
		NowFunc:            func() time.Time { return time.Now().UTC() },
	}
	switch {
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		url, err := withoutJIT(url)
		if err != nil {
			return nil, fmt.Errorf("database URL %s: %w", redactURL(opts.URL), err)
		}
		gdb, err := openGorm(postgres.Open(url), cfg)
		if err != nil {
			return nil, fmt.Errorf("open postgres database: %w", err)
		}
		// database/sql keeps 2 idle connections by default: past two
		// queries at once (ten jobs, a few requests) each connection was
		// closed after its query and a new one opened for the next, a
		// PostgreSQL backend started and its statements prepared again
		// each time (a welcome mail job took 31 ms instead of 8).
		pool, err := gdb.DB()
		if err != nil {
			return nil, fmt.Errorf("open postgres database: %w", err)
		}
		p := opts.Pool
		if p.MaxIdle == 0 {
			p.MaxIdle = pgIdleConns
		}
		if p.MaxIdleTime == 0 {
			p.MaxIdleTime = 5 * time.Minute
		}
		if p.MaxOpen > 0 {
			p.MaxIdle = min(p.MaxIdle, p.MaxOpen)
		}
		pool.SetMaxOpenConns(p.MaxOpen)
		pool.SetMaxIdleConns(p.MaxIdle)
		pool.SetConnMaxIdleTime(p.MaxIdleTime)
		pool.SetConnMaxLifetime(p.MaxLifetime)
		return &Store{gdb: gdb, wdb: gdb, dialect: Postgres, timeout: timeout, url: url}, nil
	case strings.HasPrefix(url, "sqlite:"):
		return openSQLiteStore(strings.TrimPrefix(url, "sqlite:"), cfg, timeout)
	}
	return nil, fmt.Errorf("database URL must start with postgres:// or sqlite: (got %q)", redactURL(url))
}

// openGorm opens a GORM session with what every session of the store
// has: lost connections reported as ErrUnavailable (markUnavailable).
func openGorm(d gorm.Dialector, cfg *gorm.Config) (*gorm.DB, error) {
	gdb, err := gorm.Open(d, cfg)
	if err != nil {
		return nil, err
	}
	if err := markUnavailable(gdb); err != nil {
		return nil, err
	}
	return gdb, nil
}

// openSQLiteStore opens the writer, then the readers (sqlite.go). GORM
// pings the writer as it opens: that creates the file and switches it to
// WAL before any reader looks at it.
func openSQLiteStore(path string, cfg *gorm.Config, timeout time.Duration) (*Store, error) {
	wpool, err := openSQLite(sqliteDSN(path, false))
	if err != nil {
		return nil, fmt.Errorf("open sqlite database: %w", err)
	}
	wpool.SetMaxOpenConns(1)
	wpool.SetMaxIdleConns(1)
	wdb, err := openGorm(gormlite.OpenDB(wpool), cfg)
	if err != nil {
		wpool.Close()
		return nil, fmt.Errorf("open sqlite database: %w", err)
	}
	rpool, err := openSQLite(sqliteDSN(path, true))
	if err != nil {
		wpool.Close()
		return nil, fmt.Errorf("open sqlite database: %w", err)
	}
	rpool.SetMaxOpenConns(sqliteReaders())
	rpool.SetMaxIdleConns(sqliteReaders())
	gdb, err := openGorm(gormlite.OpenDB(rpool), cfg)
	if err != nil {
		wpool.Close()
		rpool.Close()
		return nil, fmt.Errorf("open sqlite database: %w", err)
	}
	return &Store{gdb: gdb, wdb: wdb, writer: newWriterGate(), dialect: SQLite, timeout: timeout}, nil
}

// withoutJIT turns PostgreSQL's JIT compilation off for the store's
// sessions, unless the URL sets jit itself (a run-time parameter, as pgx
// reads its URL). Compiling a query costs tens to hundreds of
// milliseconds, which the service's queries, each a page or a lookup, do
// not win back: with it, one list query of TestExplainLists at 1,000,000
// domains took 1.8 s instead of 30 ms.
func withoutJIT(raw string) (string, error) {
	u, err := neturl.Parse(raw)
	if err != nil {
		return "", errors.New("not a URL")
	}
	q := u.Query()
	if !q.Has("jit") {
		q.Set("jit", "off")
		u.RawQuery = q.Encode()
	}
	return u.String(), nil
}

// redactURL hides a password in a database URL before it reaches a log.
func redactURL(u string) string {
	if i := strings.Index(u, "@"); i > 0 {
		if j := strings.Index(u, "://"); j > 0 && j < i {
			return u[:j+3] + "…" + u[i:]
		}
	}
	return u
}

// Dialect reports the database engine.
func (s *Store) Dialect() Dialect { return s.dialect }

// SQL returns the pool that writes (on SQLite, the writer's connection,
// outside the writer's queue), for migrations and tests.
func (s *Store) SQL() (*sql.DB, error) { return s.wdb.DB() }

// PostgresURL is the URL a PostgreSQL store was opened with, "" on SQLite:
// for a library that needs connections of its own to the same database
// and schema (the job queue's LISTEN).
func (s *Store) PostgresURL() string { return s.url }

// SQLTx is the database/sql transaction of the Store.Tx that ctx carries:
// another library's writes made on it (a job enqueued) commit or roll
// back with the store's.
func (s *Store) SQLTx(ctx context.Context) (*sql.Tx, bool) {
	tx, ok := s.inTx(ctx)
	if !ok {
		return nil, false
	}
	switch p := tx.Statement.ConnPool.(type) {
	case *sql.Tx:
		return p, true
	case *gorm.PreparedStmtTX: // PrepareStmt wraps it
		t, ok := p.Tx.(*sql.Tx)
		return t, ok
	}
	return nil, false
}

// Close releases the pools.
func (s *Store) Close() error {
	var errs []error
	for _, g := range []*gorm.DB{s.gdb, s.wdb} {
		sqlDB, err := g.DB()
		if err == nil {
			err = sqlDB.Close()
		}
		errs = append(errs, err)
		if s.wdb == s.gdb {
			break
		}
	}
	return errors.Join(errs...)
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	sqlDB, err := s.gdb.DB()
	if err != nil {
		return err
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	return sqlDB.PingContext(ctx)
}

// readyBound is how long Ready may take: a readiness probe's usual timeout.
const readyBound = time.Second

// Ready tells, within a second, whether the store can serve requests: the
// database answers (Ping) and, on SQLite, writes are not stuck. The writer
// is fine when it is free and its connection answers at once, and when a
// write holds it (writes queue: that one will finish, or be cut off at its
// deadline) unless the write before it had to be cut off: a write that
// ran out of time holding the writer while others queue behind it is what
// a stuck writer looks like, and Ready says so until a write completes or
// the writer answers again.
func (s *Store) Ready(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, readyBound)
	defer cancel()
	if err := s.Ping(ctx); err != nil {
		return err
	}
	if s.writer == nil {
		return nil
	}
	if !s.writer.sem.TryAcquire(1) {
		if s.writer.overran.Load() {
			return errors.New("the database writer is stuck: the last write ran out of time holding it, and writes are queued behind")
		}
		return nil // busy: writes queue and finish by their deadlines
	}
	defer s.writer.sem.Release(1)
	var one int
	if err := s.wdb.WithContext(ctx).Raw("SELECT 1").Scan(&one).Error; err != nil {
		return fmt.Errorf("the database writer does not answer: %w", err)
	}
	s.writer.overran.Store(false)
	return nil
}

// bound applies the store's default timeout when ctx has no deadline.
func (s *Store) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {} // already bounded: nothing of its own to end
	}
	return context.WithTimeout(ctx, s.timeout)
}

// db returns a GORM session bound to ctx (within a Store.Tx, its
// transaction). Callers must call the cancel func.
func (s *Store) db(ctx context.Context) (*gorm.DB, context.CancelFunc) {
	if tx, ok := s.inTx(ctx); ok {
		return tx, func() {}
	}
	ctx, cancel := s.bound(ctx)
	return s.gdb.WithContext(ctx), cancel
}

// translate says driver and GORM errors in the service's vocabulary
// (pkg/fault): an outage, a missing row, a uniqueness refusal, …; an error
// it does not know stays an internal failure.
func translate(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrUnavailable):
		return err
	case Unavailable(err), lostConnection(err): // a transaction's BEGIN or COMMIT, which no callback sees
		return fault.UnavailableBecause(err)
	case fault.KindOf(err) != fault.Internal:
		return err // already said in the vocabulary
	case errors.Is(err, gorm.ErrRecordNotFound):
		return &fault.Error{Kind: fault.NotFound, Err: err} // its resource words it
	case errors.Is(err, gorm.ErrDuplicatedKey), isUniqueViolation(err):
		return &fault.Error{Kind: fault.Conflict, Detail: "A resource with this name already exists.", Err: err}
	// Safety nets: each store method checks what it references, and the
	// API bounds every string, so neither should happen; if one does, it
	// is the request's fault, not an internal failure.
	case errors.Is(err, gorm.ErrForeignKeyViolated):
		return &fault.Error{Kind: fault.Unprocessable, Detail: "the request refers to an object that does not exist (any more)", Err: err}
	case isTooLong(err):
		return &fault.Error{Kind: fault.Invalid, Detail: "a value is too long to be stored", Err: err}
	}
	return err
}

// isTooLong reports PostgreSQL's "program limit exceeded" (an index row
// over its page's limit) and SQLite's "string or blob too big".
func isTooLong(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "54000"
	}
	return errors.Is(err, sqlite3.TOOBIG)
}

func isUniqueViolation(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "UNIQUE constraint failed") || strings.Contains(msg, "SQLSTATE 23505")
}

// nowMillis is the store's clock, in the epoch milliseconds the API speaks.
func nowMillis() int64 { return time.Now().UnixMilli() }
