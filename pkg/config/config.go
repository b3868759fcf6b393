// Package config implements Cleanmail's configuration: environment
// variables (the names operators and scripts depend on), with flags that
// may override them.
package config

import (
	"flag"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/dustin/go-humanize"

	"github.com/cleanmail/cleanmail/pkg/dkim"
	"github.com/cleanmail/cleanmail/pkg/fault"
	"github.com/cleanmail/cleanmail/pkg/names"
	"github.com/cleanmail/cleanmail/pkg/submit"
)

// Config is the server's whole configuration.
type Config struct {
	// Listen is the HTTP address (CLEANMAIL_LISTEN, default 127.0.0.1:8080).
	Listen string
	// DatabaseURL is postgres://… or sqlite:PATH (CLEANMAIL_DATABASE_URL,
	// default sqlite:cleanmail.db).
	DatabaseURL string
	// IDSalt salts the public ids (CLEANMAIL_ID_SALT).
	IDSalt string
	// IDAlphabet is the alphabet of public ids (CLEANMAIL_ID_ALPHABET,
	// default Hashids' a–z A–Z 0–9).
	IDAlphabet string
	// BootstrapToken is the first admin's token on an empty database
	// (CLEANMAIL_BOOTSTRAP_TOKEN; if empty one is generated and logged once).
	BootstrapToken string
	// PurgeDelay is how long a deleted domain can be restored
	// (CLEANMAIL_PURGE_DELAY, Go duration or a number of days like "30d";
	// default 30 days).
	PurgeDelay time.Duration
	// PurgeInterval is how often deleted domains past their delay are
	// purged (CLEANMAIL_PURGE_INTERVAL, default 1h; more than zero).
	PurgeInterval time.Duration
	// JWTKey signs the temporary tokens of end users (CLEANMAIL_JWT_KEY,
	// at least 32 characters). If empty, a random key is used: temporary
	// tokens then do not survive a restart, nor work across replicas.
	JWTKey string
	// JSONLogs switches logs to JSON lines (CLEANMAIL_LOG_JSON=true).
	JSONLogs bool
	// ShutdownTimeout bounds the graceful shutdown (CLEANMAIL_SHUTDOWN_TIMEOUT,
	// default 30s; more than zero).
	ShutdownTimeout time.Duration

	// MaxBody is the largest JSON request body in bytes (CLEANMAIL_MAX_BODY,
	// default 1 MiB; "512KiB", "2MiB" and plain numbers are accepted).
	MaxBody int64
	// MaxUpload is the largest upload (multipart) body (CLEANMAIL_MAX_UPLOAD,
	// default 25 MiB).
	MaxUpload int64
	// ReadTimeout bounds the reading of a whole request, headers and body
	// (CLEANMAIL_READ_TIMEOUT, default 60s).
	ReadTimeout time.Duration
	// RequestTimeout bounds the handling of a request once read
	// (CLEANMAIL_REQUEST_TIMEOUT, default 60s).
	RequestTimeout time.Duration
	// IdleTimeout closes keep-alive connections idle that long
	// (CLEANMAIL_IDLE_TIMEOUT, default 120s).
	IdleTimeout time.Duration
	// AuthFailuresPerMinute is how many failed authentications a client
	// address or a token prefix may have in a minute before it gets 429s
	// (CLEANMAIL_AUTH_FAILURES_PER_MINUTE, default 10; 0 turns it off).
	AuthFailuresPerMinute int
	// TrustedProxies are the proxies whose X-Forwarded-For is believed
	// (CLEANMAIL_TRUSTED_PROXIES: comma-separated addresses or CIDR
	// prefixes; default none).
	TrustedProxies []netip.Prefix
	// PublicURL is the service's external base URL, which prefixes the
	// Location of created resources (CLEANMAIL_PUBLIC_URL; default none:
	// Locations are paths).
	PublicURL string

	// IMAPURL is the mail store of the users' mailboxes: imap://host:port,
	// imaps://host:port, or imap://host:port?starttls=true
	// (CLEANMAIL_IMAP_URL). Empty: serve runs an embedded, in-memory one.
	IMAPURL string
	// IMAPMasterUser and IMAPMasterPassword log in as each user
	// (CLEANMAIL_IMAP_MASTER_USER, CLEANMAIL_IMAP_MASTER_PASSWORD; required
	// with CLEANMAIL_IMAP_URL; for the embedded store, defaults to
	// "cleanmail" and a random password printed at start).
	IMAPMasterUser, IMAPMasterPassword string
	// IMAPMasterSeparator joins the user and the master user in the login
	// (CLEANMAIL_IMAP_MASTER_SEPARATOR, default "*", Dovecot's).
	IMAPMasterSeparator string
	// IMAPTimeout bounds each exchange with the mail store
	// (CLEANMAIL_IMAP_TIMEOUT, default 10s).
	IMAPTimeout time.Duration
	// DNSResolver is the resolver of the domains' diagnostics, host:port
	// (CLEANMAIL_DNS_RESOLVER; default: the system's, /etc/resolv.conf).
	DNSResolver string
	// DNSTimeout bounds each DNS query (CLEANMAIL_DNS_TIMEOUT, default 5s).
	DNSTimeout time.Duration
	// HealthInterval is how old a domain's or platform's diagnostic may get
	// before the periodic re-check runs it again (CLEANMAIL_HEALTH_INTERVAL,
	// default 6h; 0 turns the re-check off).
	HealthInterval time.Duration
	// EmbeddedIMAPListen is where the embedded mail store listens
	// (CLEANMAIL_EMBEDDED_IMAP_LISTEN, default 127.0.0.1:1143).
	EmbeddedIMAPListen string

	// SMTPURL is the outgoing relay of the mail the API sends:
	// smtp://[user:pass@]host[:port][?starttls=required|may] or
	// smtps://[user:pass@]host[:port] (CLEANMAIL_SMTP_URL). Empty: serve
	// runs an embedded, in-memory SMTP server.
	SMTPURL string
	// SMTPRelay is SMTPURL parsed (nil when it is empty).
	SMTPRelay *submit.Relay
	// SMTPTimeout bounds the whole exchange with the relay
	// (CLEANMAIL_SMTP_TIMEOUT, default 30s).
	SMTPTimeout time.Duration
	// EmbeddedSMTPListen is where the embedded SMTP server listens
	// (CLEANMAIL_EMBEDDED_SMTP_LISTEN, default 127.0.0.1:1025).
	EmbeddedSMTPListen string

	// DBMaxOpen, DBMaxIdle, DBMaxIdleTime and DBMaxLifetime size the
	// PostgreSQL pool of each process (CLEANMAIL_DB_MAX_OPEN, default no
	// bound; CLEANMAIL_DB_MAX_IDLE, 20; CLEANMAIL_DB_MAX_IDLE_TIME, 5m;
	// CLEANMAIL_DB_MAX_LIFETIME, 0: never).
	DBMaxOpen, DBMaxIdle         int
	DBMaxIdleTime, DBMaxLifetime time.Duration

	// RunJobs makes serve run the job queue's workers and periodic jobs
	// too (CLEANMAIL_RUN_JOBS, default true); false leaves them to
	// `cleanmail worker` processes (serve then only enqueues).
	RunJobs bool
	// JobConcurrency bounds the jobs one process runs at once
	// (CLEANMAIL_JOB_CONCURRENCY, default 10).
	JobConcurrency int
	// JobRetryBase is the wait before a failed job's first retry, doubled
	// at each attempt up to an hour (CLEANMAIL_JOB_RETRY_BASE, default
	// 30s); JobMaxAttempts bounds its attempts (CLEANMAIL_JOB_MAX_ATTEMPTS,
	// default 8).
	JobRetryBase   time.Duration
	JobMaxAttempts int

	// AllowPrivateTargets lets the relay checks reach loopback,
	// link-local and private addresses (CLEANMAIL_ALLOW_PRIVATE_TARGETS,
	// default false: refused, so that the checks scan nothing inside).
	AllowPrivateTargets bool
	// HeloName is the name the server gives in EHLO, to its relay and in
	// the relay checks (CLEANMAIL_HELO_NAME; default: the machine's host
	// name when it is a domain name with a dot, else "localhost").
	HeloName string
	// ProbeSender is the envelope sender of the relay checks' probes
	// (CLEANMAIL_PROBE_SENDER; default empty: the null sender <>).
	ProbeSender string
	// CheckTimeout bounds each connection of the relay checks
	// (CLEANMAIL_CHECK_TIMEOUT, default 10s).
	CheckTimeout time.Duration
	// SecretKey encrypts the domains' DKIM private keys at rest
	// (CLEANMAIL_SECRET_KEY, 64 hexadecimal characters: 32 bytes). Nil
	// when unset: serve then generates one beside an SQLite database, and
	// on PostgreSQL DKIM keys cannot be stored.
	SecretKey []byte
	// DKIMKeyBits is the size of the RSA keys the server generates
	// (CLEANMAIL_DKIM_KEY_BITS, default 2048, from 1024 to 4096).
	DKIMKeyBits int
}

