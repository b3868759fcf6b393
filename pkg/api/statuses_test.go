package api

import (
	"errors"
	"net"
	"net/http"
	"testing"

	"github.com/cleanmail/cleanmail/pkg/fault"
)

// Every kind of failure but Internal has its status.
func TestEveryKindHasAStatus(t *testing.T) {
	for k := fault.NotFound; k <= fault.PreconditionFailed; k++ {
		if _, ok := statuses[k]; !ok {
			t.Errorf("kind %v has no status in problem.go", k)
		}
	}
}

// A peer's failure is the doc's 500, saying which peer, even when its cause
// is a network error (which, from the database, would be a 503).
func TestPeerFailureIs500(t *testing.T) {
	cause := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	p, internal := problemFor(fault.PeerFailure("the mail store (IMAP)", cause))
	if p.Status != http.StatusInternalServerError || internal || p.Detail != "Unable to reach the mail store (IMAP); please retry later." {
		t.Errorf("problemFor(peer failure) = %d %q (internal %v)", p.Status, p.Detail, internal)
	}
}
