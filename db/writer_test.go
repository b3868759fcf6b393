package db

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/cleanmail/cleanmail/db/dbtest"
)

// TestWritesQueueBehindALongOne: while one transaction holds the writer
// for two seconds, small writes of every kind (single statements and
// transactions) that arrive meanwhile all succeed. On SQLite each waits
// for the long one, then they go one by one in the order they came; on
// PostgreSQL they touch other rows and do not wait at all.
func TestWritesQueueBehindALongOne(t *testing.T) {
	testStores(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		const hold = 2 * time.Second
		started := make(chan struct{})
		var longDone time.Time
		longErr := make(chan error, 1)
		go func() {
			longErr <- s.tx(ctx, func(tx *gorm.DB) error {
				if err := tx.Create(&Broker{Name: "long", CreatedAt: nowMillis()}).Error; err != nil {
					return err
				}
				close(started)
				time.Sleep(hold)
				longDone = time.Now()
				return nil
			})
		}()
		select {
		case <-started:
		case err := <-longErr:
			t.Fatalf("long transaction: %v", err)
		}

		// The order in which the writes run: the number in the name of
		// each one's first row, recorded as it is inserted.
		var mu sync.Mutex
		var order []int
		err := s.wdb.Callback().Create().Before("gorm:create").Register("test:order", func(tx *gorm.DB) {
			v := reflect.Indirect(tx.Statement.ReflectValue)
			if v.Kind() != reflect.Struct || !v.FieldByName("Name").IsValid() {
				return
			}
			var i int
			if _, err := fmt.Sscanf(strings.TrimLeft(v.FieldByName("Name").String(), "abcdefghijklmnopqrstuvwxyz-"), "%d", &i); err != nil {
				return // the long one's
			}
			mu.Lock()
			defer mu.Unlock()
			if len(order) == 0 || order[len(order)-1] != i {
				order = append(order, i)
			}
		})
		if err != nil {
			t.Fatal(err)
		}

		const n = 12
		type result struct {
			i          int
			start, end time.Time
			err        error
		}
		results := make(chan result, n)
		writes := []func(i int) error{
			func(i int) error { return s.CreateBroker(ctx, &Broker{Name: fmt.Sprint("broker", i)}) },
			func(i int) error { return s.CreateCustomer(ctx, &Customer{Name: fmt.Sprint("customer", i)}) },
			func(i int) error {
				return s.CreateOutgoingProvider(ctx, &OutgoingProvider{Name: fmt.Sprint("provider", i)})
			},
			func(i int) error {
				_, err := s.CreateDomain(ctx, newTestDomain(fmt.Sprintf("d%d.example", i)))
				return err
			},
		}
		for i := range n {
			// Staggered, so that the order of arrival is known.
			time.Sleep(30 * time.Millisecond)
			go func() {
				start := time.Now()
				err := writes[i%len(writes)](i)
				results <- result{i: i, start: start, end: time.Now(), err: err}
			}()
		}
		for range n {
			r := <-results
			if r.err != nil {
				t.Errorf("write %d failed after %v: %v", r.i, r.end.Sub(r.start), r.err)
				continue
			}
			if s.Dialect() != SQLite {
				continue
			}
			if r.end.Before(longDone) {
				t.Errorf("write %d finished before the long transaction", r.i)
			}
			if waited := r.end.Sub(r.start); waited > hold+time.Second {
				t.Errorf("write %d took %v, more than the long transaction's %v and then some", r.i, waited, hold)
			}
		}
		if err := <-longErr; err != nil {
			t.Fatalf("long transaction: %v", err)
		}
		if s.Dialect() == SQLite {
			mu.Lock()
			defer mu.Unlock()
			for k, i := range order {
				if i != k || len(order) != n {
					t.Errorf("writes ran in the order %v, want the order they arrived in", order)
					break
				}
			}
		}
	})
}

// nextWriteAtOnce checks that the writer is free: a write succeeds, fast.
func nextWriteAtOnce(t *testing.T, s *Store, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := s.CreateBroker(ctx, &Broker{Name: name}); err != nil {
		t.Fatalf("the write after %s: %v (after %v)", name, err, time.Since(start))
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("the write after %s took %v: it waited for the writer", name, d)
	}
}

