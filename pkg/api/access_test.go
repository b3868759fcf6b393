package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cleanmail/cleanmail/db"
	"github.com/cleanmail/cleanmail/pkg/api"
)

// The permission matrix: every operation of the spec, run over HTTP by
// every kind of caller, against the outcome its access rule promises.

// callers, in the order the matrix runs them.
var callers = []string{"anonymous", "expired", "endUser", "otherEndUser", "otherAdmin", "withoutPermission", "withPermission", "viaCustomer", "viaBroker", "sysadmin"}

// endUserPermissions are the end-user permissions of a domain by default.
var endUserPermissions = []string{"USER_READ", "FILTER_READ", "FILTER_EDIT", "QUARANTINE_READ", "QUARANTINE_RELEASE"}

// world is a set of objects the matrix acts on: a broker B, its customer
// C, the domain D of C with a user, a policy and a platform, another
// domain with its own user, and the callers' tokens.
type world struct {
	domain, otherDomain, user, otherUser, policy, platform, customer, broker, group, attachment, uri string
	target, self                                                                                     string // admins: one managed by GRANT holders, and withPermission itself
	userEmail                                                                                        string
	tokens                                                                                           map[string]string
}

var worldCount atomic.Int64

func (e *env) newWorld(t *testing.T, kind string) *world {
	t.Helper()
	ctx := context.Background()
	s := e.store
	n := fmt.Sprint(worldCount.Add(1))
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	smtpHost, port, _ := net.SplitHostPort(e.smtp.Addr())
	smtpPort, _ := strconv.Atoi(port)
	b := &db.Broker{Name: "broker" + n}
	must(s.CreateBroker(ctx, b))
	c := &db.Customer{Name: "customer" + n, BrokerID: &b.ID}
	must(s.CreateCustomer(ctx, c))
	newDomain := func(name string, customer *int64) int64 {
		id, err := s.CreateDomain(ctx, &db.NewDomain{
			Domain: db.Domain{Name: name, Status: db.StatusEnabled, WblistPriority: "USER", DefaultLanguage: "EN", SenderVerifyOn: true, CustomerID: customer, OutgoingSubnets: []string{}},
			Policy: db.Policy{Name: "Politique-" + name, Quarantine: true, QuarantineProps: &db.QuarantineProps{Duration: 31}, RelayProps: &db.RelayProps{}, Incoming: true, MailSizeLimit: 21, SpamScore: 5},
			// The platform is the env's recording SMTP server: releases
			// go there, and nowhere off this machine.
			Platforms: []db.Platform{{Name: "relay", TransportDest: smtpHost, TransportType: "SMTP", TransportPort: smtpPort, IsDefault: true}},
		})
		must(err)
		return id
	}
	d := newDomain("d"+n+".example", &c.ID)
	od := newDomain("other"+n+".example", nil)
	dv, err := s.GetDomain(ctx, d)
	must(err)
	u := &db.User{DomainID: d, Email: "ned@d" + n + ".example", Status: db.UserEnabled, Language: "EN", SenderVerifyOn: true}
	must(s.CreateUser(ctx, u))
	ou := &db.User{DomainID: od, Email: "jaime@other" + n + ".example", Status: db.UserEnabled, Language: "EN", SenderVerifyOn: true}
	must(s.CreateUser(ctx, ou))

	w := &world{domain: e.ids.Encode(d), otherDomain: e.ids.Encode(od), user: e.ids.Encode(u.ID), otherUser: e.ids.Encode(ou.ID),
		policy: e.ids.Encode(*dv.PolicyID), platform: e.ids.Encode(dv.Platforms[0].ID), customer: e.ids.Encode(c.ID), broker: e.ids.Encode(b.ID),
		userEmail: u.Email, tokens: map[string]string{"sysadmin": e.token}}
	all := []string{}
	for _, p := range allPermissions() {
		all = append(all, p)
	}
	admin := func(login string, objectType db.ObjectKind, object int64, perms []string) int64 {
		a := &db.Admin{Login: login + n, Enabled: true}
		must(s.CreateAdmin(ctx, a))
		must(s.SetAuthority(ctx, a.ID, objectType, object, perms))
		tok := db.NewTokenValue()
		must(s.CreateToken(ctx, &db.PersonalToken{AdminID: a.ID, Name: "t"}, tok))
		w.tokens[login] = tok
		return a.ID
	}
	admin("otherAdmin", db.ObjectDomain, od, all)
	admin("withoutPermission", db.ObjectDomain, d, []string{"DOMAIN_READ"})
	withPermission := admin("withPermission", db.ObjectDomain, d, all)
	w.self = e.ids.Encode(withPermission)
	admin("viaCustomer", db.ObjectCustomer, c.ID, all)
	admin("viaBroker", db.ObjectBroker, b.ID, all)
	w.target = e.ids.Encode(admin("target", db.ObjectDomain, d, []string{"DOMAIN_READ"}))

	g := e.do(req{Method: "POST", Path: "/domains/" + w.domain + "/groups", Body: map[string]any{"email": "wolves@d" + n + ".example", "recipients": []string{u.Email}}}).expect(201).json()
	w.group = g["id"].(string)
	w.attachment = e.do(req{Method: "POST", Path: "/domains/" + w.domain + "/filters/attachments", Body: map[string]any{"action": "DENY", "checkType": "FILENAME", "filter": `\.exe$`}}).expect(201).json()["id"].(string)
	w.uri = e.do(req{Method: "POST", Path: "/domains/" + w.domain + "/filters/uris", Body: map[string]any{"action": "BLACKLIST_URI_HOST", "filter": "bad.example"}}).expect(201).json()["id"].(string)

	// A held message with an attachment, for the mail operations.
	held := "From: a@example.org\r\nTo: " + u.Email + "\r\nSubject: held\r\nMessage-ID: <held-" + w.user + "@matrix.example>\r\n" +
		"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n" +
		"--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=a.pdf\r\n\r\n%PDF\r\n--b--\r\n"
	must(e.imap.Deliver(u.Email, "Quarantine", []byte(held), time.Now()))

	past := time.Now().Add(-time.Hour).UnixMilli()
	expired := db.NewTokenValue()
	// Expired, of an account that holds everything on the domain (one of
	// the world's own: an account holds at most db.MaxTokens tokens).
	must(s.CreateToken(ctx, &db.PersonalToken{AdminID: withPermission, Name: "expired", Expiration: &past}, expired))
	w.tokens["expired"] = expired
	w.tokens["endUser"] = e.tempToken(t, u.Email)
	w.tokens["otherEndUser"] = e.tempToken(t, ou.Email)
	return w
}

