package notify

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestReleaseLinks(t *testing.T) {
	l := ReleaseLinks{Key: []byte("a key of the test")}
	now := time.Unix(1_800_000_000, 0)
	token, err := l.Sign(Release{UserID: 7, Folder: "Quarantine", UID: 42, MessageID: "<a@b>"}, now)
	if err != nil {
		t.Fatal(err)
	}
	r, err := l.Verify(token, now.Add(time.Hour))
	if err != nil || r.UserID != 7 || r.Folder != "Quarantine" || r.UID != 42 || r.MessageID != "<a@b>" || r.ID == "" {
		t.Fatalf("%+v, %v", r, err)
	}
	other, _ := l.Sign(Release{UserID: 7, Folder: "Quarantine", UID: 42}, now)
	if o, _ := l.Verify(other, now); o.ID == r.ID {
		t.Error("two links of the same message share their id: the second would be refused as used")
	}
	payload, sig, _ := strings.Cut(token, ".")
	for name, bad := range map[string]string{
		"expired":      "", // checked below
		"another key":  "",
		"no signature": payload,
		"tampered":     strings.ToUpper(payload[:4]) + payload[4:] + "." + sig,
		"signature":    payload + "." + sig[:len(sig)-2] + "AA",
		"empty":        "",
	} {
		var err error
		switch name {
		case "expired":
			_, err = l.Verify(token, now.Add(ReleaseLinkValidity))
		case "another key":
			_, err = ReleaseLinks{Key: []byte("another")}.Verify(token, now)
		default:
			_, err = l.Verify(bad, now)
		}
		if !errors.Is(err, ErrBadLink) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