// Defaults returns the configuration with nothing set.
func Defaults() Config {
	return Config{
		Listen:          "127.0.0.1:8080",
		DatabaseURL:     "sqlite:cleanmail.db",
		PurgeDelay:      30 * 24 * time.Hour,
		PurgeInterval:   time.Hour,
		ShutdownTimeout: 30 * time.Second,

		MaxBody:               1 << 20,
		MaxUpload:             25 << 20,
		ReadTimeout:           60 * time.Second,
		RequestTimeout:        60 * time.Second,
		IdleTimeout:           120 * time.Second,
		AuthFailuresPerMinute: 10,

		IMAPMasterSeparator: "*",
		IMAPTimeout:         10 * time.Second,
		DNSTimeout:          5 * time.Second,
		HealthInterval:      6 * time.Hour,
		RunJobs:             true,
		JobConcurrency:      10,
		JobRetryBase:        30 * time.Second,
		JobMaxAttempts:      8,
		EmbeddedIMAPListen:  "127.0.0.1:1143",

		SMTPTimeout:        30 * time.Second,
		EmbeddedSMTPListen: "127.0.0.1:1025",

		CheckTimeout: 10 * time.Second,
		DKIMKeyBits:  dkim.DefaultRSABits,
	}
}

// FromEnv reads the environment over the defaults.
func FromEnv(getenv func(string) string) (Config, error) {
	c := Defaults()
	str := func(name string, dst *string) {
		if v := getenv(name); v != "" {
			*dst = v
		}
	}
	str("CLEANMAIL_LISTEN", &c.Listen)
	str("CLEANMAIL_DATABASE_URL", &c.DatabaseURL)
	str("CLEANMAIL_ID_SALT", &c.IDSalt)
	str("CLEANMAIL_ID_ALPHABET", &c.IDAlphabet)
	str("CLEANMAIL_BOOTSTRAP_TOKEN", &c.BootstrapToken)
	str("CLEANMAIL_JWT_KEY", &c.JWTKey)
	str("CLEANMAIL_PUBLIC_URL", &c.PublicURL)
	str("CLEANMAIL_IMAP_URL", &c.IMAPURL)
	str("CLEANMAIL_DNS_RESOLVER", &c.DNSResolver)
	str("CLEANMAIL_IMAP_MASTER_USER", &c.IMAPMasterUser)
	str("CLEANMAIL_IMAP_MASTER_PASSWORD", &c.IMAPMasterPassword)
	str("CLEANMAIL_IMAP_MASTER_SEPARATOR", &c.IMAPMasterSeparator)
	str("CLEANMAIL_EMBEDDED_IMAP_LISTEN", &c.EmbeddedIMAPListen)
	str("CLEANMAIL_SMTP_URL", &c.SMTPURL)
	str("CLEANMAIL_EMBEDDED_SMTP_LISTEN", &c.EmbeddedSMTPListen)
	str("CLEANMAIL_PROBE_SENDER", &c.ProbeSender)
	str("CLEANMAIL_HELO_NAME", &c.HeloName)
	for _, d := range []struct {
		name     string
		dst      *time.Duration
		positive bool
	}{
		// A delay of zero is a choice (deleted domains go at the next
		// purge); an interval or a timeout of zero is not: the purge
		// ticker panics, and a shutdown would cut every request.
		{"CLEANMAIL_PURGE_DELAY", &c.PurgeDelay, false},
		{"CLEANMAIL_PURGE_INTERVAL", &c.PurgeInterval, true},
		{"CLEANMAIL_SHUTDOWN_TIMEOUT", &c.ShutdownTimeout, true},
		{"CLEANMAIL_READ_TIMEOUT", &c.ReadTimeout, true},
		{"CLEANMAIL_REQUEST_TIMEOUT", &c.RequestTimeout, true},
		{"CLEANMAIL_IDLE_TIMEOUT", &c.IdleTimeout, true},
		{"CLEANMAIL_IMAP_TIMEOUT", &c.IMAPTimeout, true},
		{"CLEANMAIL_DNS_TIMEOUT", &c.DNSTimeout, true},
		{"CLEANMAIL_HEALTH_INTERVAL", &c.HealthInterval, false},
		{"CLEANMAIL_SMTP_TIMEOUT", &c.SMTPTimeout, true},
		{"CLEANMAIL_CHECK_TIMEOUT", &c.CheckTimeout, true},
		{"CLEANMAIL_JOB_RETRY_BASE", &c.JobRetryBase, true},
		{"CLEANMAIL_DB_MAX_IDLE_TIME", &c.DBMaxIdleTime, false},
		{"CLEANMAIL_DB_MAX_LIFETIME", &c.DBMaxLifetime, false},
	} {
		v := getenv(d.name)
		if v == "" {
			continue
		}
		parsed, err := ParseDuration(v)
		if err != nil {
			return c, fmt.Errorf("%s: %w", d.name, err)
		}
		if d.positive && parsed <= 0 {
			return c, fmt.Errorf("%s must be longer than zero (got %q)", d.name, v)
		}
		*d.dst = parsed
	}
	for name, dst := range map[string]*int64{
		"CLEANMAIL_MAX_BODY":   &c.MaxBody,
		"CLEANMAIL_MAX_UPLOAD": &c.MaxUpload,
	} {
		if v := getenv(name); v != "" {
			n, err := humanize.ParseBytes(v)
			if err != nil || n == 0 || n > 1<<40 {
				return c, fmt.Errorf("%s: %q is not a size in bytes (like 1048576, 512KiB or 2MiB)", name, v)
			}
			*dst = int64(n)
		}
	}
	if v := getenv("CLEANMAIL_AUTH_FAILURES_PER_MINUTE"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return c, fmt.Errorf("CLEANMAIL_AUTH_FAILURES_PER_MINUTE: %q is not a whole number (0 turns throttling off)", v)
		}
		c.AuthFailuresPerMinute = n
	}
	for name, dst := range map[string]*int{
		"CLEANMAIL_JOB_CONCURRENCY":  &c.JobConcurrency,
		"CLEANMAIL_JOB_MAX_ATTEMPTS": &c.JobMaxAttempts,
	} {
		if v := getenv(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 1000 {
				return c, fmt.Errorf("%s: %q is not a whole number from 1 to 1000", name, v)
			}
			*dst = n
		}
	}
	for name, dst := range map[string]*int{
		"CLEANMAIL_DB_MAX_OPEN": &c.DBMaxOpen,
		"CLEANMAIL_DB_MAX_IDLE": &c.DBMaxIdle,
	} {
		if v := getenv(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 10000 {
				return c, fmt.Errorf("%s: %q is not a whole number from 1 to 10000", name, v)
			}
			*dst = n
		}
	}
	if v := getenv("CLEANMAIL_RUN_JOBS"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return c, fmt.Errorf("CLEANMAIL_RUN_JOBS: %q is not a boolean", v)
		}
		c.RunJobs = b
	}
	if v := getenv("CLEANMAIL_TRUSTED_PROXIES"); v != "" {
		for _, item := range strings.Split(v, ",") {
			p, err := parsePrefix(strings.TrimSpace(item))
			if err != nil {
				return c, fmt.Errorf("CLEANMAIL_TRUSTED_PROXIES: %q is not an address or a CIDR prefix", item)
			}
			c.TrustedProxies = append(c.TrustedProxies, p)
		}
	}
	if c.PublicURL != "" {
		u, err := url.Parse(c.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return c, fmt.Errorf("CLEANMAIL_PUBLIC_URL: %q is not an http(s) base URL like https://api.example.com", c.PublicURL)
		}
	}
	if v := getenv("CLEANMAIL_ALLOW_PRIVATE_TARGETS"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return c, fmt.Errorf("CLEANMAIL_ALLOW_PRIVATE_TARGETS: %q is not a boolean", v)
		}
		c.AllowPrivateTargets = b
	}
	if c.HeloName != "" {
		h, err := names.Host(c.HeloName)
		if err != nil || strings.ContainsAny(c.HeloName, " \r\n") {
			return c, fmt.Errorf("CLEANMAIL_HELO_NAME: %q is not a host name", c.HeloName)
		}
		c.HeloName = h
	} else if h, err := os.Hostname(); err == nil && strings.Contains(h, ".") {
		if h, err := names.Host(h); err == nil {
			c.HeloName = h
		}
	}
	if c.ProbeSender != "" {
		if _, err := names.Mailbox(c.ProbeSender); err != nil || strings.ContainsAny(c.ProbeSender, "<> \r\n") {
			return c, fmt.Errorf("CLEANMAIL_PROBE_SENDER: %q is not an e-mail address", c.ProbeSender)
		}
	}
	if v := getenv("CLEANMAIL_LOG_JSON"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return c, fmt.Errorf("CLEANMAIL_LOG_JSON: %q is not a boolean", v)
		}
		c.JSONLogs = b
	}
	if c.IMAPURL != "" {
		u, err := url.Parse(c.IMAPURL)
		if err != nil || (u.Scheme != "imap" && u.Scheme != "imaps") || u.Host == "" {
			return c, fmt.Errorf("CLEANMAIL_IMAP_URL: %q is not imap://host:port or imaps://host:port", c.IMAPURL)
		}
		if c.IMAPMasterUser == "" || c.IMAPMasterPassword == "" {
			return c, fmt.Errorf("CLEANMAIL_IMAP_URL needs CLEANMAIL_IMAP_MASTER_USER and CLEANMAIL_IMAP_MASTER_PASSWORD")
		}
	}
	if c.SMTPURL != "" {
		r, err := submit.ParseURL(c.SMTPURL)
		if err != nil {
			return c, fmt.Errorf("CLEANMAIL_SMTP_URL: %s", redact(c.SMTPURL, err))
		}
		c.SMTPRelay = &r
	}
	if c.DNSResolver != "" {
		if _, _, err := net.SplitHostPort(c.DNSResolver); err != nil {
			return c, fmt.Errorf("CLEANMAIL_DNS_RESOLVER: %q is not host:port (like 127.0.0.1:53)", c.DNSResolver)
		}
	}
	if v := getenv("CLEANMAIL_SECRET_KEY"); v != "" {
		key, err := dkim.ParseSecretKey(strings.TrimSpace(v))
		if err != nil {
			return c, fmt.Errorf("CLEANMAIL_SECRET_KEY must be 64 hexadecimal characters (32 random bytes, like `openssl rand -hex 32` makes)")
		}
		c.SecretKey = key
	}
	if v := getenv("CLEANMAIL_DKIM_KEY_BITS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < dkim.MinRSABits || n > dkim.MaxGeneratedRSABits {
			return c, fmt.Errorf("CLEANMAIL_DKIM_KEY_BITS: %q is not a number of bits from %d to %d", v, dkim.MinRSABits, dkim.MaxGeneratedRSABits)
		}
		c.DKIMKeyBits = n
	}
	if c.JWTKey != "" && len(c.JWTKey) < 32 {
		return c, fmt.Errorf("CLEANMAIL_JWT_KEY must be at least 32 characters long")
	}
	if c.BootstrapToken != "" && !isToken(c.BootstrapToken) {
		return c, fmt.Errorf("CLEANMAIL_BOOTSTRAP_TOKEN must be 32 hexadecimal characters, like every personal token")
	}
	return c, nil
}

