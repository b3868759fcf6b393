// Command cleanmail runs the Cleanmail API server and its maintenance
// commands.
//
//	cleanmail serve                              run the server (migrates first)
//	cleanmail migrate                            apply pending migrations and exit
//	cleanmail token create --admin LOGIN --name NAME   print a new personal token
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/riverqueue/river"

	"github.com/cleanmail/cleanmail/db"
	"github.com/cleanmail/cleanmail/pkg/api"
	"github.com/cleanmail/cleanmail/pkg/config"
	"github.com/cleanmail/cleanmail/pkg/dnscheck"
	"github.com/cleanmail/cleanmail/pkg/ids"
	"github.com/cleanmail/cleanmail/pkg/jobs"
	"github.com/cleanmail/cleanmail/pkg/loopback"
	"github.com/cleanmail/cleanmail/pkg/mailstore"
	"github.com/cleanmail/cleanmail/pkg/notify"
	"github.com/cleanmail/cleanmail/pkg/relaycheck"
	"github.com/cleanmail/cleanmail/pkg/remediate"
	"github.com/cleanmail/cleanmail/pkg/submit"
)

const usage = `usage:
  cleanmail serve [--listen ADDR] [--database-url URL] [--log-json]
  cleanmail worker [--database-url URL] [--log-json]
  cleanmail migrate
  cleanmail token create --admin LOGIN --name NAME [--expires DURATION]

Configuration comes from the environment (CLEANMAIL_LISTEN,
CLEANMAIL_DATABASE_URL, CLEANMAIL_ID_SALT, CLEANMAIL_BOOTSTRAP_TOKEN,
CLEANMAIL_PURGE_DELAY, CLEANMAIL_LOG_JSON, …); see README.md.
`

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "cleanmail:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("missing command")
	}
	switch args[0] {
	case "serve":
		return serve(args[1:], stderr, true)
	case "worker":
		return serve(args[1:], stderr, false)
	case "migrate":
		return migrate(args[1:], stdout)
	case "token":
		if len(args) < 2 || args[1] != "create" {
			fmt.Fprint(stderr, usage)
			return errors.New("unknown token command")
		}
		return createToken(args[2:], stdout)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	if cfg.JSONLogs {
		return slog.New(slog.NewJSONHandler(w, nil))
	}
	return slog.New(slog.NewTextHandler(w, nil))
}

