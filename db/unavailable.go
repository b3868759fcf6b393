package db

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/ncruces/go-sqlite3"
	"gorm.io/gorm"

	"github.com/cleanmail/cleanmail/pkg/fault"
)

// Unavailable reports whether err means that the database could not serve
// the request (an outage, a timeout, a lock that was not granted in time),
// as opposed to a refusal of the request itself. Such an error is the
// service's fault, never the client's: the API answers it with 503.
func Unavailable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrUnavailable) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
		errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) {
		return true
	}
	// PostgreSQL: no connection, a broken one, or a server that refuses
	// work for reasons of its own.
	var connectErr *pgconn.ConnectError
	if errors.As(err, &connectErr) || pgconn.Timeout(err) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case strings.HasPrefix(pgErr.Code, "08"), // connection exception
			strings.HasPrefix(pgErr.Code, "53"), // insufficient resources (too many connections, disk full)
			strings.HasPrefix(pgErr.Code, "57"), // operator intervention (shutdown, cannot connect now, query canceled)
			strings.HasPrefix(pgErr.Code, "58"), // system error (I/O)
			pgErr.Code == "40001",               // serialization failure
			pgErr.Code == "40P01",               // deadlock detected
			pgErr.Code == "55P03":               // lock not available
			return true
		}
		return false
	}
	var netErr net.Error
	if errors.As(err, &netErr) {
		return true
	}
	// SQLite: the file is locked, busy, unreadable or full, or the
	// statement was interrupted (its context ended).
	for _, code := range []sqlite3.ErrorCode{sqlite3.BUSY, sqlite3.LOCKED, sqlite3.INTERRUPT,
		sqlite3.IOERR, sqlite3.NOMEM, sqlite3.FULL, sqlite3.CANTOPEN, sqlite3.PROTOCOL, sqlite3.READONLY} {
		if errors.Is(err, code) {
			return true
		}
	}
	return false
}

// lostConnection reports errors that, coming from a database call, mean
// the connection broke under the statement (the server went away): an
// EOF in mid-conversation. Outside a database call the same errors mean
// other things (a truncated JSON document), so they are marked where they
// happen, by markUnavailable, not classified by Unavailable.
func lostConnection(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// asUnavailable marks a database call's error as an outage when it is
// one: a lost connection, or anything Unavailable recognises.
func asUnavailable(err error) error {
	if err != nil && !errors.Is(err, ErrUnavailable) && (lostConnection(err) || Unavailable(err)) {
		return fault.UnavailableBecause(err)
	}
	return err
}

// markUnavailable registers, after every kind of statement GORM runs, a
// callback that marks outages (lost connections included) as
// ErrUnavailable, so that no store method can report one as anything else.
func markUnavailable(gdb *gorm.DB) error {
	mark := func(tx *gorm.DB) { tx.Error = asUnavailable(tx.Error) }
	cb := gdb.Callback()
	for name, err := range map[string]error{
		"create": cb.Create().After("gorm:create").Register("cleanmail:unavailable", mark),
		"query":  cb.Query().After("gorm:query").Register("cleanmail:unavailable", mark),
		"update": cb.Update().After("gorm:update").Register("cleanmail:unavailable", mark),
		"delete": cb.Delete().After("gorm:delete").Register("cleanmail:unavailable", mark),
		"row":    cb.Row().After("gorm:row").Register("cleanmail:unavailable", mark),
		"raw":    cb.Raw().After("gorm:raw").Register("cleanmail:unavailable", mark),
	} {
		if err != nil {
			return fmt.Errorf("register the %s callback: %w", name, err)
		}
	}
	return nil
}
