package notify

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"time"
)

// ReleaseLinkValidity is how long a digest's release link works.
const ReleaseLinkValidity = 7 * 24 * time.Hour

// Release is what a release link releases: one message of a user's
// folder, by its UID, checked against its Message-ID when it is used (a
// UID of a folder recreated since would name another message).
type Release struct {
	ID        string `json:"n"` // random: the link's identity, for its single use
	UserID    int64  `json:"u"`
	Folder    string `json:"f"`
	UID       uint32 `json:"i"`
	MessageID string `json:"m"`
	Expires   int64  `json:"e"` // epoch seconds
}

// ReleaseLinks signs and reads release links: the release, in JSON,
// base64url, a dot, and its HMAC-SHA256 under the key, base64url. Nothing
// in it is secret; the signature makes it unforgeable.
type ReleaseLinks struct{ Key []byte }

// ErrBadLink: the link's token is malformed, forged or expired.
var ErrBadLink = errors.New("the release link is invalid or has expired")

// Sign makes the token of r, its ID and expiry set here.
func (l ReleaseLinks) Sign(r Release, now time.Time) (string, error) {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	r.ID, r.Expires = hex.EncodeToString(b), now.Add(ReleaseLinkValidity).Unix()
	payload, err := json.Marshal(r)
	if err != nil {
		return "", err
	}
	p := base64.RawURLEncoding.EncodeToString(payload)
	return p + "." + base64.RawURLEncoding.EncodeToString(l.mac(p)), nil
}

func (l ReleaseLinks) mac(p string) []byte {
	m := hmac.New(sha256.New, l.Key)
	m.Write([]byte(p))
	return m.Sum(nil)
}

// Verify reads a token: ErrBadLink unless it is signed by the key and not
// expired.
func (l ReleaseLinks) Verify(token string, now time.Time) (Release, error) {
	p, sig, ok := strings.Cut(token, ".")
	if !ok || len(token) > 2048 {
		return Release{}, ErrBadLink
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, l.mac(p)) {
		return Release{}, ErrBadLink
	}
	payload, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil {
		return Release{}, ErrBadLink
	}
	var r Release
	if err := json.Unmarshal(payload, &r); err != nil || r.ID == "" || now.Unix() >= r.Expires {
		return Release{}, ErrBadLink
	}
	return r, nil
}
