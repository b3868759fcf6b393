package api_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/cleanmail/cleanmail/db/dbtest"
	"github.com/cleanmail/cleanmail/pkg/mailstore"
	"github.com/cleanmail/cleanmail/pkg/message"
	"github.com/cleanmail/cleanmail/pkg/submit"
)

// BenchmarkRelease releases one held message over HTTP (find it in the
// quarantine, check it, strip its spam tag, send it to the platform,
// mark it), on the embedded mail store and a recording SMTP server on
// loopback; beside it, as the floor of the same run, the mail work alone:
// the same fetch, rewrite and SMTP submission by the same libraries,
// without HTTP, access control, the database or the marking.
func BenchmarkRelease(b *testing.B) {
	for name, url := range map[string]func(testing.TB) string{"sqlite": dbtest.SQLite, "postgres": dbtest.Postgres} {
		e := newEnv(b, url(b))
		host, port, _ := net.SplitHostPort(e.smtp.Addr())
		p, _ := strconv.Atoi(port)
		d := e.newDomain("stark.net", map[string]any{"platforms": []map[string]any{{"name": "relay", "transportDest": host, "transportType": "SMTP", "transportPort": p}}})
		ned := e.newUser(d, "api@stark.net")
		// hold puts the message of iteration i in the quarantine, outside
		// the timed part.
		// Each side has a mailbox of its own, so both search folders of the
		// same size.
		hold := func(b *testing.B, prefix string, i int) {
			b.StopTimer()
			e.deliver(prefix+"@stark.net", "Quarantine", []byte(fmt.Sprintf("Return-Path: <a@x.example>\r\nFrom: a@x.example\r\nTo: ned@stark.net\r\n"+
				"Subject: [SPAM] held %d\r\nX-Spam-Flag: YES\r\nMessage-ID: <%s%d@x>\r\n\r\nbody\r\n", i, prefix, i)), time.Now())
			b.StartTimer()
		}
		b.Run("api/"+name, func(b *testing.B) {
			i := 0
			for b.Loop() {
				hold(b, "api", i)
				req, _ := http.NewRequest("POST", fmt.Sprintf("%s/users/%s/emails/Quarantine/api%d@x/release", e.srv.URL, ned, i), nil)
				req.Header.Set("Authorization", "Bearer "+e.token)
				res, err := http.DefaultClient.Do(req)
				if err != nil || res.StatusCode != 204 {
					b.Fatalf("release %d: %v %v", i, res.StatusCode, err)
				}
				res.Body.Close()
				i++
			}
		})
		b.Run("floor/"+name, func(b *testing.B) {
			st, err := mailstore.New(mailstore.Options{URL: "imap://" + e.imap.Addr(), MasterUser: "master", MasterPassword: "m4ster"})
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			sender := &submit.Sender{}
			relay := []submit.Relay{{Host: host, Port: p}}
			ctx := context.Background()
			i := 0
			for b.Loop() {
				hold(b, "floor", i)
				_, raw, err := st.Raw(ctx, "floor@stark.net", "Quarantine", fmt.Sprintf("floor%d@x", i))
				if err != nil {
					b.Fatal(err)
				}
				if err := sender.Send(ctx, relay, "a@x.example", []string{"floor@stark.net"}, message.StripSpamTag(raw, "[SPAM] ")); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
