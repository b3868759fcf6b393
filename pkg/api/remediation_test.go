package api_test

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cleanmail/cleanmail/pkg/api"
	"github.com/cleanmail/cleanmail/pkg/listing"
	"github.com/cleanmail/cleanmail/pkg/loopback"
	"github.com/cleanmail/cleanmail/pkg/mailstore"
	"github.com/cleanmail/cleanmail/pkg/remediate/remediatetest"
)

// remediation is the request of a remediate_message task.
func remediation(params map[string]any) req {
	return req{Method: "POST", Path: "/tasks", Body: map[string]any{"command": "remediate_message", "params": params}}
}

// outcomes is a remediation's output, "<mailbox> <found>/<removed>" and
// its error if any, per mailbox, joined by "; ".
func outcomes(st map[string]any) string {
	out, _ := st["output"].(map[string]any)
	boxes, _ := out["mailboxes"].([]any)
	var got []string
	for _, b := range boxes {
		m, _ := b.(map[string]any)
		o := fmt.Sprintf("%v %v/%v", m["mailbox"], m["found"], m["removed"])
		if m["error"] != nil {
			o += fmt.Sprintf(" %v", m["error"])
		}
		got = append(got, o)
	}
	return strings.Join(got, "; ")
}

// platformAPIs are the customer platforms' remediation APIs of one env:
// an Exchange (EWS) and Entra ID with Graph (O365), remediatetest's fakes,
// which the env's server reaches (loopback) and trusts.
type platformAPIs struct {
	ews   *remediatetest.Exchange
	graph *remediatetest.Graph
}

var platformAPIsOf sync.Map // *db.Store → *platformAPIs

// withPlatformAPIs starts the platformAPIs of each env and points its
// server's remediation at them (e.platformAPIs has them).
func withPlatformAPIs(t *testing.T) func(*api.Options) {
	return func(o *api.Options) {
		p := &platformAPIs{ews: remediatetest.StartExchange(t), graph: remediatetest.StartGraph(t)}
		g := p.graph.Options()
		g.RootCAs.AddCert(p.ews.Certificate())
		o.Remediation.RootCAs, o.Remediation.GraphURL, o.Remediation.LoginURL = g.RootCAs, g.GraphURL, g.LoginURL
		platformAPIsOf.Store(o.Store, p)
	}
}

func (e *env) platformAPIs() *platformAPIs {
	v, _ := platformAPIsOf.Load(e.store)
	return v.(*platformAPIs)
}

// ewsData is the apiData of the EXCHANGE platform p.ews, with more.
func (p *platformAPIs) ewsData(more map[string]any) map[string]any {
	t := p.ews.Target()
	return with(map[string]any{"host": t.Host, "port": t.Port, "login": t.Login, "password": t.Password}, more)
}

// graphData is the apiData of the O365 platform p.graph, with more.
func (p *platformAPIs) graphData(more map[string]any) map[string]any {
	t := p.graph.Target()
	return with(map[string]any{"tenantId": t.TenantID, "clientId": t.ClientID, "clientSecret": t.ClientSecret}, more)
}

// with is m with the entries of more.
func with(m, more map[string]any) map[string]any {
	for k, v := range more {
		m[k] = v
	}
	return m
}

