package notify

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/riverqueue/river"

	"github.com/cleanmail/cleanmail/db"
	"github.com/cleanmail/cleanmail/pkg/listing"
	"github.com/cleanmail/cleanmail/pkg/mailstore"
	"github.com/cleanmail/cleanmail/pkg/templates"
)

// The digest job kinds, named as their commands of POST /tasks.
const (
	KindDigestSpam  = "send_spamfight_spam_mail"
	KindDigestClean = "send_spamfight_clean_mail"
)

// The digests' kinds in digest_state, and the folder each lists.
const (
	DigestSpam  = "spam"  // the messages held in quarantine
	DigestClean = "clean" // the messages delivered
)

// digestFolders are the folders the digests list.
var digestFolders = map[string]string{DigestSpam: "Quarantine", DigestClean: "INBOX"}

// DefaultDigestPeriod is what a first digest covers, with no since.
const DefaultDigestPeriod = 24 * time.Hour

// Digest is a digest of the user to send. Since (epoch milliseconds),
// when set, starts the period; else the last digest of its kind does
// (else a day ago). Scheduled is the daily run's: an empty one is not
// sent. Day is the user's local date of a scheduled run, its unique key:
// one a day whatever the replicas.
type Digest struct {
	UserID    int64  `json:"userId"`
	Since     int64  `json:"since,omitempty"`
	Scheduled bool   `json:"scheduled,omitempty"`
	Day       string `json:"day,omitempty"`
}

// SpamDigestArgs: the quarantine digest (send_spamfight_spam_mail).
type SpamDigestArgs struct{ Digest }

func (SpamDigestArgs) Kind() string { return KindDigestSpam }

// CleanDigestArgs: the delivered mail's digest (send_spamfight_clean_mail).
type CleanDigestArgs struct{ Digest }

func (CleanDigestArgs) Kind() string { return KindDigestClean }

type spamDigestWorker struct {
	river.WorkerDefaults[SpamDigestArgs]
	m *Mailer
}

func (w *spamDigestWorker) Work(ctx context.Context, j *river.Job[SpamDigestArgs]) error {
	return w.m.digest(ctx, DigestSpam, j.Args.Digest)
}

type cleanDigestWorker struct {
	river.WorkerDefaults[CleanDigestArgs]
	m *Mailer
}

func (w *cleanDigestWorker) Work(ctx context.Context, j *river.Job[CleanDigestArgs]) error {
	return w.m.digest(ctx, DigestClean, j.Args.Digest)
}

// digestOptions are the options a digest reads at the user's scope.
var digestOptions = []string{"TIMEZONE", "QUARANTINE_REPORT_MAX_ENTRIES", "QUARANTINE_RELEASE_BY_USER"}

// ErrNoPublicURL: release links need the API's public URL.
var ErrNoPublicURL = errors.New("the server's public URL (CLEANMAIL_PUBLIC_URL) is not configured: the digest's release links would lead nowhere")

func (m *Mailer) digest(ctx context.Context, kind string, a Digest) error {
	if m.Mail == nil {
		return errors.New("no mail store is configured") // retried: it may come back
	}
	u, set, err := m.recipient(ctx, a.UserID)
	if err != nil {
		return err
	}
	opts, err := m.Store.Effective(ctx, db.OptionOwner{Scope: db.ScopeUser, ID: u.ID}, digestOptions...)
	if err != nil {
		return err
	}
	loc, err := time.LoadLocation(opts["TIMEZONE"])
	if err != nil || opts["TIMEZONE"] == "" {
		loc = time.UTC
	}
	max, err := strconv.Atoi(opts["QUARANTINE_REPORT_MAX_ENTRIES"])
	if err != nil || max < 1 {
		max = 100
	}
	releasable := kind == DigestSpam && opts["QUARANTINE_RELEASE_BY_USER"] != "false"
	if releasable && m.PublicURL == "" {
		return river.JobCancel(ErrNoPublicURL)
	}
	now := time.Now()
	since := time.UnixMilli(a.Since)
	if a.Since == 0 {
		last, err := m.Store.LastDigest(ctx, u.ID, kind)
		if err != nil {
			return err
		}
		since = last
		if last.IsZero() {
			since = now.Add(-DefaultDigestPeriod)
		}
	}
	folder := digestFolders[kind]
	q := mailstore.Query{ReceivedAfter: &since}
	if kind == DigestSpam {
		// Released already: not listed, nor counted in the page.
		q.Without = []imap.Flag{mailstore.Released}
	}
	page, err := m.Mail.Search(ctx, u.Email, folder, q, listing.Page{PageSize: max, Sort: "-receivedDate"})
	if err != nil {
		return err
	}
	quarantine := set.AppURL + "/quarantine"
	data := templates.Data{Service: m.Service, Recipient: u.Email, Name: displayName(u), Link: quarantine, Location: loc, Since: since}
	if kind == DigestClean {
		data.Link = set.AppURL + "/messages"
	}
	for _, s := range page.Messages {
		item := templates.Item{From: s.From, Subject: s.Subject, Date: s.ReceivedDate}
		if kind == DigestSpam {
			item.ReleaseLink = quarantine // users may not release: the quarantine, where they ask
			if releasable {
				token, err := m.Links.Sign(Release{UserID: u.ID, Folder: folder, UID: uint32(s.UID), MessageID: first(s.Headers["Message-Id"])}, now)
				if err != nil {
					return err
				}
				item.ReleaseLink = m.PublicURL + "/releases/" + token
			}
		}
		data.Messages = append(data.Messages, item)
	}
	if a.Scheduled && len(data.Messages) == 0 {
		return m.Store.SetLastDigest(ctx, u.ID, kind, now) // nothing to say: no mail
	}
	lang, err := m.language(ctx, u)
	if err != nil {
		return err
	}
	k := templates.DigestSpam
	if kind == DigestClean {
		k = templates.DigestClean
	}
	mail, err := templates.Render(k, lang, data)
	if err != nil {
		return river.JobCancel(err)
	}
	if err := m.deliver(ctx, u, set.Sender, mail); err != nil {
		return err
	}
	return m.Store.SetLastDigest(ctx, u.ID, kind, now)
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}
