// Package remediate implements the removal of a delivered message from a
// user's mailbox on the customer's own mail platform, through the
// platform's remediation API (apiType, apiData): IMAP as a master user,
// on-premises Exchange over EWS with impersonation, or Exchange Online
// over Microsoft Graph with an application's client credentials. The
// message is found by its Message-ID, with or without its angle brackets,
// in every folder of the mailbox; DELETE removes every copy, QUARANTINE
// first reads each copy's source, which the caller keeps, then removes
// it (a copy whose source cannot be read stays where it is).
//
// Every target goes through pkg/relaycheck's guard (no loopback,
// link-local or private address unless Options.AllowPrivate, the
// connection made to the vetted address), every call is bounded by
// Options.Timeout, certificates are always verified, and no error carries
// a password or a secret.
//
// # IMAP
//
// The login reaches the mailbox Dovecot's way, through a master user
// (auth_master_user_separator "*"):
//   - a login without "*" is the master user's name: the session logs in
//     as "<mailbox>*<login>";
//   - a login with "*" ("admin@example.com*master", "*master") names the
//     master user after its first "*"; what stands before is replaced by
//     the mailbox: "<mailbox>*master";
//   - a login that is the mailbox itself logs in as it, with its own
//     password.
//
// The password goes over implicit TLS (useSsl), or in clear to a loopback
// address only. Every folder of the personal namespace (LIST "" "*") is
// searched but those that cannot be selected (\Noselect, \NonExistent):
// each is SELECTed, searched with UID SEARCH HEADER Message-ID, and the
// matches (whose header is checked to be the id itself, not one
// containing it) are flagged \Deleted and expunged: UID EXPUNGE where the
// server has UIDPLUS, else EXPUNGE, which also expunges what the user had
// flagged \Deleted in that folder, as any IMAP client's would. A folder
// that fails is reported and the others still done.
//
// # Exchange (EWS)
//
// EWS (on-premises Exchange, 2010 SP1 and later) is spoken as SOAP over
// HTTPS at https://<host>/EWS/Exchange.asmx with Basic authentication,
// every request impersonating the mailbox (the ExchangeImpersonation
// header, ConnectingSID/SmtpAddress; the login needs the
// ApplicationImpersonation role). FindItem cannot traverse a folder's
// subfolders (only search folders do that), so the folders are listed
// first: FindFolder, deep, under msgfolderroot (the top of the
// information store: Inbox and every mail folder under it, Deleted
// Items, Junk E-mail, Sent Items; not the calendars, contacts, tasks or
// search folders). Each is searched with FindItem, shallow, restricted to
// message:InternetMessageId equal to the id; each copy is read whole for
// QUARANTINE (GetItem, IncludeMimeContent) and then deleted (DeleteItem,
// HardDelete: not to Deleted Items).
//
// # Microsoft Graph (O365)
//
// Exchange Online is reached through Microsoft Graph v1.0 as the Entra ID
// application itself (client credentials: the token of
// <LoginURL>/<tenant>/oauth2/v2.0/token for the scope
// <GraphURL>/.default, kept until it expires), which needs the
// Mail.ReadWrite application permission. /users/<mailbox>/messages lists
// the messages of every folder (Deleted Items included), filtered on
// internetMessageId; for QUARANTINE each copy's source is read
// (.../messages/<id>/$value); each is then deleted for good
// (.../messages/<id>/permanentDelete: a plain DELETE would only move it
// to Deleted Items, where the user could take it back).
package remediate

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/cleanmail/cleanmail/pkg/relaycheck"
)

// Action is what is done to the copies found.
type Action string

const (
	// Delete removes every copy.
	Delete Action = "DELETE"
	// Quarantine reads every copy's source (Found.Raw), then removes it;
	// a copy whose source cannot be read is left where it is.
	Quarantine Action = "QUARANTINE"
)

// The types of remediation API (a platform's apiType).
const (
	TypeIMAP     = "IMAP"
	TypeExchange = "EXCHANGE"
	TypeO365     = "O365"
)