// Load reads the environment, then flags that mirror it.
func Load(args []string) (Config, error) {
	c, err := FromEnv(os.Getenv)
	if err != nil {
		return c, err
	}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.StringVar(&c.Listen, "listen", c.Listen, "HTTP listen address (CLEANMAIL_LISTEN)")
	fs.StringVar(&c.DatabaseURL, "database-url", c.DatabaseURL, "postgres://… or sqlite:PATH (CLEANMAIL_DATABASE_URL)")
	fs.BoolVar(&c.JSONLogs, "log-json", c.JSONLogs, "log JSON lines (CLEANMAIL_LOG_JSON)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	return c, nil
}

// ParseDuration accepts Go durations ("720h", "90s") and whole days ("30d").
func ParseDuration(s string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(d)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("%q is not a number of days", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q is not a duration (like 720h or 30d)", s)
	}
	return d, nil
}

// parsePrefix reads an address (a one-address prefix) or a CIDR prefix.
func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func isToken(s string) bool {
	if len(s) != 32 {
		return false
	}
	for _, r := range s {
		if !strings.ContainsRune("0123456789abcdef", r) {
			return false
		}
	}
	return true
}

// redact is the message of err about the URL s without its password,
// which must not reach the log.
func redact(s string, err error) string {
	msg := err.Error()
	if e, ok := fault.As(err); ok {
		msg = e.Message()
	}
	if u, perr := url.Parse(s); perr == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok && pw != "" {
			msg = strings.ReplaceAll(msg, s, u.Redacted())
			msg = strings.ReplaceAll(msg, pw, "xxxxx")
		}
	}
	return msg
}
