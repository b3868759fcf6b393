// Package jobs is the durable job queue of the service: River
// (riverqueue/river) in our own database, beside the store's tables and
// migrated with them. On PostgreSQL it runs on River's database/sql
// driver over the store's pool, with a pgx connection of its own for
// LISTEN (jobs start as soon as they are enqueued); on the embedded SQLite
// on River's SQLite driver over the store's one writer connection, polling.
//
// A job is enqueued in the transaction of the write that causes it: Insert
// inside a db.Store.Tx writes the job row in that transaction, so it
// exists if and only if the write commits. River runs each job once across
// every process on the database (rows are locked as they are fetched),
// retries a failed job with backoff up to its attempts, and keeps a job
// that ran out of them as discarded with its errors.
package jobs

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"

	"github.com/cleanmail/cleanmail/db"
)

// Options configure a Queue.
type Options struct {
	// Workers are the kinds this process runs. Nil: the queue only
	// enqueues (an API that leaves the work to `cleanmail worker`).
	Workers *river.Workers
	// Periodic are the periodic jobs (the purge, the health re-check),
	// enqueued by whichever process is River's leader: once per period
	// across the processes.
	Periodic []*river.PeriodicJob
	// Concurrency bounds the jobs running at once in this process; 10
	// when 0.
	Concurrency int
	// MaxAttempts bounds the attempts of a job (the first and its
	// retries); 8 when 0.
	MaxAttempts int
	// RetryBase is the wait before the first retry, doubled at each
	// attempt (with up to a fifth more, at random) up to an hour; 30
	// seconds when 0.
	RetryBase time.Duration
	// Poll is how often an idle process looks for jobs when it cannot be
	// told of them (SQLite; PostgreSQL when LISTEN is lost); 1 second when
	// 0.
	Poll time.Duration
	// JobTimeout bounds one attempt; 2 minutes when 0.
	JobTimeout time.Duration
	Logger     *slog.Logger
}

// Queue is the job queue of one store.
type Queue struct {
	client *river.Client[*sql.Tx]
	store  *db.Store
	listen *pgxpool.Pool // PostgreSQL only
	runs   bool
}

// driver is River's driver on the store's database: the SQLite writer or
// the PostgreSQL pool, with a pgx pool for LISTEN (nil on SQLite).
func driver(ctx context.Context, store *db.Store) (riverdriver.Driver[*sql.Tx], *pgxpool.Pool, error) {
	pool, err := store.SQL()
	if err != nil {
		return nil, nil, err
	}
	if store.Dialect() == db.SQLite {
		return riversqlite.New(pool), nil, nil
	}
	cfg, err := pgxpool.ParseConfig(store.PostgresURL())
	if err != nil {
		return nil, nil, fmt.Errorf("job queue listener: %w", err)
	}
	// One connection per client, hijacked for LISTEN and kept.
	cfg.MinConns, cfg.MaxConns = 0, 1
	listen, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("job queue listener: %w", err)
	}
	return riverdatabasesql.NewWithPgxListener(pool, listen), listen, nil
}

// Migrate brings River's tables to the version this build needs (River's
// own migrations, recorded in its river_migration table). Run after the
// store's (db.Store.Migrate); idempotent.
func Migrate(ctx context.Context, store *db.Store) ([]string, error) {
	drv, listen, err := driver(ctx, store)
	if err != nil {
		return nil, err
	}
	if listen != nil {
		defer listen.Close()
	}
	m, err := rivermigrate.New(drv, &rivermigrate.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, err
	}
	res, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil)
	if err != nil {
		return nil, fmt.Errorf("job queue migrations: %w", err)
	}
	var done []string
	for _, v := range res.Versions {
		done = append(done, fmt.Sprintf("river %03d %s", v.Version, v.Name))
	}
	return done, nil
}