// Target is a platform's remediation API: its apiType and the apiData
// that type uses.
type Target struct {
	// Type is TypeIMAP, TypeExchange or TypeO365.
	Type string
	// Host and Port: the IMAP server (993 with TLS, else 143, when 0), or
	// the Exchange server whose EWS is https://Host[:Port]/EWS/Exchange.asmx
	// (443 when 0).
	Host string
	Port int
	// TLS: implicit TLS to the IMAP server (useSsl). Without it the
	// password is sent only to a loopback address.
	TLS bool
	// Login and Password: the IMAP master user (the package's doc says
	// how the mailbox is chosen), or the Exchange account
	// allowed to impersonate the users (Basic authentication).
	Login, Password string
	// ClientID, TenantID and ClientSecret: the Entra ID application
	// (O365), granted the Mail.ReadWrite application permission.
	ClientID, TenantID, ClientSecret string
}

// Found is one copy of the message in the mailbox.
type Found struct {
	// Folder is where it is: the IMAP folder's name, the EWS folder's
	// display name, or the Graph id of its parent folder.
	Folder string
	// ID names it on the platform: the IMAP UID within Folder, the EWS
	// ItemId, the Graph message id.
	ID      string
	Subject string
	// Raw is its source, read for QUARANTINE.
	Raw []byte
	// Removed says it was deleted.
	Removed bool
}

// Result is what a remediation found and removed in one mailbox. With an
// error it still says what was done before the error.
type Result struct {
	Mailbox string
	Found   []Found
	keep    func(Found) error // RemediateKeeping's
}

// kept hands a copy's source to keep, if any.
func (r *Result) kept(f Found) error {
	if r.keep == nil || f.Raw == nil {
		return nil
	}
	return r.keep(f)
}

// Removed counts the copies removed.
func (r Result) Removed() int {
	n := 0
	for _, f := range r.Found {
		if f.Removed {
			n++
		}
	}
	return n
}

// GraphURL is Microsoft Graph (Options.GraphURL overrides it, for tests
// and the national clouds).
const GraphURL = "https://graph.microsoft.com"

// MaxRaw bounds the source of one message read for QUARANTINE.
const MaxRaw = 64 << 20

// Options configure a Remediator.
type Options struct {
	// AllowPrivate lets it reach loopback, link-local and private
	// addresses (CLEANMAIL_ALLOW_PRIVATE_TARGETS); refused when false.
	AllowPrivate bool
	// Timeout bounds one Remediate call, all of it: lookups, connections,
	// logins, every command and request. 60 seconds when 0.
	Timeout time.Duration
	// RootCAs verify the servers' certificates; the system roots when nil.
	// (Tests trust their own certificate through it; there is no way to
	// skip verification.)
	RootCAs *x509.CertPool
	// Resolver resolves host names; net.DefaultResolver when nil.
	Resolver *net.Resolver
	// Only, when set, narrows the guard further: an address it refuses is
	// refused too (tests keep every call on loopback with it).
	Only func(netip.Addr) bool
	// GraphURL is Microsoft Graph's base (GraphURL when empty); the token
	// is asked for its scope, GraphURL + "/.default".
	GraphURL string
	// LoginURL is the Entra ID authority whose <tenant>/oauth2/v2.0/token
	// issues the tokens; relaycheck.EntraAuthority when empty.
	LoginURL string
}

// Remediator removes messages. It is safe for concurrent use.
type Remediator struct {
	opts  Options
	guard relaycheck.Guard
	// http reaches EWS and Graph: every connection through the guard,
	// the certificate verified, no redirect followed.
	http *http.Client

	mu     sync.Mutex
	tokens map[string]*oauth2.Token // Graph tokens by tenant, client and secret
}