func allPermissions() []string {
	return []string{"DOMAIN_READ", "DOMAIN_EDIT", "USER_READ", "USER_EDIT", "FILTER_READ", "FILTER_EDIT", "OPTION_READ", "OPTION_EDIT",
		"QUARANTINE_READ", "QUARANTINE_RELEASE", "MAIL_SEND", "HEALTH", "DKIM_READ", "GRANT", "IMPERSONATE"}
}

// tempToken gets a temporary token for a user, as a sysadmin.
func (e *env) tempToken(t *testing.T, email string) string {
	t.Helper()
	r := e.do(req{Method: "GET", Path: "/token?username=" + email}).expect(202).json()
	return r["token"].(string)
}

// outcome is what the matrix expects of one call.
type outcome int

const (
	pass      outcome = iota // the access layer lets the call through
	denied401                // 401
	denied403                // 403
	denied404                // 404, as for a missing object
)

func (o outcome) String() string { return [...]string{"pass", "401", "403", "404"}[o] }

// expect derives the outcome of a caller from the operation's rule, as
// declared in rules.go and exported for this test.
func expect(r api.RuleInfo, caller string) outcome {
	switch {
	case r.Public:
		return pass
	case caller == "anonymous" || caller == "expired":
		return denied401
	case caller == "sysadmin" || r.Any:
		return pass
	case r.Sysadmin:
		return denied403
	case r.Self:
		if caller == "withPermission" {
			return pass
		}
		return denied403
	case r.Manage && r.Perm == "": // an administrator: itself, or one the caller manages
		switch caller {
		case "withPermission", "viaCustomer", "viaBroker":
			return pass
		}
		return denied404
	}
	// A permission on an object of the domain.
	switch caller {
	case "withPermission", "viaCustomer", "viaBroker":
		return pass
	case "withoutPermission":
		if r.Perm == "DOMAIN_READ" {
			return pass
		}
		return denied403
	case "endUser":
		if r.Object != "USER" {
			return denied404
		}
		if slices.Contains(endUserPermissions, r.Perm) {
			return pass
		}
		return denied403
	}
	return denied404 // otherAdmin, otherEndUser
}

// mailReads are the mail operations that succeed on the world's held
// message for every caller the access layer lets through.
var mailReads = map[string]bool{"GetFolders": true, "GetFolder": true, "GetFolderContent": true, "GetEmail": true,
	"GetEmailAttachments": true, "DownloadEmailAttachmentPart": true, "ReleaseEmail": true}

// isolated operations change what the next caller would find (deletions,
// access settings): each caller gets a world of its own.
func isolated(o operation) bool {
	switch o.id {
	case "SetDomainUsersAccess", "SetDomainAdminAuthorities", "UpdateAdmin":
		return true
	}
	return strings.EqualFold(o.method, "delete")
}

// handlerChecked declares the operations whose object is in the body or
// the query, which the handler checks (the access table says
// authenticated()): the rule they apply, as if it were the table's.
var handlerChecked = map[string]api.RuleInfo{
	// The domain of the body; one out of reach is an unknown domainId (400).
	"CreateUser": {Perm: "USER_EDIT", Object: "DOMAIN"},
	// The user of ?username=; the user itself may always ask.
	"GetTemporaryAuthToken": {Perm: "IMPERSONATE", Object: "USER"},
	// The object of ?scope=&id=: any permission there (the world's
	// "withoutPermission" holds DOMAIN_READ).
	"ListPermissions": {Perm: "DOMAIN_READ", Object: "DOMAIN"},
}

