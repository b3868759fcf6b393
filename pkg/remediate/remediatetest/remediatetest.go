// Package remediatetest implements, for tests, local fakes of the
// remediation APIs that pkg/remediate reaches over HTTPS: an on-premises
// Exchange's EWS (Exchange) and Entra ID's token endpoint with Microsoft
// Graph (Graph), each over TLS on 127.0.0.1, its mailboxes in memory.
// They speak the published request and response formats, and refuse what
// a real server refuses (a wrong password or secret, a mailbox that is
// not there, a request they do not know), so that a client that passes
// them speaks the protocol, not the fake.
//
// A fake is started per test and closed when it ends. Its Target and
// Options are what a remediate.Remediator needs to reach it (the private
// address allowed, its certificate trusted); its mailboxes are filled with
// Add and read back with Left.
package remediatetest

import (
	"bytes"
	"crypto/x509"
	"io"
	"log"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"testing"
	"time"

	"github.com/cleanmail/cleanmail/pkg/remediate"
)

// Timeout is the Timeout of the fakes' Options.
const Timeout = 5 * time.Second

// startTLS starts an HTTPS server on loopback, its certificate for
// 127.0.0.1 (httptest's), its handshake errors (the untrusted-certificate
// cases) not logged, closed when the test ends.
func startTLS(t testing.TB, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// options reach srv: private addresses allowed, its certificate trusted.
func options(srv *httptest.Server) remediate.Options {
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	return remediate.Options{AllowPrivate: true, RootCAs: pool, Timeout: Timeout}
}

// headers are the Message-ID (as written, in its angle brackets) and the
// subject (decoded) of raw; a message whose header cannot be read has
// neither, as a server would store it.
func headers(raw []byte) (messageID, subject string) {
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return "", ""
	}
	subject = m.Header.Get("Subject")
	if s, err := new(mime.WordDecoder).DecodeHeader(subject); err == nil {
		subject = s
	}
	return m.Header.Get("Message-Id"), subject
}