// New returns a Remediator with opts.
func New(opts Options) *Remediator {
	if opts.Timeout <= 0 {
		opts.Timeout = time.Minute
	}
	opts.GraphURL = strings.TrimSuffix(opts.GraphURL, "/")
	if opts.GraphURL == "" {
		opts.GraphURL = GraphURL
	}
	opts.LoginURL = strings.TrimSuffix(opts.LoginURL, "/")
	if opts.LoginURL == "" {
		opts.LoginURL = relaycheck.EntraAuthority
	}
	g := relaycheck.Guard{AllowPrivate: opts.AllowPrivate, Only: opts.Only, Timeout: opts.Timeout, Resolver: opts.Resolver}
	return &Remediator{
		opts:  opts,
		guard: g,
		http: &http.Client{
			Timeout: opts.Timeout,
			Transport: &http.Transport{
				DialContext:         g.DialContext,
				TLSClientConfig:     &tls.Config{RootCAs: opts.RootCAs, MinVersion: tls.VersionTLS12},
				TLSHandshakeTimeout: opts.Timeout,
				ForceAttemptHTTP2:   true,
				MaxIdleConnsPerHost: 4,
				IdleConnTimeout:     time.Minute,
			},
			// A redirect could carry the credentials somewhere unasked.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		tokens: map[string]*oauth2.Token{},
	}
}

// Remediate finds the message messageID (with or without its angle
// brackets) in every folder of mailbox on the platform t and does action
// to every copy. No copy is not an error: the Result has no Found.
func (r *Remediator) Remediate(ctx context.Context, t Target, mailbox, messageID string, action Action) (Result, error) {
	return r.RemediateKeeping(ctx, t, mailbox, messageID, action, nil)
}

// RemediateKeeping is Remediate with keep called on each copy's source
// (QUARANTINE), before that copy is removed: a copy whose keep fails is
// left in place, and its error ends the call. So a message taken into
// quarantine is stored before it is gone from the mailbox, never lost.
func (r *Remediator) RemediateKeeping(ctx context.Context, t Target, mailbox, messageID string, action Action, keep func(Found) error) (Result, error) {
	res := Result{Mailbox: mailbox, keep: keep}
	id, err := bareID(messageID)
	if err != nil {
		return res, err
	}
	if action != Delete && action != Quarantine {
		return res, fmt.Errorf("the action %q is neither %s nor %s", action, Delete, Quarantine)
	}
	if mailbox == "" || strings.ContainsAny(mailbox, "\x00\r\n") {
		return res, fmt.Errorf("the mailbox %q is not an address", mailbox)
	}
	ctx, cancel := context.WithTimeout(ctx, r.opts.Timeout)
	defer cancel()
	switch strings.ToUpper(t.Type) {
	case TypeIMAP:
		err = r.imap(ctx, t, id, action, &res)
	case TypeExchange:
		err = r.ews(ctx, t, id, action, &res)
	case TypeO365:
		err = r.graph(ctx, t, id, action, &res)
	default:
		err = fmt.Errorf("the remediation API type %q is not %s, %s or %s", t.Type, TypeIMAP, TypeExchange, TypeO365)
	}
	if err != nil {
		err = r.explain(ctx, err)
	}
	return res, redact(err, t.Password, t.ClientSecret)
}

// bareID is the Message-ID without its angle brackets and the spaces
// around; a value that cannot be one is an error.
func bareID(id string) (string, error) {
	bare := strings.TrimSpace(id)
	bare = strings.TrimPrefix(bare, "<")
	bare = strings.TrimSuffix(bare, ">")
	bare = strings.TrimSpace(bare)
	if bare == "" || strings.ContainsFunc(bare, func(c rune) bool { return c < ' ' || c == 0x7f || c == '<' || c == '>' }) {
		return "", fmt.Errorf("%q is not a Message-ID", id)
	}
	return bare, nil
}

// sameID tells whether a stored Message-ID header value (brackets, maybe
// folded, maybe several spaces) is the message's bare id.
func sameID(stored, bare string) bool {
	v := strings.Join(strings.Fields(stored), "")
	return strings.TrimSuffix(strings.TrimPrefix(v, "<"), ">") == bare
}

// explain words the errors of the network for an operator: a refused
// target and a timeout say so, with what to do.
func (r *Remediator) explain(ctx context.Context, err error) error {
	var refused *relaycheck.Refused
	var ne net.Error
	switch {
	case errors.As(err, &refused):
		return fmt.Errorf("%w (set CLEANMAIL_ALLOW_PRIVATE_TARGETS to allow internal targets)", err)
	case errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) ||
		errors.As(err, &ne) && ne.Timeout():
		return fmt.Errorf("timed out after %v: %w", r.opts.Timeout, err)
	}
	return err
}

// redact takes the secrets out of err's text, should a server have
// echoed one (the error is then a plain one). A secret shorter than
// minSecret is left: it would blank out every such letter or pair of the
// text, and keeps nothing secret anyway.
func redact(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	text := err.Error()
	for _, s := range secrets {
		if len(s) >= minSecret && strings.Contains(text, s) {
			text = strings.ReplaceAll(text, s, "[redacted]")
		}
	}
	if text == err.Error() {
		return err
	}
	return errors.New(text)
}

const minSecret = 4

// hostPort is host:port, port defaulted to def.
func hostPort(host string, port, def int) string {
	if port == 0 {
		port = def
	}
	return net.JoinHostPort(host, strconv.Itoa(port))
}

// loopback tells a loopback address, to which a password may go in clear.
func loopback(ip netip.Addr) bool { return ip.Unmap().IsLoopback() }
