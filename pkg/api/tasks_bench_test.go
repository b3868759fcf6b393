package api_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/cleanmail/cleanmail/pkg/api"
	"github.com/cleanmail/cleanmail/pkg/jobs"
	"github.com/cleanmail/cleanmail/pkg/loopback"
	"github.com/cleanmail/cleanmail/pkg/notify"
	"github.com/cleanmail/cleanmail/pkg/submit"
)

// countingRelay is an SMTP server on loopback that counts what it accepts.
type countingRelay struct {
	srv      *loopback.SMTPServer
	relay    submit.Relay
	accepted atomic.Int64
}

func newCountingRelay(b *testing.B) *countingRelay {
	b.Helper()
	r := &countingRelay{}
	srv, err := loopback.StartSMTP(loopback.SMTPOptions{Timeout: 30 * time.Second,
		ErrorLog: slog.NewLogLogger(slog.DiscardHandler, slog.LevelError),
		Deliver: func(string, []string, []byte) error {
			r.accepted.Add(1)
			return nil
		}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Close() })
	if r.relay, err = submit.ParseURL("smtp://" + srv.Addr()); err != nil {
		b.Fatal(err)
	}
	r.srv = srv
	return r
}

// await waits until the relay has accepted n messages in all.
func (r *countingRelay) await(b *testing.B, n int64, within time.Duration) {
	deadline := time.Now().Add(within)
	for r.accepted.Load() < n {
		if time.Now().After(deadline) {
			b.Fatalf("%d messages accepted after %v, want %d", r.accepted.Load(), within, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// BenchmarkTasksWelcome10k: one round enqueues 10,000 welcome mail jobs
// straight through the job queue (jobs.Queue.Insert, 1,000 to a
// transaction, as POST /tasks inserts each) and waits until the relay, a
// recording SMTP server on loopback, has accepted the 10,000 mails: each
// job read its user, its domain's options and DKIM key, stored a one-time
// token, rendered, built and submitted its mail, and was marked completed,
// ten at a time (the default CLEANMAIL_JOB_CONCURRENCY). Beside it, as the
// floor of the same run, the same 10,000 messages (those the round sent)
// submitted through pkg/submit to the same server, ten at a time: the
// cost of the mail without the queue. The 10,000 users are inserted in
// SQL, outside the timer.
func BenchmarkTasksWelcome10k(b *testing.B) {
	const (
		n           = 10_000
		batch       = 1_000
		concurrency = 10
	)
	for _, name := range []string{"sqlite", "postgres"} {
		b.Run(name, func(b *testing.B) {
			relay := newCountingRelay(b)
			var queue *jobs.Queue
			e := newEnvWith(b, databases(b)[name](b), func(o *api.Options) {
				ctx := context.Background()
				if _, err := jobs.Migrate(ctx, o.Store); err != nil {
					b.Fatal(err)
				}
				// The configuration cleanmail serve runs with by default.
				o.Workers = river.NewWorkers()
				q, err := jobs.Open(ctx, o.Store, jobs.Options{Workers: o.Workers, Concurrency: concurrency})
				if err != nil {
					b.Fatal(err)
				}
				o.Jobs, queue = q, q
				o.Relays = []submit.Relay{relay.relay}
			})
			if err := queue.Start(context.Background()); err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				_ = queue.Stop(ctx)
			})
			stark := e.newDomain("stark.net", map[string]any{"defaultLanguage": "EN"})
			e.do(req{Method: "POST", Path: "/domains/" + stark + "/options", Body: map[string]any{"name": "APP_URL", "value": "app.stark.net"}}).expect(201)
			e.do(req{Method: "POST", Path: "/domains/" + stark + "/options", Body: map[string]any{"name": "NOTIFICATION_SENDER", "value": "noreply@stark.net"}}).expect(201)
			users := seedUsers(b, e, stark, n)

			var queueNsPerRound float64
			b.Run("queue", func(b *testing.B) {
				ctx := context.Background()
				events, unsub := queue.Subscribe(river.EventKindJobCompleted)
				// The time inside the worker, against the round's: what
				// the queue adds around the jobs.
				var run, count atomic.Int64
				go func() {
					for ev := range events {
						run.Add(int64(ev.JobStats.RunDuration))
						count.Add(1)
					}
				}()
				defer func() {
					unsub()
					if c := count.Load(); c > 0 {
						b.ReportMetric(float64(run.Load())/float64(c)/1e6, "run-ms/job")
					}
				}()
				for b.Loop() {
					want := relay.accepted.Load() + n
					for i := 0; i < n; i += batch {
						err := e.store.Tx(ctx, func(ctx context.Context) error {
							for _, id := range users[i : i+batch] {
								if _, err := queue.Insert(ctx, notify.WelcomeArgs{UserID: id}, nil); err != nil {
									return err
								}
							}
							return nil
						})
						if err != nil {
							b.Fatal(err)
						}
					}
					relay.await(b, want, 30*time.Minute)
				}
				queueNsPerRound = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
				b.ReportMetric(n/(queueNsPerRound/1e9), "mails/s")
			})

			// The floor sends the last round's messages, as they were sent.
			got := relay.srv.Received()
			if len(got) < n {
				b.Fatalf("%d messages recorded, want %d", len(got), n)
			}
			sent := got[len(got)-n:]
			b.Run("floor", func(b *testing.B) {
				sender := &submit.Sender{Timeout: 30 * time.Second}
				ctx := context.Background()
				for b.Loop() {
					want := relay.accepted.Load() + n
					var next atomic.Int64
					var wg sync.WaitGroup
					errs := make(chan error, concurrency)
					for range concurrency {
						wg.Go(func() {
							for i := next.Add(1) - 1; i < n; i = next.Add(1) - 1 {
								m := sent[i]
								if err := sender.Send(ctx, []submit.Relay{relay.relay}, m.From, m.To, m.Data); err != nil {
									errs <- fmt.Errorf("message %d: %w", i, err)
									return
								}
							}
						})
					}
					wg.Wait()
					close(errs)
					if err := <-errs; err != nil {
						b.Fatal(err)
					}
					relay.await(b, want, time.Minute)
				}
				floorNsPerRound := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
				b.ReportMetric(n/(floorNsPerRound/1e9), "mails/s")
				if queueNsPerRound > 0 {
					b.ReportMetric(queueNsPerRound/floorNsPerRound, "queue/floor")
				}
			})
		})
	}
}

// seedUsers inserts n enabled users of the domain (public id domain), in
// English, and returns their keys.
func seedUsers(b *testing.B, e *env, domain string, n int) []int64 {
	b.Helper()
	key, ok := e.ids.Decode(domain)
	if !ok {
		b.Fatalf("domain id %q", domain)
	}
	sqlDB, err := e.store.SQL()
	if err != nil {
		b.Fatal(err)
	}
	for _, q := range []string{
		fmt.Sprintf(`WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < %d)
			INSERT INTO mail_addresses (address, domain_id) SELECT 'user' || n || '@stark.net', %d FROM s`, n, key),
		fmt.Sprintf(`INSERT INTO users (domain_id, email, status, language, sender_verify_on, creation_date)
			SELECT domain_id, address, 'ENABLED', 'EN', TRUE, 1774457446695 FROM mail_addresses WHERE domain_id = %d`, key),
		`ANALYZE`,
	} {
		if _, err := sqlDB.Exec(q); err != nil {
			b.Fatalf("seed: %v\n%s", err, q)
		}
	}
	rows, err := sqlDB.Query(fmt.Sprintf(`SELECT id FROM users WHERE domain_id = %d ORDER BY id`, key))
	if err != nil {
		b.Fatal(err)
	}
	defer rows.Close()
	ids := make([]int64, 0, n)
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			b.Fatal(err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil || len(ids) != n {
		b.Fatalf("%d users seeded, want %d: %v", len(ids), n, err)
	}
	return ids
}
