package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/cleanmail/cleanmail/db"
	"github.com/cleanmail/cleanmail/gen"
	"github.com/cleanmail/cleanmail/pkg/fault"
	"github.com/cleanmail/cleanmail/pkg/mailstore"
	"github.com/cleanmail/cleanmail/pkg/message"
	"github.com/cleanmail/cleanmail/pkg/submit"
)

// The folders SendEmail writes to, as the embedded store and Dovecot's
// usual namespace name them.
const (
	sentFolder   = "Sent"
	draftsFolder = "Drafts"
)

// buildFields maps the fields message.Build names to the request's.
var buildFields = map[string]string{"inReplyTo": "originId", "references": "originId"}

// SendEmail builds the message the user of the path sends (From is its
// address), submits it to the outgoing relay, then files a copy in Sent,
// deletes the draft it replaces and the uploads it carried. Once the relay
// has accepted the message, nothing fails the request: the after-steps'
// failures are logged, lest a retry send the message twice.
func (s *Server) SendEmail(ctx context.Context, req gen.SendEmailRequestObject) (gen.SendEmailResponseObject, error) {
	b := req.Body
	if b == nil {
		return nil, badField("body", "The message is required.")
	}
	user := targetOf(ctx).user
	owner, err := uploadOwner(ctx)
	if err != nil {
		return nil, err
	}
	to, cc, bcc := deref(b.To, nil), deref(b.Cc, nil), deref(b.Bcc, nil)
	if len(to)+len(cc)+len(bcc) == 0 {
		return nil, badField("to", "The message needs at least one recipient (to, cc or bcc).")
	}
	var draft imap.UID
	if b.DraftId != nil {
		uid, ok := mailstore.ParseUID(*b.DraftId)
		if !ok {
			return nil, badField("draftId", "%q is not the id of a message (a UID of the Drafts folder).", *b.DraftId)
		}
		draft = uid
	}
	d := message.Draft{
		From: []string{senderOf(user)}, To: to, Cc: cc, Bcc: bcc,
		Subject: deref(b.Subject, ""), HTML: deref(b.Body, ""),
		InReplyTo: deref(b.OriginId, ""), Important: deref(b.Important, false),
	}
	if deref(b.Ack, false) {
		d.DispositionNotificationTo = user.Email
	}
	now := time.Now().UnixMilli()
	uids := make([]string, 0, len(deref(b.Attachments, nil)))
	for i, a := range deref(b.Attachments, nil) {
		field := fmt.Sprintf("attachments.%d", i)
		u, err := s.store.GetUpload(ctx, owner, a.Uid, now, true)
		if errors.Is(err, db.ErrNotFound) {
			return nil, badField(field+".uid", "None of your uploads has this uid (an upload expires after a day, and is deleted once sent).")
		}
		if err != nil {
			return nil, err
		}
		name := a.Name
		if name == "" {
			name = u.Name
		}
		d.Attachments = append(d.Attachments, message.File{Name: name, ContentType: u.ContentType, Body: bytes.NewReader(u.Content)})
		uids = append(uids, a.Uid)
	}
	raw, err := message.Build(d)
	if err != nil {
		return nil, renamed(err, buildFields)
	}
	if raw, err = s.dkimSign(ctx, user, raw); err != nil {
		return nil, err
	}
	rcpts, fields := envelope(map[string][]string{"to": to, "cc": cc, "bcc": bcc})
	if len(s.relays) == 0 {
		return nil, fault.PeerFailure(submit.Peer, errors.New("no outgoing SMTP relay is configured"))
	}
	if err := s.submit.Send(ctx, s.relays, user.Email, rcpts, raw); err != nil {
		return nil, renamed(err, fields)
	}

	// Sent: what follows must not fail the request.
	if s.mail != nil {
		if _, err := s.mail.Append(ctx, user.Email, sentFolder, raw, []imap.Flag{imap.FlagSeen}); errors.Is(err, fault.ErrNotFound) {
			s.log.InfoContext(ctx, "sent mail not filed: the mailbox has no Sent folder", "user", user.Email)
		} else if err != nil {
			s.log.WarnContext(ctx, "sent mail not filed in Sent", "user", user.Email, "err", err)
		}
		if draft != 0 {
			if err := s.mail.Delete(ctx, user.Email, draftsFolder, draft); errors.Is(err, fault.ErrNotFound) {
				s.log.InfoContext(ctx, "the draft of a sent mail was gone already", "user", user.Email, "draftId", draft)
			} else if err != nil {
				s.log.WarnContext(ctx, "the draft of a sent mail was not deleted", "user", user.Email, "draftId", draft, "err", err)
			}
		}
	}
	if err := s.store.DeleteUploads(ctx, owner, uids); err != nil {
		s.log.WarnContext(ctx, "the uploads of a sent mail were not deleted (they expire within a day)", "err", err)
	}
	return gen.SendEmail200Response{}, nil
}

// senderOf is the From of the user's mail: its name and address.
func senderOf(u *db.User) string {
	name := strings.TrimSpace(deref(u.Firstname, "") + " " + deref(u.Lastname, ""))
	if name == "" || strings.ContainsAny(name, "\r\n\x00") {
		return u.Email
	}
	return (&mail.Address{Name: name, Address: u.Email}).String()
}

// envelope is the recipients of the lists (to, cc, bcc, in that order),
// each once, bare addresses; fields names each by its place in the request
// ("to.0": "cc.1"), for the relay's refusal of one.
func envelope(lists map[string][]string) ([]string, map[string]string) {
	var rcpts []string
	fields := map[string]string{}
	seen := map[string]bool{}
	for _, list := range []string{"to", "cc", "bcc"} {
		for i, r := range lists[list] {
			addr := strings.TrimSpace(r)
			if a, err := mail.ParseAddress(r); err == nil {
				addr = a.Address
			}
			if seen[strings.ToLower(addr)] {
				continue
			}
			seen[strings.ToLower(addr)] = true
			fields[fmt.Sprintf("to.%d", len(rcpts))] = fmt.Sprintf("%s.%d", list, i)
			rcpts = append(rcpts, addr)
		}
	}
	return rcpts, fields
}

// renamed is err with its field named as the request names it: a field of
// names, or one whose first element is ("references.2": "originId").
func renamed(err error, names map[string]string) error {
	e, ok := fault.As(err)
	if !ok || e.Field == "" {
		return err
	}
	field := e.Field
	if n, ok := names[field]; ok {
		field = n
	} else if head, _, _ := strings.Cut(field, "."); names[head] != "" {
		field = names[head]
	}
	if field == e.Field {
		return err
	}
	out := *e
	out.Field = field
	return &out
}