// Open makes the queue of store. It runs nothing until Start.
func Open(ctx context.Context, store *db.Store, opts Options) (*Queue, error) {
	drv, listen, err := driver(ctx, store)
	if err != nil {
		return nil, err
	}
	cfg := &river.Config{
		Logger:      opts.Logger,
		MaxAttempts: or(opts.MaxAttempts, 8),
		RetryPolicy: backoff{base: or(opts.RetryBase, 30*time.Second)},
		JobTimeout:  or(opts.JobTimeout, 2*time.Minute),
		// A job left running by a process that died is given back once no
		// attempt can still be running (each is cut at JobTimeout), not
		// after River's hour.
		RescueStuckJobsAfter: or(opts.JobTimeout, 2*time.Minute) + 5*time.Minute,
		PeriodicJobs:         opts.Periodic,
		// Jobs that ran out of attempts are kept a month: what failed,
		// and why, is readable (GET /tasks/{id}) long after.
		DiscardedJobRetentionPeriod: 30 * 24 * time.Hour,
		CompletedJobRetentionPeriod: 7 * 24 * time.Hour,
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Workers != nil {
		cfg.Workers = opts.Workers
		cfg.Queues = map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: or(opts.Concurrency, 10)}}
		cfg.FetchPollInterval = or(opts.Poll, time.Second)
		// A worker that finishes takes the next job after at most the
		// cooldown since the last fetch: River's 100 ms held a process to
		// Concurrency jobs per 100 ms (10,000 welcome mails took 100 s
		// however quick each was). It only spaces the fetches that a worker
		// freed, an insert or the poll asks for: an idle process still
		// fetches once a poll.
		cfg.FetchCooldown = min(cfg.FetchPollInterval, fetchCooldown)
	}
	client, err := river.NewClient(drv, cfg)
	if err != nil {
		if listen != nil {
			listen.Close()
		}
		return nil, err
	}
	return &Queue{client: client, store: store, listen: listen, runs: opts.Workers != nil}, nil
}

// fetchCooldown is the least time between two fetches of jobs.
const fetchCooldown = 10 * time.Millisecond

func or[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Start runs the workers and the periodic jobs until Stop (nothing, for a
// queue without workers). The end of ctx does not stop them: River cancels
// the running jobs when the context of its Start ends, so a process
// starting the queue with its signal context cut its jobs at SIGTERM
// instead of letting Stop finish them.
func (q *Queue) Start(ctx context.Context) error {
	if !q.runs {
		return nil
	}
	return q.client.Start(context.WithoutCancel(ctx))
}

// Stop waits for the running jobs to finish, until ctx ends; then it
// cancels them (they are retried later, by this process or another), and
// releases the queue's connections.
func (q *Queue) Stop(ctx context.Context) error {
	var err error
	if q.runs {
		err = q.client.Stop(ctx)
		if ctx.Err() != nil {
			cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			err = q.client.StopAndCancel(cctx)
			cancel()
		}
	}
	if q.listen != nil {
		q.listen.Close()
	}
	return err
}

// Insert enqueues a job: in the transaction that ctx carries
// (db.Store.Tx), so that it exists if and only if that transaction
// commits, else on its own. It returns the job's id.
func (q *Queue) Insert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (int64, error) {
	var (
		res *rivertype.JobInsertResult
		err error
	)
	if tx, ok := q.store.SQLTx(ctx); ok {
		res, err = q.client.InsertTx(ctx, tx, args, opts)
	} else {
		res, err = q.client.Insert(ctx, args, opts)
	}
	if err != nil {
		return 0, fmt.Errorf("enqueue %s: %w", args.Kind(), err)
	}
	return res.Job.ID, nil
}

// ErrNoJob: no job has that id (never, or removed after its retention).
var ErrNoJob = errors.New("no such job")

// Job is a job's row: its kind, arguments, state, attempts, errors and
// recorded output.
func (q *Queue) Job(ctx context.Context, id int64) (*rivertype.JobRow, error) {
	j, err := q.client.JobGet(ctx, id)
	if errors.Is(err, river.ErrNotFound) {
		return nil, ErrNoJob
	}
	return j, err
}

// Subscribe reports the jobs this process finishes (tests, benchmarks).
func (q *Queue) Subscribe(kinds ...river.EventKind) (<-chan *river.Event, func()) {
	return q.client.Subscribe(kinds...)
}

// backoff waits base before the first retry, doubling at each attempt, up
// to an hour, plus up to a fifth at random so that jobs failed together
// (a relay down) do not come back together.
type backoff struct{ base time.Duration }

func (b backoff) NextRetry(job *rivertype.JobRow) time.Time {
	d := b.base
	for i := 1; i < job.Attempt && d < time.Hour; i++ {
		d *= 2
	}
	d = min(d, time.Hour)
	d += time.Duration(rand.Int64N(int64(d)/5 + 1))
	return time.Now().Add(d)
}
