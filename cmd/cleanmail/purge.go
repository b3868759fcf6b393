package main

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/riverqueue/river"

	"github.com/cleanmail/cleanmail/db"
)

// The purge is a periodic job of the queue: River's leader enqueues it
// every CLEANMAIL_PURGE_INTERVAL (and at start), so one process of the
// service runs it each time, whatever the replicas.

type purgeArgs struct{}

func (purgeArgs) Kind() string { return "purge" }

func purgeJob(every time.Duration) *river.PeriodicJob {
	return river.NewPeriodicJob(river.PeriodicInterval(every),
		func() (river.JobArgs, *river.InsertOpts) { return purgeArgs{}, nil },
		&river.PeriodicJobOpts{ID: "purge", RunOnStart: true})
}

type purgeWorker struct {
	river.WorkerDefaults[purgeArgs]
	store *db.Store
	log   *slog.Logger
}

// Work purges the deleted domains past their delay, reclaims the rows of
// expired sender rules and uploads (hidden everywhere already), and keeps
// SQLite's planner statistics current (db.Store.Optimize); each step is
// tried even when another failed.
func (w *purgeWorker) Work(ctx context.Context, _ *river.Job[purgeArgs]) error {
	now := time.Now().UnixMilli()
	var errs []error
	for _, p := range []struct {
		what string
		fn   func(context.Context, int64) (int64, error)
	}{
		{"deleted domains", w.store.PurgeDomains},
		{"expired sender rules", w.store.PurgeExpiredWblistRules},
		{"expired uploads", w.store.PurgeExpiredUploads},
		{"the planner's statistics", func(ctx context.Context, _ int64) (int64, error) { return 0, w.store.Optimize(ctx) }},
	} {
		n, err := p.fn(ctx, now)
		if err != nil {
			w.log.Error("purge failed", "what", p.what, "err", err)
			errs = append(errs, err)
		} else if n > 0 {
			w.log.Info("purged", "what", p.what, "count", n)
		}
	}
	return errors.Join(errs...)
}