// TestFailedTransactionsReleaseTheWriter: a transaction that fails, in any
// way, gives the database back: the next write succeeds at once, and the
// failed one changed nothing.
func TestFailedTransactionsReleaseTheWriter(t *testing.T) {
	testStores(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		count := func(name string) int64 {
			var n int64
			gdb, cancel := s.db(ctx)
			defer cancel()
			if err := gdb.Model(&Broker{}).Where("name = ?", name).Count(&n).Error; err != nil {
				t.Fatal(err)
			}
			return n
		}

		t.Run("panic", func(t *testing.T) {
			func() {
				defer func() {
					if r := recover(); r != "boom" {
						t.Errorf("recovered %v, want the transaction's own panic", r)
					}
				}()
				_ = s.tx(ctx, func(tx *gorm.DB) error {
					tx.Create(&Broker{Name: "panicked"})
					panic("boom")
				})
			}()
			nextWriteAtOnce(t, s, "after-panic")
			if count("panicked") != 0 {
				t.Error("the panicking transaction was committed")
			}
		})

		t.Run("error", func(t *testing.T) {
			want := errors.New("refused")
			err := s.tx(ctx, func(tx *gorm.DB) error {
				tx.Create(&Broker{Name: "failed"})
				return want
			})
			if !errors.Is(err, want) {
				t.Errorf("tx = %v, want its fn's error", err)
			}
			nextWriteAtOnce(t, s, "after-error")
			if count("failed") != 0 {
				t.Error("the failed transaction was committed")
			}
		})

		t.Run("cancelled", func(t *testing.T) {
			cctx, cancel := context.WithCancel(ctx)
			err := s.tx(cctx, func(tx *gorm.DB) error {
				if err := tx.Create(&Broker{Name: "cancelled"}).Error; err != nil {
					return err
				}
				cancel() // the client went away mid-way
				time.Sleep(100 * time.Millisecond)
				return tx.Create(&Broker{Name: "cancelled-2"}).Error
			})
			if err == nil {
				t.Error("a transaction whose context was cancelled committed")
			}
			nextWriteAtOnce(t, s, "after-cancel")
			if count("cancelled") != 0 {
				t.Error("the cancelled transaction was committed")
			}
		})

		t.Run("timeout", func(t *testing.T) {
			// A write that keeps the writer past its deadline (here, by
			// not even looking at its context) holds it no longer.
			tctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
			defer cancel()
			done := make(chan error, 1)
			go func() {
				done <- s.tx(tctx, func(tx *gorm.DB) error {
					time.Sleep(1500 * time.Millisecond)
					return tx.Create(&Broker{Name: "too-late"}).Error
				})
			}()
			time.Sleep(400 * time.Millisecond)
			nextWriteAtOnce(t, s, "after-timeout")
			if err := <-done; err == nil {
				t.Error("a transaction past its deadline committed")
			}
			if count("too-late") != 0 {
				t.Error("the transaction past its deadline was committed")
			}
		})

		if s.Dialect() != SQLite {
			return
		}
		// What wedged the embedded database: a write too large for
		// SQLite's memory made the driver panic inside the transaction,
		// database/sql never got its lock back, the rollback waited for it
		// forever and the connection kept the file's write lock.
		t.Run("out of memory", func(t *testing.T) {
			huge := strings.Repeat("x", 300<<20) // more than SQLite's 256 MB heap
			done := make(chan error, 1)
			go func() {
				defer func() {
					if r := recover(); r != nil {
						done <- fmt.Errorf("panic: %v", r)
					}
				}()
				done <- s.tx(ctx, func(tx *gorm.DB) error {
					if err := tx.Create(&Broker{Name: "before-huge"}).Error; err != nil {
						return err
					}
					return tx.Create(&Broker{Name: huge}).Error
				})
			}()
			select {
			case err := <-done:
				var pe *PanicError
				if !errors.As(err, &pe) {
					t.Errorf("huge write: %v, want a PanicError", err)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("the huge write's transaction never ended")
			}
			nextWriteAtOnce(t, s, "after-huge")
			if count("before-huge") != 0 {
				t.Error("the huge write's transaction was committed")
			}
		})

		t.Run("out of memory reading", func(t *testing.T) {
			// Each failed read retires its connection; the readers' pool
			// (sqliteReaders connections) lives on.
			huge := strings.Repeat("x", 300<<20) // more than SQLite's 256 MB heap
			for i := range sqliteReaders() + 2 {
				done := make(chan error, 1)
				go func() {
					defer func() {
						if r := recover(); r != nil {
							done <- fmt.Errorf("panic: %v", r)
						}
					}()
					_, err := s.GetAdminByLogin(ctx, huge)
					done <- err
				}()
				select {
				case err := <-done:
					var pe *PanicError
					if !errors.As(err, &pe) {
						t.Fatalf("huge read %d: %v, want a PanicError", i, err)
					}
				case <-time.After(20 * time.Second):
					t.Fatalf("huge read %d never returned", i)
				}
			}
			rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			if _, err := s.CountAdmins(rctx); err != nil {
				t.Errorf("a read after the failed ones: %v", err)
			}
		})
	})
}

