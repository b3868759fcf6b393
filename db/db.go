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
	"strings"
	"time"

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
	gdb     *gorm.DB
	dialect Dialect
	// Timeout bounds every store call that does not carry its own deadline.
	timeout time.Duration
}

// Options configure Open.
type Options struct {
	// URL is "postgres://…" (or "postgresql://…") or "sqlite:PATH".
	// If empty, "sqlite:cleanmail.db" is used.
	URL string
	// Timeout bounds each store call. If zero, 30 seconds is used.
	Timeout time.Duration
}

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
	var (
		gdb     *gorm.DB
		err     error
		dialect Dialect
	)
	switch {
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		dialect = Postgres
		gdb, err = gorm.Open(postgres.Open(url), cfg)
	case strings.HasPrefix(url, "sqlite:"):
		dialect = SQLite
		gdb, err = gorm.Open(gormlite.Open(sqliteDSN(strings.TrimPrefix(url, "sqlite:"))), cfg)
	default:
		return nil, fmt.Errorf("database URL must start with postgres:// or sqlite: (got %q)", redactURL(url))
	}
	if err != nil {
		return nil, fmt.Errorf("open %s database: %w", dialect, err)
	}
	if err := markUnavailable(gdb); err != nil {
		return nil, err
	}
	if dialect == SQLite {
		sqlDB, err := gdb.DB()
		if err != nil {
			return nil, err
		}
		// One writer at a time is SQLite's rule; a small pool with a busy
		// timeout and immediate transactions keeps writers queueing instead
		// of failing with SQLITE_BUSY.
		sqlDB.SetMaxOpenConns(4)
	}
	return &Store{gdb: gdb, dialect: dialect, timeout: timeout}, nil
}

func sqliteDSN(path string) string {
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	if !strings.HasPrefix(path, "file:") {
		path = "file:" + path
	}
	return path + sep + "_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=journal_mode(wal)&_pragma=synchronous(normal)&_txlock=immediate"
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

// SQL returns the underlying pool, for migrations and health checks.
func (s *Store) SQL() (*sql.DB, error) { return s.gdb.DB() }

// Close releases the pool.
func (s *Store) Close() error {
	sqlDB, err := s.gdb.DB()
	if err != nil {
		return err
	}
	return sqlDB.Close()
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

// bound applies the store's default timeout when ctx has no deadline.
func (s *Store) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, s.timeout)
}

// db returns a GORM session bound to ctx. Callers must call the cancel func.
func (s *Store) db(ctx context.Context) (*gorm.DB, context.CancelFunc) {
	ctx, cancel := s.bound(ctx)
	return s.gdb.WithContext(ctx), cancel
}

// tx runs fn in a transaction bound to ctx.
func (s *Store) tx(ctx context.Context, fn func(tx *gorm.DB) error) error {
	gdb, cancel := s.db(ctx)
	defer cancel()
	return translate(gdb.Transaction(fn))
}

// Sentinel errors. Everything the store returns that is not one of these
// (or wraps one) is an internal failure.
var (
	// ErrNotFound: the row does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict: a uniqueness rule of the database refused the write.
	ErrConflict = errors.New("conflict")
)

// translate maps driver and GORM errors to the store's sentinels.
func translate(err error) error {
	switch {
	case err == nil:
		return nil
	case lostConnection(err): // a transaction's BEGIN or COMMIT, which no callback sees
		return asUnavailable(err)
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrConflict):
		return err
	case errors.Is(err, gorm.ErrRecordNotFound):
		return ErrNotFound
	case errors.Is(err, gorm.ErrDuplicatedKey), isUniqueViolation(err):
		return fmt.Errorf("%w: %v", ErrConflict, err)
	}
	return err
}

func isUniqueViolation(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "UNIQUE constraint failed") || strings.Contains(msg, "SQLSTATE 23505")
}

// nowMillis is the store's clock, in the epoch milliseconds the API speaks.
func nowMillis() int64 { return time.Now().UnixMilli() }
