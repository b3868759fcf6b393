package fault

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

func TestKindsMatchTheirSentinels(t *testing.T) {
	err := fmt.Errorf("loading: %w", NotFoundOf(Domain))
	if !errors.Is(err, ErrNotFound) || errors.Is(err, ErrConflict) {
		t.Errorf("a wrapped NotFound: Is(ErrNotFound) %v, Is(ErrConflict) %v", errors.Is(err, ErrNotFound), errors.Is(err, ErrConflict))
	}
	if errors.Is(ErrNotFound, NotFoundOf(Domain)) {
		t.Error("a sentinel matched a particular error")
	}
	if KindOf(err) != NotFound || KindOf(errors.New("boom")) != Internal || KindOf(nil) != Internal {
		t.Error("KindOf")
	}
}

// An outage is an outage whatever wraps it: a NotFound built around one
// must not turn it into a 404.
func TestUnavailableWins(t *testing.T) {
	outage := UnavailableBecause(context.DeadlineExceeded)
	wrapped := &Error{Kind: NotFound, Resource: Domain, Err: outage}
	if KindOf(wrapped) != Unavailable {
		t.Errorf("KindOf(NotFound around an outage) = %v, want unavailable", KindOf(wrapped))
	}
	if !errors.Is(outage, context.DeadlineExceeded) {
		t.Error("the cause is lost")
	}
}

func TestNotFoundWording(t *testing.T) {
	for r, want := range map[Resource]string{
		Domain:           "Domain not found with given id",
		User:             "Unknown user",
		Admin:            "Admin not found with given id",
		OutgoingProvider: "Outgoing provider not found with given id",
		AttachmentFilter: "No attachment filter found with given id",
		"":               "Resource does not exist.",
	} {
		if got := NotFoundOf(r).Detail; got != want {
			t.Errorf("NotFoundOf(%q) = %q, want %q", r, got, want)
		}
	}
}