// TestRemediateMessage: remediate_message finds the message by its
// Message-ID in the recipients' mailboxes on their platform (an IMAP
// remediation API: a mail server on loopback) and deletes it, or takes it
// into the service's quarantine; the task's output says what was done per
// mailbox; its conditions and rule.
func TestRemediateMessage(t *testing.T) {
	t.Parallel()
	forEachDBWithJobs(t, nil, func(t *testing.T, e *env) {
		customer, err := loopback.StartIMAP(loopback.IMAPOptions{MasterUser: "admin", MasterPassword: "platform-s3cret", Folders: []string{"Archive"}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { customer.Close() })
		onPlatform, err := mailstore.New(mailstore.Options{URL: "imap://" + customer.Addr(), MasterUser: "admin", MasterPassword: "platform-s3cret", Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { onPlatform.Close() })
		count := func(user, folder, id string) int {
			t.Helper()
			pg, err := onPlatform.Search(context.Background(), user, folder, mailstore.Query{ID: id}, listing.Page{PageSize: 10})
			if err != nil {
				t.Fatal(err)
			}
			return pg.Total
		}
		host, port, _ := net.SplitHostPort(customer.Addr())
		p, _ := strconv.Atoi(port)
		stark := e.newDomain("stark.net", map[string]any{"quarantine": true, "platforms": []map[string]any{{
			"name": "exchange", "transportDest": "127.0.0.1", "transportType": "SMTP", "transportPort": 25, "authType": "local",
			"apiType": "IMAP", "apiData": map[string]any{"host": host, "port": p, "login": "admin", "password": "platform-s3cret"}}}})
		lannister := e.newDomain("lannister.net", map[string]any{"platforms": []map[string]any{{ // no remediation API
			"name": "relay", "transportDest": "127.0.0.1", "transportType": "SMTP", "transportPort": 25, "authType": "local"}}})
		ned := e.newUser(stark, "ned@stark.net")
		e.newUser(stark, "arya@stark.net")
		e.newUser(lannister, "tyrion@lannister.net")
		phish := mail("evil@phish.example", "ned@stark.net", "Reset your password", "phish-1@phish.example", "click")
		now := time.Now()
		for _, d := range []struct{ user, folder string }{{"ned@stark.net", "INBOX"}, {"ned@stark.net", "Archive"}, {"arya@stark.net", "INBOX"}} {
			if err := customer.Deliver(d.user, d.folder, phish, now); err != nil {
				t.Fatal(err)
			}
		}
		if err := customer.Deliver("ned@stark.net", "INBOX", mail("jon@stark.net", "ned@stark.net", "Winter", "winter@x", "coming"), now); err != nil {
			t.Fatal(err)
		}
		// Ned's copies into the service's quarantine; arya's deleted.
		r := e.do(remediation(map[string]any{"messageId": "<phish-1@phish.example>", "recipients": []string{"ned@stark.net"}, "action": "QUARANTINE"})).expect(202)
		st := e.waitTask(t, r.Header.Get("Location"), "done")
		if got, want := outcomes(st), "ned@stark.net 2/2"; got != want {
			t.Fatalf("output %q, want %q", got, want)
		}
		held := e.do(req{Method: "GET", Path: "/users/" + ned + "/emails/Quarantine?subject=Reset"}).expect(200).list()
		if len(held) != 2 {
			t.Errorf("%d copies in ned's quarantine, want 2", len(held))
		}
		r = e.do(remediation(map[string]any{"messageId": "phish-1@phish.example", "recipients": []string{"arya@stark.net", "ned@stark.net"}, "action": "delete"})).expect(202)
		st = e.waitTask(t, r.Header.Get("Location"), "done")
		if got, want := outcomes(st), "arya@stark.net 1/1; ned@stark.net 0/0"; got != want {
			t.Errorf("output %q, want %q", got, want)
		}
		// On the platform: no copy left; the other message stays.
		for _, u := range []string{"ned@stark.net", "arya@stark.net"} {
			for _, f := range []string{"INBOX", "Archive"} {
				if n := count(u, f, "phish-1@phish.example"); n != 0 {
					t.Errorf("%d copies left in %s's %s", n, u, f)
				}
			}
		}
		if n := count("ned@stark.net", "INBOX", "winter@x"); n != 1 {
			t.Errorf("the other message: %d copies", n)
		}

		// No recipients named: every mailbox within the caller's
		// FILTER_EDIT reach on a platform with a remediation API.
		for _, u := range []string{"ned@stark.net", "arya@stark.net"} {
			if err := customer.Deliver(u, "INBOX", phish, now); err != nil {
				t.Fatal(err)
			}
		}
		_, warden := e.domainAdmin(stark, "warden", "USER_READ", "FILTER_EDIT")
		rq := remediation(map[string]any{"messageId": "phish-1@phish.example", "action": "DELETE"})
		rq.Token = warden
		r = e.do(rq).expect(202)
		st = e.waitTask(t, r.Header.Get("Location"), "done")
		if got, want := outcomes(st), "arya@stark.net 1/1; ned@stark.net 1/1"; got != want {
			t.Errorf("output of the remediation of the warden's reach %q, want %q", got, want)
		}
		// The sysadmin's reach holds tyrion too, whose platform has no
		// API: left out.
		r = e.do(remediation(map[string]any{"messageId": "phish-1@phish.example", "action": "DELETE"})).expect(202)
		st = e.waitTask(t, r.Header.Get("Location"), "done")
		if got, want := outcomes(st), "arya@stark.net 0/0; ned@stark.net 0/0"; got != want {
			t.Errorf("output of the sysadmin's remediation %q, want %q", got, want)
		}

		// Refusals.
		e.do(remediation(map[string]any{"messageId": "x@y", "recipients": []string{"tyrion@lannister.net"}, "action": "DELETE"})).problem(422, "remediation API")
		_, lannisterWarden := e.domainAdmin(lannister, "qyburn", "FILTER_EDIT")
		rq = remediation(map[string]any{"messageId": "x@y", "action": "DELETE"})
		rq.Token = lannisterWarden
		e.do(rq).problem(422, "No mailbox within your reach")
		e.do(remediation(map[string]any{"messageId": "x@y", "recipients": []string{}, "action": "DELETE"})).problem(400, "params.recipients")
		many := make([]string, 501)
		for i := range many {
			many[i] = fmt.Sprintf("u%d@stark.net", i)
		}
		e.do(remediation(map[string]any{"messageId": "x@y", "recipients": many, "action": "DELETE"})).problem(400, "1 to 500")
		e.do(remediation(map[string]any{"messageId": "x@y", "recipients": []string{"ned@stark.net"}, "action": "ARCHIVE"})).problem(400, "params.action")
		e.do(remediation(map[string]any{"messageId": "", "recipients": []string{"ned@stark.net"}, "action": "DELETE"})).problem(400, "params.messageId")
		e.do(remediation(map[string]any{"messageId": "x@y", "recipients": []string{"nobody@stark.net"}, "action": "DELETE"})).problem(422, "nobody@stark.net")
		_, reader := e.domainAdmin(stark, "maester", "USER_READ", "FILTER_READ")
		rq = remediation(map[string]any{"messageId": "x@y", "recipients": []string{"ned@stark.net"}, "action": "DELETE"})
		rq.Token = reader
		e.do(rq).problem(403, "FILTER_EDIT")
		if strings.Contains(string(e.do(req{Method: "GET", Path: "/domains/" + stark}).expect(200).Body), "platform-s3cret") {
			t.Error("the platform's password is returned")
		}
		// Stored sealed, never in clear.
		sqlDB, err := e.store.SQL()
		if err != nil {
			t.Fatal(err)
		}
		var stored string
		if err := sqlDB.QueryRow("SELECT api_data FROM platforms WHERE api_data IS NOT NULL").Scan(&stored); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(stored, "platform-s3cret") || !strings.HasPrefix(stored, "sealed:") {
			t.Errorf("apiData stored as %q", stored)
		}
	})
}

// TestRemediateMessageExchangeAndO365: remediate_message through EWS (a
// platform with apiType EXCHANGE) and Microsoft Graph (O365), both fakes
// of remediatetest: QUARANTINE stores every copy in the user's Quarantine
// of the service and removes it from the platform, DELETE removes it,
// nothing else is touched, the output counts the copies of each mailbox;
// a mailbox the platform does not have fails the task with EWS's error.
func TestRemediateMessageExchangeAndO365(t *testing.T) {
	t.Parallel()
	forEachDBWithJobs(t, withPlatformAPIs(t), func(t *testing.T, e *env) {
		p := e.platformAPIs()
		platform := func(name, apiType string, apiData map[string]any) map[string]any {
			return map[string]any{"quarantine": true, "platforms": []map[string]any{{
				"name": name, "transportDest": "127.0.0.1", "transportType": "SMTP", "transportPort": 25, "authType": "local",
				"apiType": apiType, "apiData": apiData}}}
		}
		stark := e.newDomain("stark.net", platform("exchange", "EXCHANGE", p.ewsData(nil)))
		lannister := e.newDomain("lannister.net", platform("o365", "O365", p.graphData(nil)))
		users := map[string]string{}
		for _, u := range []struct{ domain, email string }{
			{stark, "ned@stark.net"}, {stark, "arya@stark.net"}, {stark, "bran@stark.net"},
			{lannister, "tyrion@lannister.net"}, {lannister, "cersei@lannister.net"},
		} {
			users[u.email] = e.newUser(u.domain, u.email)
		}
		phish := mail("evil@phish.example", "ned@stark.net", "Reset your password", "phish-1@phish.example", "click")
		winter := mail("jon@stark.net", "ned@stark.net", "Winter", "winter@x", "coming")
		p.ews.Add("ned@stark.net", "Inbox", phish)
		p.ews.Add("ned@stark.net", "Archive", phish)
		p.ews.Add("ned@stark.net", "Inbox", winter)
		p.ews.Add("arya@stark.net", "Inbox", phish)
		p.graph.Add("tyrion@lannister.net", "inbox", phish)
		p.graph.Add("tyrion@lannister.net", "archive", phish)
		p.graph.Add("tyrion@lannister.net", "inbox", winter)
		p.graph.Add("cersei@lannister.net", "inbox", phish)
		held := func(email string) []map[string]any {
			t.Helper()
			return e.do(req{Method: "GET", Path: "/users/" + users[email] + "/emails/Quarantine?id=phish-1@phish.example"}).expect(200).list()
		}
		left := func() string {
			return fmt.Sprint(p.ews.Left("ned@stark.net"), p.ews.Left("arya@stark.net"), p.graph.Left("tyrion@lannister.net"), p.graph.Left("cersei@lannister.net"))
		}

		// One task across both platforms: ned's and tyrion's copies into
		// the service's quarantine, then gone from their mailboxes.
		r := e.do(remediation(map[string]any{"messageId": "<phish-1@phish.example>", "recipients": []string{"ned@stark.net", "tyrion@lannister.net"}, "action": "QUARANTINE"})).expect(202)
		st := e.waitTask(t, r.Header.Get("Location"), "done")
		if got, want := outcomes(st), "ned@stark.net 2/2; tyrion@lannister.net 2/2"; got != want {
			t.Errorf("QUARANTINE: output %q, want %q", got, want)
		}
		for _, u := range []string{"ned@stark.net", "tyrion@lannister.net"} {
			q := held(u)
			if len(q) != 2 || q[0]["subject"] != "Reset your password" || q[0]["from"] != "evil@phish.example" {
				t.Errorf("%s's Quarantine: %v; want the 2 copies", u, q)
			}
		}
		want := "map[Archive:[] Inbox:[<winter@x>]] map[Inbox:[<phish-1@phish.example>]] map[inbox:[<winter@x>]] map[inbox:[<phish-1@phish.example>]]"
		if got := left(); got != want {
			t.Errorf("on the platforms after QUARANTINE:\n got %s\nwant %s", got, want)
		}

		// DELETE: arya's and cersei's copies gone, none stored; ned's
		// mailbox has none left.
		r = e.do(remediation(map[string]any{"messageId": "phish-1@phish.example", "recipients": []string{"arya@stark.net", "cersei@lannister.net", "ned@stark.net"}, "action": "DELETE"})).expect(202)
		st = e.waitTask(t, r.Header.Get("Location"), "done")
		if got, want := outcomes(st), "arya@stark.net 1/1; cersei@lannister.net 1/1; ned@stark.net 0/0"; got != want {
			t.Errorf("DELETE: output %q, want %q", got, want)
		}
		want = "map[Archive:[] Inbox:[<winter@x>]] map[Inbox:[]] map[inbox:[<winter@x>]] map[]"
		if got := left(); got != want {
			t.Errorf("on the platforms after DELETE:\n got %s\nwant %s", got, want)
		}
		for _, u := range []string{"arya@stark.net", "cersei@lannister.net"} {
			if q := held(u); len(q) != 0 {
				t.Errorf("DELETE stored %d copies in %s's Quarantine", len(q), u)
			}
		}

		// A mailbox Exchange does not have: the task retries, then fails,
		// saying why.
		r = e.do(remediation(map[string]any{"messageId": "phish-1@phish.example", "recipients": []string{"bran@stark.net"}, "action": "DELETE"})).expect(202)
		st = e.waitTask(t, r.Header.Get("Location"), "failed")
		errs, _ := st["errors"].([]any)
		if len(errs) == 0 || !strings.Contains(fmt.Sprint(errs[len(errs)-1]), "bran@stark.net: EWS FindFolder as CORP\\svc-remediate for bran@stark.net: ErrorNonExistentMailbox") {
			t.Errorf("errors %v; want EWS's ErrorNonExistentMailbox for bran", st["errors"])
		}
		if got := left(); got != want {
			t.Errorf("on the platforms after the failure:\n got %s\nwant %s", got, want)
		}
	})
}
