package jobs_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/cleanmail/cleanmail/db"
	"github.com/cleanmail/cleanmail/db/dbtest"
	"github.com/cleanmail/cleanmail/pkg/jobs"
)

// echoArgs is a test job: it records its text, failing its first Fail
// attempts.
type echoArgs struct {
	Text string `json:"text"`
	Fail int    `json:"fail"`
}

func (echoArgs) Kind() string { return "test_echo" }

type echoWorker struct {
	river.WorkerDefaults[echoArgs]
	mu   sync.Mutex
	done map[string]int // text → successful runs
	runs atomic.Int32
}

func (w *echoWorker) Work(ctx context.Context, j *river.Job[echoArgs]) error {
	w.runs.Add(1)
	if j.Attempt <= j.Args.Fail {
		return errors.New("refused, attempt " + string(rune('0'+j.Attempt)))
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.done[j.Args.Text]++
	return nil
}

func (w *echoWorker) count(text string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.done[text]
}

func stores(t *testing.T, fn func(t *testing.T, url string, s *db.Store)) {
	for name, url := range map[string]func(testing.TB) string{"sqlite": dbtest.SQLite, "postgres": dbtest.Postgres} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			u := url(t)
			fn(t, u, open(t, u))
		})
	}
}

func open(t *testing.T, url string) *db.Store {
	t.Helper()
	s, err := db.Open(db.Options{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := jobs.Migrate(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	return s
}

func queue(t *testing.T, s *db.Store, w *echoWorker, opts jobs.Options) *jobs.Queue {
	t.Helper()
	if w != nil {
		opts.Workers = river.NewWorkers()
		river.AddWorker(opts.Workers, w)
	}
	if opts.Poll == 0 {
		opts.Poll = 20 * time.Millisecond
	}
	if opts.RetryBase == 0 {
		opts.RetryBase = 10 * time.Millisecond
	}
	q, err := jobs.Open(context.Background(), s, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = q.Stop(ctx)
	})
	return q
}

func newWorker() *echoWorker { return &echoWorker{done: map[string]int{}} }

// waitState waits until the job is in one of the states, or fails.
func waitState(t *testing.T, q *jobs.Queue, id int64, states ...rivertype.JobState) *rivertype.JobRow {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		j, err := q.Job(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range states {
			if j.State == s {
				return j
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %d still %s after 15s (attempt %d, errors %+v)", id, j.State, j.Attempt, j.Errors)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A job enqueued in a transaction exists if and only if the transaction
// commits: the store's write and the job commit together, or neither.
func TestInsertInTransaction(t *testing.T) {
	stores(t, func(t *testing.T, _ string, s *db.Store) {
		w := newWorker()
		q := queue(t, s, w, jobs.Options{})
		ctx := context.Background()
		var committed int64
		err := s.Tx(ctx, func(ctx context.Context) error {
			if err := s.CreateBroker(ctx, &db.Broker{Name: "kept"}); err != nil {
				return err
			}
			id, err := q.Insert(ctx, echoArgs{Text: "kept"}, nil)
			committed = id
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		var rolledBack int64
		boom := errors.New("boom")
		err = s.Tx(ctx, func(ctx context.Context) error {
			if err := s.CreateBroker(ctx, &db.Broker{Name: "lost"}); err != nil {
				return err
			}
			id, err := q.Insert(ctx, echoArgs{Text: "lost"}, nil)
			if err != nil {
				return err
			}
			rolledBack = id
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatal(err)
		}
		waitState(t, q, committed, rivertype.JobStateCompleted)
		if _, err := q.Job(ctx, rolledBack); !errors.Is(err, jobs.ErrNoJob) {
			t.Errorf("the job of the rolled back transaction: %v", err)
		}
		// And one enqueued outside any transaction runs too.
		id, err := q.Insert(ctx, echoArgs{Text: "alone"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		waitState(t, q, id, rivertype.JobStateCompleted)
		if w.count("kept") != 1 || w.count("lost") != 0 || w.count("alone") != 1 {
			t.Errorf("runs %v", w.done)
		}
	})
}

// A job that fails is retried with backoff; one that keeps failing is
// discarded after its attempts, its errors kept.
func TestRetryThenDiscard(t *testing.T) {
	stores(t, func(t *testing.T, _ string, s *db.Store) {
		w := newWorker()
		q := queue(t, s, w, jobs.Options{MaxAttempts: 3})
		ctx := context.Background()
		id, err := q.Insert(ctx, echoArgs{Text: "third time", Fail: 2}, nil)
		if err != nil {
			t.Fatal(err)
		}
		j := waitState(t, q, id, rivertype.JobStateCompleted)
		if j.Attempt != 3 || len(j.Errors) != 2 || w.count("third time") != 1 {
			t.Errorf("attempt %d, %d errors, %d runs", j.Attempt, len(j.Errors), w.count("third time"))
		}
		id, err = q.Insert(ctx, echoArgs{Text: "never", Fail: 10}, nil)
		if err != nil {
			t.Fatal(err)
		}
		j = waitState(t, q, id, rivertype.JobStateDiscarded)
		if j.Attempt != 3 || len(j.Errors) != 3 || j.Errors[2].Error != "refused, attempt 3" || w.count("never") != 0 {
			t.Errorf("discarded: attempt %d, errors %+v", j.Attempt, j.Errors)
		}
	})
}

// Nothing is lost on a restart: a job enqueued while no worker runs (the
// process that enqueued it gone) runs once a worker starts, once.
func TestDurableAcrossRestart(t *testing.T) {
	stores(t, func(t *testing.T, url string, s *db.Store) {
		ctx := context.Background()
		enqueuer, err := jobs.Open(ctx, s, jobs.Options{})
		if err != nil {
			t.Fatal(err)
		}
		id, err := enqueuer.Insert(ctx, echoArgs{Text: "after restart"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := enqueuer.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		s.Close()
		// A new process: its own store on the same database.
		s2 := open(t, url)
		w := newWorker()
		q := queue(t, s2, w, jobs.Options{})
		waitState(t, q, id, rivertype.JobStateCompleted)
		time.Sleep(100 * time.Millisecond)
		if w.count("after restart") != 1 {
			t.Errorf("%d runs", w.count("after restart"))
		}
	})
}

// Two processes on one database: each job runs once.
func TestTwoWorkersRunEachJobOnce(t *testing.T) {
	stores(t, func(t *testing.T, url string, s *db.Store) {
		ctx := context.Background()
		w1, w2 := newWorker(), newWorker()
		q1 := queue(t, s, w1, jobs.Options{Concurrency: 4})
		queue(t, open(t, url), w2, jobs.Options{Concurrency: 4})
		const n = 200
		ids := make([]int64, n)
		for i := range n {
			id, err := q1.Insert(ctx, echoArgs{Text: "job " + string(rune('A'+i%26)) + string(rune('a'+i/26))}, nil)
			if err != nil {
				t.Fatal(err)
			}
			ids[i] = id
		}
		for _, id := range ids {
			waitState(t, q1, id, rivertype.JobStateCompleted)
		}
		time.Sleep(100 * time.Millisecond)
		total := int(w1.runs.Load() + w2.runs.Load())
		if total != n {
			t.Errorf("%d runs for %d jobs (%d and %d)", total, n, w1.runs.Load(), w2.runs.Load())
		}
		t.Logf("%d and %d jobs run by each process", w1.runs.Load(), w2.runs.Load())
	})
}

// A worker that finishes a job takes the next one at once, not at the next
// poll nor after River's default cooldown (100 ms, which held one worker to
// ten jobs a second): 50 jobs, one worker, within 3 s.
func TestFreeWorkerTakesTheNextJob(t *testing.T) {
	stores(t, func(t *testing.T, _ string, s *db.Store) {
		w := newWorker()
		q := queue(t, s, w, jobs.Options{Concurrency: 1, Poll: time.Second})
		ctx := context.Background()
		const n = 50
		start := time.Now()
		ids := make([]int64, n)
		for i := range ids {
			id, err := q.Insert(ctx, echoArgs{Text: "next"}, nil)
			if err != nil {
				t.Fatal(err)
			}
			ids[i] = id
		}
		for _, id := range ids {
			waitState(t, q, id, rivertype.JobStateCompleted)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("%d jobs one after the other took %v, want under 3s", n, d)
		} else {
			t.Logf("%d jobs one after the other in %v", n, d)
		}
		if w.count("next") != n {
			t.Errorf("%d runs, want %d", w.count("next"), n)
		}
	})
}

// holdArgs is a test job that runs until the test releases it, and fails
// if its context ended meanwhile.
type holdArgs struct{}

func (holdArgs) Kind() string { return "test_hold" }

type holdWorker struct {
	river.WorkerDefaults[holdArgs]
	started, release chan struct{}
}

func (w *holdWorker) Work(ctx context.Context, j *river.Job[holdArgs]) error {
	w.started <- struct{}{}
	select {
	case <-w.release:
		return ctx.Err()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// The end of the context given to Start (a process's signal context) does
// not cut the running jobs: Stop lets them finish.
func TestStartContextEndDoesNotCutJobs(t *testing.T) {
	stores(t, func(t *testing.T, _ string, s *db.Store) {
		w := &holdWorker{started: make(chan struct{}, 1), release: make(chan struct{})}
		workers := river.NewWorkers()
		river.AddWorker(workers, w)
		q, err := jobs.Open(context.Background(), s, jobs.Options{Workers: workers, Poll: 20 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		if err := q.Start(ctx); err != nil {
			t.Fatal(err)
		}
		id, err := q.Insert(context.Background(), holdArgs{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		select {
		case <-w.started:
		case <-time.After(15 * time.Second):
			t.Fatal("the job did not start")
		}
		cancel() // SIGTERM
		stopped := make(chan error, 1)
		go func() {
			sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer scancel()
			stopped <- q.Stop(sctx)
		}()
		time.Sleep(100 * time.Millisecond)
		close(w.release)
		if err := <-stopped; err != nil {
			t.Errorf("Stop: %v", err)
		}
		// Read from a queue of its own: this one is stopped.
		j, err := queue(t, s, nil, jobs.Options{}).Job(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if j.State != rivertype.JobStateCompleted || j.Attempt != 1 {
			t.Errorf("the job is %s at attempt %d (errors %+v), want completed at 1", j.State, j.Attempt, j.Errors)
		}
	})
}
