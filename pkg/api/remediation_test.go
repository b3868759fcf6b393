package api_test

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cleanmail/cleanmail/pkg/listing"
	"github.com/cleanmail/cleanmail/pkg/loopback"
	"github.com/cleanmail/cleanmail/pkg/mailstore"
)

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
		task := func(params map[string]any) req {
			return req{Method: "POST", Path: "/tasks", Body: map[string]any{"command": "remediate_message", "params": params}}
		}

		// Ned's copies into the service's quarantine; arya's deleted.
		r := e.do(task(map[string]any{"messageId": "<phish-1@phish.example>", "recipients": []string{"ned@stark.net"}, "action": "QUARANTINE"})).expect(202)
		st := e.waitTask(t, r.Header.Get("Location"), "done")
		out, _ := st["output"].(map[string]any)
		boxes, _ := out["mailboxes"].([]any)
		if len(boxes) != 1 || boxes[0].(map[string]any)["found"] != 2.0 || boxes[0].(map[string]any)["removed"] != 2.0 {
			t.Fatalf("output %v", st["output"])
		}
		held := e.do(req{Method: "GET", Path: "/users/" + ned + "/emails/Quarantine?subject=Reset"}).expect(200).list()
		if len(held) != 2 {
			t.Errorf("%d copies in ned's quarantine, want 2", len(held))
		}
		r = e.do(task(map[string]any{"messageId": "phish-1@phish.example", "recipients": []string{"arya@stark.net", "ned@stark.net"}, "action": "delete"})).expect(202)
		st = e.waitTask(t, r.Header.Get("Location"), "done")
		boxes = st["output"].(map[string]any)["mailboxes"].([]any)
		if len(boxes) != 2 || boxes[0].(map[string]any)["removed"] != 1.0 || boxes[1].(map[string]any)["found"] != 0.0 {
			t.Errorf("output %v", st["output"])
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

		// Refusals.
		e.do(task(map[string]any{"messageId": "x@y", "recipients": []string{"tyrion@lannister.net"}, "action": "DELETE"})).problem(422, "remediation API")
		e.do(task(map[string]any{"messageId": "x@y", "recipients": []string{}, "action": "DELETE"})).problem(400, "params.recipients")
		e.do(task(map[string]any{"messageId": "x@y", "recipients": []string{"ned@stark.net"}, "action": "ARCHIVE"})).problem(400, "params.action")
		e.do(task(map[string]any{"messageId": "", "recipients": []string{"ned@stark.net"}, "action": "DELETE"})).problem(400, "params.messageId")
		e.do(task(map[string]any{"messageId": "x@y", "recipients": []string{"nobody@stark.net"}, "action": "DELETE"})).problem(422, "nobody@stark.net")
		_, reader := e.domainAdmin(stark, "maester", "USER_READ", "FILTER_READ")
		rq := task(map[string]any{"messageId": "x@y", "recipients": []string{"ned@stark.net"}, "action": "DELETE"})
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