// TestReady: the readiness check answers at once, says yes while a write
// merely holds the writer, and no when the writer's connection is stuck.
func TestReady(t *testing.T) {
	testStores(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		ready := func(want bool, when string) {
			t.Helper()
			start := time.Now()
			err := s.Ready(ctx)
			if d := time.Since(start); d > readyBound+500*time.Millisecond {
				t.Errorf("Ready %s took %v", when, d)
			}
			if (err == nil) != want {
				t.Errorf("Ready %s = %v, want ready %v", when, err, want)
			}
		}
		ready(true, "on a fresh store")

		// A long write: busy, not stuck.
		started, finish := make(chan struct{}), make(chan struct{})
		longErr := make(chan error, 1)
		go func() {
			longErr <- s.tx(ctx, func(tx *gorm.DB) error {
				close(started)
				<-finish
				return tx.Create(&Broker{Name: "long"}).Error
			})
		}()
		<-started
		ready(true, "while a write holds the writer")
		close(finish)
		if err := <-longErr; err != nil {
			t.Fatal(err)
		}
		if s.Dialect() != SQLite {
			return
		}

		// A stuck writer connection, as a rollback that never ends left it:
		// here, taken out of the writer's pool and never given back.
		wpool, err := s.SQL()
		if err != nil {
			t.Fatal(err)
		}
		conn, err := wpool.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		ready(false, "when the writer's connection is stuck and the writer free")
		short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		if err := s.CreateBroker(short, &Broker{Name: "stuck-1"}); err == nil {
			t.Fatal("a write succeeded without the writer's connection")
		}
		queued := make(chan error, 1)
		go func() {
			qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			queued <- s.CreateBroker(qctx, &Broker{Name: "stuck-2"})
		}()
		time.Sleep(100 * time.Millisecond)
		ready(false, "when a write ran out of time on the writer and another waits behind")
		if err := s.Ping(ctx); err != nil {
			t.Errorf("Ping: %v (it only checks that the database answers)", err)
		}
		conn.Close()
		if err := <-queued; err != nil {
			t.Errorf("the queued write, once the connection is back: %v", err)
		}
		ready(true, "once the writer's connection is back")
	})
}

// TestRaceFreeWriter runs the writer's queue under load, for the race
// detector (go test -race ./db): concurrent writes, cancellations and
// readiness checks.
func TestRaceFreeWriter(t *testing.T) {
	s := openTestStore(t, dbtest.SQLite(t))
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			wctx, cancel := context.WithTimeout(ctx, time.Duration(1+i%5)*time.Millisecond*20)
			defer cancel()
			_ = s.CreateBroker(wctx, &Broker{Name: fmt.Sprint("b", i)})
			_ = s.Ready(ctx)
		}()
	}
	wg.Wait()
	nextWriteAtOnce(t, s, "the load")
}
