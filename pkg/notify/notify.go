// Package notify sends the mails the API promises, as jobs of the queue
// (pkg/jobs): the welcome mail (a link to set a first password), the
// temporary token mail (a link that signs in) and the password reset mail
// (a one-time link). Each job reads its user when it runs, writes the
// mail in the user's language (else the domain's default; pkg/templates),
// from the NOTIFICATION_SENDER option, with links on the APP_URL option
// (never the request's Host), DKIM-signs it when the domain has a key, and
// submits it. A job that fails to submit is retried (pkg/jobs' backoff);
// one whose user is gone, or that no relay would ever take (a 5xx), is
// cancelled with its reason.
package notify

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"github.com/cleanmail/cleanmail/db"
	"github.com/cleanmail/cleanmail/pkg/fault"
	"github.com/cleanmail/cleanmail/pkg/mailstore"
	"github.com/cleanmail/cleanmail/pkg/message"
	"github.com/cleanmail/cleanmail/pkg/templates"
)

// The job kinds, named as the commands of POST /tasks that enqueue them.
const (
	KindWelcome = "send_welcome_mail"
	KindToken   = "send_token_mail"
	KindReset   = "send_password_reset_mail"
)

// WelcomeValidity is how long a welcome mail's link sets a password.
const WelcomeValidity = 7 * 24 * time.Hour

// WelcomeArgs: the welcome mail of a user.
type WelcomeArgs struct {
	UserID int64 `json:"userId"`
}

func (WelcomeArgs) Kind() string { return KindWelcome }

// TokenArgs: a temporary token of the user, valid Hours, in a link.
type TokenArgs struct {
	UserID int64 `json:"userId"`
	Hours  int   `json:"validity"`
}

func (TokenArgs) Kind() string { return KindToken }

// ResetArgs: a one-time password reset link, valid Hours.
type ResetArgs struct {
	UserID int64 `json:"userId"`
	Hours  int   `json:"validity"`
}

func (ResetArgs) Kind() string { return KindReset }