// serve runs the API (with the job queue's workers unless
// CLEANMAIL_RUN_JOBS=false) or, when withAPI is false (`cleanmail worker`),
// the workers alone: the same configuration, the same mail side, no
// listener.
func serve(args []string, stderr io.Writer, withAPI bool) error {
	cfg, err := config.Load(args)
	if err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	slog.SetDefault(log)
	codec, err := ids.New(ids.Options{Salt: cfg.IDSalt, Alphabet: cfg.IDAlphabet})
	if err != nil {
		return err
	}
	if cfg.IDSalt == "" {
		log.Warn("CLEANMAIL_ID_SALT is not set: public ids are predictable; set a salt in production")
	}
	store, err := db.Open(db.Options{URL: cfg.DatabaseURL, Pool: dbPool(cfg)})
	if err != nil {
		return err
	}
	defer store.Close()
	sealer, err := dkimSealer(cfg, store.Dialect(), log)
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	mail, embeddedIMAP, closeMail, err := mailStore(cfg, log)
	if err != nil {
		return err
	}
	defer closeMail()
	relays, closeSMTP, err := outgoingRelay(cfg, store, embeddedIMAP, log)
	if err != nil {
		return err
	}
	defer closeSMTP()

	resolver, err := dnscheck.NewResolver(cfg.DNSResolver, cfg.DNSTimeout)
	if err != nil {
		// Without a resolver the server still serves; the diagnostics
		// answer that the DNS resolver is unavailable.
		log.Warn("no DNS resolver: domain diagnostics are unavailable; set CLEANMAIL_DNS_RESOLVER", "err", err)
		resolver = nil
	}

	setReady, isReady := api.NewReadyFlag()
	if cfg.JWTKey == "" {
		if !withAPI {
			// The links a worker mails (sign-in tokens, release links) are
			// checked by the API's processes: they must share the key.
			return errors.New("cleanmail worker needs CLEANMAIL_JWT_KEY, the key the API's processes share: the sign-in and release links it mails are signed with it")
		}
		log.Warn("CLEANMAIL_JWT_KEY is not set: temporary tokens and release links are signed with a random key and do not survive a restart (nor verify on another replica or worker)")
	}
	// The job queue: its workers, and the periodic work (the purge, the
	// digests' round, the health re-check), run here unless only the API
	// does.
	var workers *river.Workers
	var periodic []*river.PeriodicJob
	recheck := time.Duration(0)
	if !withAPI || cfg.RunJobs {
		workers = river.NewWorkers()
		river.AddWorker(workers, &purgeWorker{store: store, log: log})
		periodic = append(periodic, purgeJob(cfg.PurgeInterval), notify.DigestRound())
		recheck = cfg.HealthInterval
	}
	queue, err := jobs.Open(ctx, store, jobs.Options{Workers: workers, Periodic: periodic, Logger: log, Concurrency: cfg.JobConcurrency,
		RetryBase: cfg.JobRetryBase, MaxAttempts: cfg.JobMaxAttempts})
	if err != nil {
		return err
	}
	handler, err := api.New(api.Options{Store: store, Jobs: queue, Workers: workers, IDs: codec, Logger: log, PurgeDelay: cfg.PurgeDelay, Ready: isReady,
		JWTKey: []byte(cfg.JWTKey), TrustedProxies: cfg.TrustedProxies, PublicURL: cfg.PublicURL, Mail: mail, DNS: resolver,
		Recheck: api.Recheck{Interval: recheck, Context: ctx},
		Submit:  &submit.Sender{Timeout: cfg.SMTPTimeout, HelloName: cfg.HeloName}, Relays: relays, DKIMSealer: sealer, DKIMKeyBits: cfg.DKIMKeyBits,
		Checks:      relaycheck.Options{AllowPrivate: cfg.AllowPrivateTargets, Sender: cfg.ProbeSender, Timeout: cfg.CheckTimeout, HelloName: cfg.HeloName},
		Remediation: remediate.Options{AllowPrivate: cfg.AllowPrivateTargets},
		Limits: api.Limits{
			MaxBody:               cfg.MaxBody,
			MaxUpload:             cfg.MaxUpload,
			RequestTimeout:        cfg.RequestTimeout,
			AuthFailuresPerMinute: orOff(cfg.AuthFailuresPerMinute),
		}})
	if err != nil {
		return err
	}
	if !withAPI {
		return work(ctx, store, queue, cfg, log, setReady)
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: min(10*time.Second, cfg.ReadTimeout),
		ReadTimeout:       cfg.ReadTimeout,
		// A response may take the whole request deadline to produce, then
		// a little longer to send: past that the connection is cut.
		WriteTimeout: cfg.ReadTimeout + cfg.RequestTimeout + 10*time.Second,
		IdleTimeout:  cfg.IdleTimeout,
		ErrorLog:     slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	log.Info("listening", "addr", ln.Addr().String(), "database", string(store.Dialect()), "docs", "http://"+ln.Addr().String()+"/docs/")

	// The listener is up first so that /livez answers and /readyz says 503
	// while the database is unreachable or being migrated.
	go func() {
		for {
			err := prepare(ctx, store, cfg, log)
			if err == nil {
				if err := queue.Start(ctx); err != nil {
					log.Error("the job queue did not start", "err", err)
				}
				setReady(true)
				log.Info("ready", "jobs", workers != nil)
				return
			}
			log.Error("database not ready; retrying in 5s", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(5 * time.Second):
			}
		}
	}()

	select {
	case err := <-serveErr:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down: finishing in-flight requests and running jobs", "timeout", cfg.ShutdownTimeout.String())
	setReady(false)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	// Both at once, within the one timeout: the queue takes no new job
	// while the requests finish (a job taken then would be cut sooner).
	queueStopped := make(chan error, 1)
	go func() { queueStopped <- queue.Stop(sctx) }()
	herr := srv.Shutdown(sctx)
	if qerr := <-queueStopped; qerr != nil {
		log.Warn("job queue stopped with an error", "err", qerr)
	}
	if herr != nil {
		return fmt.Errorf("shutdown: %w", herr)
	}
	log.Info("stopped")
	return nil
}

// work runs the job queue's workers until a signal: `cleanmail worker`.
func work(ctx context.Context, store *db.Store, queue *jobs.Queue, cfg config.Config, log *slog.Logger, setReady func(bool)) error {
	for {
		err := prepare(ctx, store, cfg, log)
		if err == nil {
			break
		}
		log.Error("database not ready; retrying in 5s", "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(5 * time.Second):
		}
	}
	if err := queue.Start(ctx); err != nil {
		return fmt.Errorf("job queue: %w", err)
	}
	setReady(true) // the health re-check waits for it
	log.Info("worker running", "database", string(store.Dialect()), "concurrency", cfg.JobConcurrency)
	<-ctx.Done()
	log.Info("shutting down: finishing running jobs", "timeout", cfg.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := queue.Stop(sctx); err != nil {
		return fmt.Errorf("job queue: %w", err)
	}
	log.Info("stopped")
	return nil
}

// prepare migrates the database and creates the first admin if needed.
// mailStore connects to the mail store of CLEANMAIL_IMAP_URL or, without
// one, starts the embedded one: an in-memory IMAP server on loopback that
// the API reaches over TCP as it would Dovecot, its master credentials
// printed so that a newcomer can append mail with any IMAP client.
func mailStore(cfg config.Config, log *slog.Logger) (*mailstore.Store, *loopback.IMAPServer, func(), error) {
	opts := mailstore.Options{URL: cfg.IMAPURL, MasterUser: cfg.IMAPMasterUser, MasterPassword: cfg.IMAPMasterPassword,
		Separator: cfg.IMAPMasterSeparator, Timeout: cfg.IMAPTimeout}
	var embedded *loopback.IMAPServer
	if cfg.IMAPURL == "" {
		if opts.MasterUser == "" {
			opts.MasterUser = "cleanmail"
		}
		if opts.MasterPassword == "" {
			b := make([]byte, 12)
			_, _ = rand.Read(b)
			opts.MasterPassword = hex.EncodeToString(b)
		}
		var err error
		embedded, err = loopback.StartIMAP(loopback.IMAPOptions{Addr: cfg.EmbeddedIMAPListen, MasterUser: opts.MasterUser,
			MasterPassword: opts.MasterPassword, Separator: opts.Separator, Folders: []string{"Quarantine", "Sent", "Drafts"}})
		if err != nil {
			return nil, nil, nil, fmt.Errorf("embedded mail store: %w (set CLEANMAIL_EMBEDDED_IMAP_LISTEN, or CLEANMAIL_IMAP_URL for a real one)", err)
		}
		opts.URL = "imap://" + embedded.Addr()
		log.Warn("CLEANMAIL_IMAP_URL is not set: the users' mailboxes are an embedded IMAP store IN MEMORY, lost at exit; set CLEANMAIL_IMAP_URL for Dovecot",
			"imap", embedded.Addr(), "login", "<user e-mail>"+opts.Separator+opts.MasterUser, "password", opts.MasterPassword)
	}
	mail, err := mailstore.New(opts)
	if err != nil {
		if embedded != nil {
			embedded.Close()
		}
		return nil, nil, nil, err
	}
	return mail, embedded, func() {
		mail.Close()
		if embedded != nil {
			embedded.Close()
		}
	}, nil
}

// outgoingRelay is the relay of CLEANMAIL_SMTP_URL or, without one, an
// embedded SMTP server in memory on loopback: what it accepts for a user of
// the service goes to that user's INBOX in the embedded mail store (when
// that is the store in use); any other recipient's copy is accepted and
// recorded in memory only, and logged.
func outgoingRelay(cfg config.Config, store *db.Store, imap *loopback.IMAPServer, log *slog.Logger) ([]submit.Relay, func(), error) {
	if cfg.SMTPRelay != nil {
		return []submit.Relay{*cfg.SMTPRelay}, func() {}, nil
	}
	deliver := func(from string, to []string, data []byte) error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, rcpt := range to {
			u, err := store.FindUser(ctx, 0, rcpt)
			switch {
			case err == nil && imap != nil:
				if err := imap.Deliver(u.Email, "INBOX", data, time.Now()); err != nil {
					return err
				}
				log.Info("embedded SMTP server: delivered to the embedded mail store", "from", from, "to", u.Email)
			case err == nil || errors.Is(err, db.ErrNotFound):
				log.Info("embedded SMTP server: accepted and recorded only, not delivered (not a user of the embedded mail store)", "from", from, "to", rcpt)
			default:
				return err // a temporary 451: the client may retry
			}
		}
		return nil
	}
	srv, err := loopback.StartSMTP(loopback.SMTPOptions{Addr: cfg.EmbeddedSMTPListen, Deliver: deliver,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)})
	if err != nil {
		return nil, nil, fmt.Errorf("embedded SMTP server: %w (set CLEANMAIL_EMBEDDED_SMTP_LISTEN, or CLEANMAIL_SMTP_URL for a real relay)", err)
	}
	relay, err := submit.ParseURL("smtp://" + srv.Addr())
	if err != nil {
		srv.Close()
		return nil, nil, err
	}
	log.Warn("CLEANMAIL_SMTP_URL is not set: mail sent through the API goes to an embedded SMTP server IN MEMORY; the service's users get it in their INBOX of the embedded mail store, other recipients nothing (it is recorded in memory and lost at exit); set CLEANMAIL_SMTP_URL for a real relay",
		"smtp", srv.Addr())
	return []submit.Relay{relay}, func() { srv.Close() }, nil
}

func prepare(ctx context.Context, store *db.Store, cfg config.Config, log *slog.Logger) error {
	if err := store.Ping(ctx); err != nil {
		return err
	}
	applied, err := store.Migrate(ctx)
	if err != nil {
		return err
	}
	queued, err := jobs.Migrate(ctx, store)
	if err != nil {
		return err
	}
	for _, m := range append(applied, queued...) {
		log.Info("migration applied", "migration", m)
	}
	token, created, err := store.Bootstrap(ctx, cfg.BootstrapToken)
	if err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	if created {
		if cfg.BootstrapToken == "" {
			// Printed once, on the first start only; it is stored hashed.
			log.Warn("created sysadmin account 'admin' with a personal token; keep it, it is not shown again", "token", token)
		} else {
			log.Info("created sysadmin account 'admin' with the token of CLEANMAIL_BOOTSTRAP_TOKEN")
		}
	}
	return nil
}

// dbPool is the PostgreSQL pool the configuration asks for.
func dbPool(cfg config.Config) db.Pool {
	return db.Pool{MaxOpen: cfg.DBMaxOpen, MaxIdle: cfg.DBMaxIdle, MaxIdleTime: cfg.DBMaxIdleTime, MaxLifetime: cfg.DBMaxLifetime}
}

// orOff maps the configuration's 0 (throttling off) to the API's -1 (its
// zero value means "the default").
func orOff(n int) int {
	if n == 0 {
		return -1
	}
	return n
}

func openStore() (*db.Store, config.Config, error) {
	cfg, err := config.FromEnv(os.Getenv)
	if err != nil {
		return nil, cfg, err
	}
	store, err := db.Open(db.Options{URL: cfg.DatabaseURL, Pool: dbPool(cfg)})
	return store, cfg, err
}

func migrate(args []string, stdout io.Writer) error {
	store, _, err := openStore()
	if err != nil {
		return err
	}
	defer store.Close()
	applied, err := store.Migrate(context.Background())
	if err != nil {
		return err
	}
	queued, err := jobs.Migrate(context.Background(), store)
	if err != nil {
		return err
	}
	applied = append(applied, queued...)
	for _, m := range applied {
		fmt.Fprintln(stdout, "applied", m)
	}
	fmt.Fprintf(stdout, "%s database is up to date (%d migrations applied now)\n", store.Dialect(), len(applied))
	return nil
}

func createToken(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("token create", flag.ContinueOnError)
	login := fs.String("admin", "", "login of the administrator")
	name := fs.String("name", "", "name of the token")
	expires := fs.String("expires", "", "lifetime (e.g. 720h or 90d); none if empty")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *login == "" || *name == "" {
		return errors.New("token create needs --admin LOGIN and --name NAME")
	}
	store, _, err := openStore()
	if err != nil {
		return err
	}
	defer store.Close()
	ctx := context.Background()
	if _, err := store.Migrate(ctx); err != nil {
		return err
	}
	admin, err := store.GetAdminByLogin(ctx, *login)
	if errors.Is(err, db.ErrNotFound) {
		return fmt.Errorf("no administrator with login %q", *login)
	}
	if err != nil {
		return err
	}
	t := &db.PersonalToken{AdminID: admin.ID, Name: *name}
	if *expires != "" {
		d, err := config.ParseDuration(*expires)
		if err != nil {
			return fmt.Errorf("--expires: %w", err)
		}
		exp := time.Now().Add(d).UnixMilli()
		t.Expiration = &exp
	}
	value := db.NewTokenValue()
	if err := store.CreateToken(ctx, t, value); err != nil {
		return err
	}
	fmt.Fprintln(stdout, value)
	return nil
}
