package api

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"html/template"
	"strconv"
	"time"

	"github.com/cleanmail/cleanmail/db"
	"github.com/cleanmail/cleanmail/gen"
	"github.com/cleanmail/cleanmail/pkg/fault"
	"github.com/cleanmail/cleanmail/pkg/message"
	"github.com/cleanmail/cleanmail/pkg/notify"
)

// releaseLinks signs and reads the digests' release links, under a key
// derived from the token key (so that neither kind of token passes for
// the other).
func releaseLinks(jwtKey []byte) notify.ReleaseLinks {
	m := hmac.New(sha256.New, jwtKey)
	m.Write([]byte("cleanmail release links v1"))
	return notify.ReleaseLinks{Key: m.Sum(nil)}
}

var errBadReleaseLink = fault.Unprocessablef("token", "This release link is invalid or has expired: release the message from the quarantine instead.")

// releasedPage is the page a release link answers, for the browser it was
// opened in.
var releasedPage = template.Must(template.New("released").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Message released</title></head>
<body style="font-family:sans-serif;max-width:40em;margin:3em auto">
<h1>{{if .Again}}Already released{{else}}Message released{{end}}</h1>
<p>{{if .Again}}This message had already been released.{{else}}The message is on its way to your inbox.{{end}}</p>
<p><strong>{{.Subject}}</strong><br>{{.From}}</p>
</body></html>
`))

// ReleaseByLink releases the message a digest's link names, once.
func (s *Server) ReleaseByLink(ctx context.Context, req gen.ReleaseByLinkRequestObject) (gen.ReleaseByLinkResponseObject, error) {
	r, err := s.links.Verify(req.Token, time.Now())
	if err != nil {
		return nil, errBadReleaseLink
	}
	u, err := s.store.FindUser(ctx, r.UserID, "")
	if errors.Is(err, db.ErrNotFound) {
		return nil, errBadReleaseLink
	}
	if err != nil {
		return nil, err
	}
	if u.Status != db.UserEnabled {
		return nil, fault.Unprocessablef("token", "The account of this link is disabled.")
	}
	// The option may have been turned off since the digest was sent.
	opts, err := s.store.Effective(ctx, db.OptionOwner{Scope: db.ScopeUser, ID: u.ID}, "QUARANTINE_RELEASE_BY_USER")
	if err != nil {
		return nil, err
	}
	if opts["QUARANTINE_RELEASE_BY_USER"] == "false" {
		return nil, fault.Unprocessablef("token", "Releases by users are turned off for this account (QUARANTINE_RELEASE_BY_USER): ask an administrator.")
	}
	if s.mail == nil {
		return nil, fault.PeerFailure("the mail store (IMAP)", errors.New("no mail store is configured"))
	}
	sum, raw, err := s.mail.Raw(ctx, u.Email, r.Folder, strconv.FormatUint(uint64(r.UID), 10))
	if err != nil {
		return nil, about(err, fault.MailMessage)
	}
	if got := sum.Headers["Message-Id"]; r.MessageID != "" && (len(got) == 0 || got[0] != r.MessageID) {
		// The folder was recreated since: that UID is another message.
		return nil, fault.NotFoundOf(fault.MailMessage)
	}
	if message.Infected(raw, s.virusHdr) {
		return nil, fault.Fail(fault.PreconditionFailed, "", "Release not allowed: the message is infected; ask an administrator.")
	}
	if err := s.store.UseReleaseLink(ctx, r.ID, u.ID, time.Unix(r.Expires, 0)); err != nil {
		return nil, err
	}
	again := sum.Has("$Released")
	if err := s.release(ctx, u, r.Folder, sum, raw); err != nil {
		// Not released: the link works again.
		if ferr := s.store.ForgetReleaseLink(context.WithoutCancel(ctx), r.ID); ferr != nil {
			s.log.WarnContext(ctx, "a failed release's link stays used", "err", ferr)
		}
		return nil, err
	}
	var page bytes.Buffer
	if err := releasedPage.Execute(&page, map[string]any{"Again": again, "Subject": sum.Subject, "From": sum.From}); err != nil {
		return nil, err
	}
	return gen.ReleaseByLink200TexthtmlResponse{Body: &page, ContentLength: int64(page.Len())}, nil
}
