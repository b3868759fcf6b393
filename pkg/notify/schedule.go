package notify

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"github.com/riverqueue/river"

	"github.com/cleanmail/cleanmail/db"
)

// KindDigestRound is the periodic job that enqueues the day's digests.
const KindDigestRound = "digest_round"

// DigestRoundEvery is how often the round runs: a user's digests go
// within this much after its DIGEST_HOUR.
const DigestRoundEvery = 15 * time.Minute

// DigestRoundArgs: one round.
type DigestRoundArgs struct{}

func (DigestRoundArgs) Kind() string { return KindDigestRound }

// DigestRound is the periodic job of the digests, run by River's leader
// (one process of the service): every DigestRoundEvery, and at start.
func DigestRound() *river.PeriodicJob {
	return river.NewPeriodicJob(river.PeriodicInterval(DigestRoundEvery),
		func() (river.JobArgs, *river.InsertOpts) { return DigestRoundArgs{}, nil },
		&river.PeriodicJobOpts{ID: KindDigestRound, RunOnStart: true})
}

type digestRoundWorker struct {
	river.WorkerDefaults[DigestRoundArgs]
	m   *Mailer
	now func() time.Time
}

// roundOptions are what decides whether a user's digests go now.
var roundOptions = []string{"TIMEZONE", "DIGEST_HOUR", "QUARANTINE_REPORT_FREQUENCY"}

// Work enqueues the digests due: for each user whose policy has the
// service, whose local hour is its DIGEST_HOUR and whose
// QUARANTINE_REPORT_FREQUENCY is DAILY (WEEKLY: on Mondays), one digest
// of each kind its policy has, unique by user and local day (River's
// unique jobs): the round runs four times in that hour, and on every
// leader change, and the digest goes once.
func (w *digestRoundWorker) Work(ctx context.Context, _ *river.Job[DigestRoundArgs]) error {
	now := time.Now()
	if w.now != nil {
		now = w.now()
	}
	if w.m.PublicURL == "" {
		slog.WarnContext(ctx, "the daily quarantine digests are not sent: CLEANMAIL_PUBLIC_URL, on which their release links are, is not configured")
	}
	var after int64
	for {
		users, err := w.m.Store.DigestUsers(ctx, after, 500)
		if err != nil {
			return err
		}
		for _, u := range users {
			after = u.ID
			opts, err := w.m.Store.Effective(ctx, db.OptionOwner{Scope: db.ScopeUser, ID: u.ID}, roundOptions...)
			if err != nil {
				return err
			}
			day, due := digestDue(opts, now)
			if !due {
				continue
			}
			d := Digest{UserID: u.ID, Scheduled: true, Day: day}
			unique := &river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true}}
			// Without the public URL the spam digest's links cannot be
			// written (each would be cancelled): the round leaves it out.
			if u.Quarantine && w.m.PublicURL != "" {
				if _, err := w.m.Enqueue(ctx, SpamDigestArgs{Digest: d}, unique); err != nil {
					return err
				}
			}
			if u.Retention {
				if _, err := w.m.Enqueue(ctx, CleanDigestArgs{Digest: d}, unique); err != nil {
					return err
				}
			}
		}
		if len(users) < 500 {
			return nil
		}
	}
}

// digestDue tells whether a user's digests are due at now, and its local
// date then.
func digestDue(opts map[string]string, now time.Time) (string, bool) {
	loc, err := time.LoadLocation(opts["TIMEZONE"])
	if err != nil || opts["TIMEZONE"] == "" {
		loc = time.UTC
	}
	local := now.In(loc)
	hour, err := strconv.Atoi(opts["DIGEST_HOUR"])
	if err != nil {
		hour = 8
	}
	switch opts["QUARANTINE_REPORT_FREQUENCY"] {
	case "NEVER":
		return "", false
	case "WEEKLY":
		if local.Weekday() != time.Monday {
			return "", false
		}
	}
	return local.Format(time.DateOnly), local.Hour() == hour
}