func TestPermissionMatrix(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) {
		rules := api.Rules()
		var shared *world
		for _, o := range specOperations(t) {
			r := rules[o.id]
			t.Run(o.id, func(t *testing.T) {
				e.t = t
				w := shared
				if w == nil && !isolated(o) {
					w = e.newWorld(t, o.id)
					shared = w
				}
				for _, caller := range callers {
					if isolated(o) {
						w = e.newWorld(t, o.id)
					}
					want := expect(r, caller)
					if h, ok := handlerChecked[o.id]; ok && want == pass && caller != "sysadmin" {
						want = expect(h, caller)
						switch {
						case o.id == "CreateUser" && want == denied404:
							want = pass // answered as 400 unknown domainId: nothing revealed
						case o.id == "GetTemporaryAuthToken" && caller == "endUser":
							want = pass
						}
					}
					status, detail := e.call(t, o, w, caller)
					got := pass
					switch {
					case status == 401:
						got = denied401
					case status == 403:
						got = denied403
					case status == 404 && (detail == "No such resource within your reach." || detail == "Admin not found with given id" && r.Manage):
						got = denied404
					}
					if got != want {
						t.Errorf("%s by %s: got %s (%d %s), want %s", o.id, caller, got, status, detail, want)
					}
					if mailReads[o.id] && got == pass && status >= 300 {
						t.Errorf("%s by %s: %d %s; the world's message is there", o.id, caller, status, detail)
					}
				}
			})
		}
	})
}

// call sends a valid request for o, with the world's objects in the path
// and the body, as caller; it returns the status and the problem detail.
func (e *env) call(t *testing.T, o operation, w *world, caller string) (int, string) {
	t.Helper()
	hr := e.validRequest(t, o)
	path := o.path
	for name, v := range map[string]string{
		"domainId": w.domain, "userId": w.user, "policyId": w.policy, "platformId": w.platform, "customerId": w.customer,
		"adminId": w.target, "tokenId": "zzzzzzz", "groupId": w.group, "brokerId": w.broker, "attachmentId": w.attachment, "uriId": w.uri,
		"folderPath": "Quarantine", "messageId": "held-" + w.user + "@matrix.example", "partId": "2",
	} {
		if name == "adminId" && (o.id == "CreateToken" || o.id == "ListTokens" || o.id == "GetToken" || o.id == "DeleteToken") {
			v = w.self
		}
		path = strings.ReplaceAll(path, "{"+name+"}", v)
	}
	path = regexp.MustCompile(`\{[^}]+\}`).ReplaceAllString(path, "zzzzzzz")
	if caller == "endUser" || caller == "otherEndUser" {
		path = strings.ReplaceAll(path, "/users/"+w.user, "/users/"+w.userEmail)
	}
	hr.URL.Path = path
	hr.URL.RawPath = ""
	if o.id == "GetTemporaryAuthToken" {
		hr.URL.RawQuery = "username=" + w.userEmail
	}
	if o.id == "ListPermissions" {
		hr.URL.RawQuery = "scope=DOMAIN&id=" + w.domain
	}
	if hr.Body != nil && hr.Header.Get("Content-Type") == "application/json" {
		raw, _ := io.ReadAll(hr.Body)
		var v any
		if json.Unmarshal(raw, &v) == nil {
			v = substituteIDs(v, w)
			raw, _ = json.Marshal(v)
		}
		hr.Body = io.NopCloser(strings.NewReader(string(raw)))
		hr.ContentLength = int64(len(raw))
	}
	hr.Header.Del("Authorization")
	if caller != "anonymous" {
		hr.Header.Set("Authorization", "Bearer "+w.tokens[caller])
	}
	res, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	var p struct{ Detail string }
	_ = json.Unmarshal(body, &p)
	return res.StatusCode, p.Detail
}

// substituteIDs points the references of a sample body at the world.
func substituteIDs(v any, w *world) any {
	switch x := v.(type) {
	case map[string]any:
		for k, item := range x {
			switch k {
			case "domainId":
				x[k] = w.domain
			case "policyId":
				x[k] = w.policy
			case "platformId":
				x[k] = w.platform
			case "customerId":
				x[k] = w.customer
			case "email":
				if s, ok := item.(string); ok && strings.Contains(s, "@") {
					x[k] = "new-" + strings.Split(s, "@")[0] + "@" + strings.Split(w.userEmail, "@")[1]
				}
			default:
				x[k] = substituteIDs(item, w)
			}
		}
	case []any:
		for i := range x {
			x[i] = substituteIDs(x[i], w)
		}
	}
	return v
}
