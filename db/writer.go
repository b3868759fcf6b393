package db

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"golang.org/x/sync/semaphore"
	"gorm.io/gorm"
)

// writerGate queues the writes of an SQLite store in front of its writer
// connection: one at a time, in the order they arrived. database/sql alone
// would queue them too (the pool has one connection), but it hands a freed
// connection to a random waiter, so a write could wait behind any number
// of later ones. golang.org/x/sync/semaphore serves its waiters first in,
// first out, and a newcomer never overtakes one that waits; a waiter
// leaves the queue when its context ends.
type writerGate struct {
	sem *semaphore.Weighted
	// overran records that the last write to hold the writer was cut off
	// at its deadline (Ready's sign of a stuck writer).
	overran atomic.Bool
}

func newWriterGate() *writerGate {
	return &writerGate{sem: semaphore.NewWeighted(1)}
}

// acquire waits, as long as ctx allows, for the writer. The returned func
// gives it back; so does the end of ctx, even while the holder still runs,
// so that a write never holds the queue past its deadline (database/sql
// rolls its transaction back then, and the next write waits for the
// connection only as long as that takes).
func (g *writerGate) acquire(ctx context.Context) (release func(), err error) {
	if err := g.sem.Acquire(ctx, 1); err != nil {
		return nil, fmt.Errorf("waiting for the database writer: %w", err)
	}
	var once sync.Once
	give := func() {
		once.Do(func() {
			g.overran.Store(errors.Is(ctx.Err(), context.DeadlineExceeded))
			g.sem.Release(1)
		})
	}
	stop := context.AfterFunc(ctx, give)
	return func() {
		stop()
		give()
	}, nil
}

// acquireWriter takes the writer of an SQLite store; there is nothing to
// take on PostgreSQL, whose writers wait for each other row by row.
func (s *Store) acquireWriter(ctx context.Context) (func(), error) {
	if s.writer == nil {
		return func() {}, nil
	}
	return s.writer.acquire(ctx)
}

// tx runs fn in a transaction bound to ctx, on the writer. Whatever fn
// does, the transaction ends and the writer is given back: GORM rolls back
// when fn fails or panics (and the panic goes on), database/sql when ctx
// ends, and a failure of the driver itself is an error (sqlite.go).
//
// Within a Store.Tx, tx is a savepoint of the open transaction.
func (s *Store) tx(ctx context.Context, fn func(tx *gorm.DB) error) error {
	return s.write(ctx, func(gdb *gorm.DB) error { return gdb.Transaction(fn) })
}

// Tx runs fn in one transaction: every call fn makes to this store with
// the context it is given reads and writes in it, and all its writes are
// committed together when fn returns nil, or none of them. A service
// composes several store calls so (and, later, a write and the job it
// enqueues). A Tx within a Tx joins it; a store method that fails inside
// rolls back its own part (a savepoint), and fn decides whether the whole
// fails. The transaction is bound to ctx, or to the store's timeout when
// ctx has no deadline; on SQLite it holds the writer throughout.
func (s *Store) Tx(ctx context.Context, fn func(ctx context.Context) error) error {
	if _, ok := s.inTx(ctx); ok {
		return fn(ctx)
	}
	return s.tx(ctx, func(tx *gorm.DB) error {
		return fn(context.WithValue(tx.Statement.Context, txKey{}, openTx{s, tx}))
	})
}

// txKey marks a context that carries an open transaction of Store.Tx.
type txKey struct{}

type openTx struct {
	store *Store
	tx    *gorm.DB
}

// inTx is the transaction of s that ctx carries, bound to ctx.
func (s *Store) inTx(ctx context.Context) (*gorm.DB, bool) {
	if t, ok := ctx.Value(txKey{}).(openTx); ok && t.store == s {
		return t.tx.WithContext(ctx), true
	}
	return nil, false
}

// write runs fn, writes outside a transaction (single statements), on the
// writer, bound to ctx, and translates its error.
func (s *Store) write(ctx context.Context, fn func(gdb *gorm.DB) error) error {
	if tx, ok := s.inTx(ctx); ok {
		return translate(fn(tx)) // it holds the writer already
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	release, err := s.acquireWriter(ctx)
	if err != nil {
		return err
	}
	defer release()
	return translate(fn(s.wdb.WithContext(ctx)))
}

// tryWrite is write for what may be skipped: on SQLite it runs fn only if
// the writer is free at once, and reports whether it ran.
func (s *Store) tryWrite(ctx context.Context, fn func(gdb *gorm.DB) error) (bool, error) {
	if _, ok := s.inTx(ctx); ok || s.writer == nil {
		return true, s.write(ctx, fn)
	}
	if !s.writer.sem.TryAcquire(1) {
		return false, nil
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	defer s.writer.sem.Release(1)
	return true, translate(fn(s.wdb.WithContext(ctx)))
}

// deleted is the error of a delete that must have found its row.
func deleted(res *gorm.DB) error {
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}