// Mailer writes and sends the mails. Its functions are the server's: set
// them all before the queue starts.
type Mailer struct {
	Store *db.Store
	// Send submits raw from the envelope sender to the recipients (the
	// server's relays, CLEANMAIL_SMTP_URL).
	Send func(ctx context.Context, from string, to []string, raw []byte) error
	// Sign DKIM-signs raw with the key of the user's domain, when it has
	// one (raw unchanged otherwise).
	Sign func(ctx context.Context, u *db.User, raw []byte) ([]byte, error)
	// TempToken issues a temporary token of u (GET /token's), valid for
	// validity.
	TempToken func(ctx context.Context, u *db.User, validity time.Duration) (string, time.Time, error)
	// Service is the service's name in the mails; templates' default
	// when empty.
	Service string
	// Mail is the users' mail store, which the digests list.
	Mail *mailstore.Store
	// PublicURL is the API's external base URL, on which the digests'
	// release links are (GET /releases/{token}); Links signs them.
	PublicURL string
	Links     ReleaseLinks
	// Enqueue inserts a job (the digest round's digests).
	Enqueue func(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (int64, error)
}

// Register adds the mail workers to w.
func (m *Mailer) Register(w *river.Workers) {
	river.AddWorker(w, &welcomeWorker{m: m})
	river.AddWorker(w, &tokenWorker{m: m})
	river.AddWorker(w, &resetWorker{m: m})
	river.AddWorker(w, &spamDigestWorker{m: m})
	river.AddWorker(w, &cleanDigestWorker{m: m})
	river.AddWorker(w, &digestRoundWorker{m: m})
}

type welcomeWorker struct {
	river.WorkerDefaults[WelcomeArgs]
	m *Mailer
}

func (w *welcomeWorker) Work(ctx context.Context, j *river.Job[WelcomeArgs]) error {
	return w.m.linkMail(ctx, j.Args.UserID, templates.Welcome, func(u *db.User, app string) (string, time.Time, error) {
		token, exp, err := w.m.Store.CreatePasswordToken(ctx, u.ID, db.PurposeWelcome, WelcomeValidity)
		return app + "/set-password?token=" + url.QueryEscape(token), exp, err
	})
}

type tokenWorker struct {
	river.WorkerDefaults[TokenArgs]
	m *Mailer
}

func (w *tokenWorker) Work(ctx context.Context, j *river.Job[TokenArgs]) error {
	return w.m.linkMail(ctx, j.Args.UserID, templates.Token, func(u *db.User, app string) (string, time.Time, error) {
		token, exp, err := w.m.TempToken(ctx, u, time.Duration(j.Args.Hours)*time.Hour)
		return app + "/?token=" + url.QueryEscape(token), exp, err
	})
}

type resetWorker struct {
	river.WorkerDefaults[ResetArgs]
	m *Mailer
}

func (w *resetWorker) Work(ctx context.Context, j *river.Job[ResetArgs]) error {
	return w.m.linkMail(ctx, j.Args.UserID, templates.PasswordReset, func(u *db.User, app string) (string, time.Time, error) {
		token, exp, err := w.m.Store.CreatePasswordToken(ctx, u.ID, db.PurposeReset, time.Duration(j.Args.Hours)*time.Hour)
		return app + "/reset-password?token=" + url.QueryEscape(token), exp, err
	})
}

// Settings are what the mails of a domain need from its options: the
// application's base URL (https://APP_URL) and the sender.
type Settings struct {
	AppURL, Sender string
}

// ErrNoAppURL: the domain's APP_URL option is not set, so no link can be
// written.
var ErrNoAppURL = fault.Unprocessablef("", "The APP_URL option is not set for this domain (nor above it): the mail's links would lead nowhere. Set it first.")

// DomainSettings reads the settings of the domain's mails; ErrNoAppURL
// when it has no APP_URL.
func DomainSettings(ctx context.Context, store *db.Store, domainID int64) (Settings, error) {
	opts, err := store.Effective(ctx, db.OptionOwner{Scope: db.ScopeDomain, ID: domainID}, "APP_URL", "NOTIFICATION_SENDER")
	if err != nil {
		return Settings{}, err
	}
	if opts["APP_URL"] == "" {
		return Settings{}, ErrNoAppURL
	}
	return Settings{AppURL: "https://" + opts["APP_URL"], Sender: opts["NOTIFICATION_SENDER"]}, nil
}

// linkMail sends the user's mail of kind k whose link link makes.
func (m *Mailer) linkMail(ctx context.Context, userID int64, k templates.Kind, link func(u *db.User, app string) (string, time.Time, error)) error {
	u, set, err := m.recipient(ctx, userID)
	if err != nil {
		return err
	}
	lang, err := m.language(ctx, u)
	if err != nil {
		return err
	}
	href, exp, err := link(u, set.AppURL)
	if err != nil {
		return err
	}
	mail, err := templates.Render(k, lang, templates.Data{Service: m.Service, Recipient: u.Email, Name: displayName(u), Link: href, Expires: exp})
	if err != nil {
		return river.JobCancel(err) // another attempt would render the same
	}
	return m.deliver(ctx, u, set.Sender, mail)
}

// recipient is the enabled user a mail is for, and its domain's settings;
// a user gone or disabled, or a domain without APP_URL, cancels the job
// (another attempt would not do better).
func (m *Mailer) recipient(ctx context.Context, userID int64) (*db.User, Settings, error) {
	u, err := m.Store.FindUser(ctx, userID, "")
	if errors.Is(err, db.ErrNotFound) {
		return nil, Settings{}, river.JobCancel(fmt.Errorf("user %d no longer exists", userID))
	}
	if err != nil {
		return nil, Settings{}, err
	}
	if u.Status != db.UserEnabled {
		return nil, Settings{}, river.JobCancel(fmt.Errorf("user %s is %s", u.Email, u.Status))
	}
	set, err := DomainSettings(ctx, m.Store, u.DomainID)
	if err != nil {
		return nil, Settings{}, cancelUnless(err)
	}
	return u, set, nil
}

// language is the user's, else its domain's default.
func (m *Mailer) language(ctx context.Context, u *db.User) (string, error) {
	if u.Language != "" {
		return u.Language, nil
	}
	d, err := m.Store.DomainRow(ctx, u.DomainID)
	if err != nil {
		return "", err
	}
	return d.DefaultLanguage, nil
}

func displayName(u *db.User) string {
	var parts []string
	for _, p := range []*string{u.Firstname, u.Lastname} {
		if p != nil && strings.TrimSpace(*p) != "" {
			parts = append(parts, strings.TrimSpace(*p))
		}
	}
	return strings.Join(parts, " ")
}

// deliver builds the mail to u, signs and submits it.
func (m *Mailer) deliver(ctx context.Context, u *db.User, from string, mail templates.Mail) error {
	raw, err := message.Build(message.Draft{From: []string{from}, To: []string{u.Email}, Subject: mail.Subject, HTML: mail.HTML, Text: mail.Text})
	if err != nil {
		return river.JobCancel(err)
	}
	// The mails are automatic: out-of-office and other automatic responders
	// must not answer them (RFC 3834).
	raw = append([]byte("Auto-Submitted: auto-generated\r\n"), raw...)
	if raw, err = m.Sign(ctx, u, raw); err != nil {
		return err
	}
	return cancelUnless(m.Send(ctx, from, []string{u.Email}, raw))
}

// cancelUnless retries what may pass later (a relay down, an outage) and
// cancels what will not (a 5xx refusal, a setting missing).
func cancelUnless(err error) error {
	switch fault.KindOf(err) {
	case fault.Unprocessable, fault.Invalid, fault.NotFound:
		return river.JobCancel(err)
	}
	return err
}
