package api

import (
	"context"
	"errors"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/oapi-codegen/nullable"

	"github.com/cleanmail/cleanmail/gen"
	"github.com/cleanmail/cleanmail/pkg/fault"
	"github.com/cleanmail/cleanmail/pkg/mailstore"
)

// The mail operations (5.7) read the mailbox of the user of the path on the
// mail store, logged in as that user through the master user. The access
// layer has resolved the user (onUser); its address is its login.

// mailbox is the store and the login of the request's user.
func (s *Server) mailbox(ctx context.Context) (*mailstore.Store, string, error) {
	if s.mail == nil {
		return nil, "", fault.PeerFailure("the mail store (IMAP)", errors.New("no mail store is configured"))
	}
	return s.mail, targetOf(ctx).user.Email, nil
}

// GetFolders lists the top-level folders of the user's mailbox.
func (s *Server) GetFolders(ctx context.Context, req gen.GetFoldersRequestObject) (gen.GetFoldersResponseObject, error) {
	out, err := s.folders(ctx, "", req.Params.Fields)
	if err != nil {
		return nil, err
	}
	return gen.GetFolders200JSONResponse{Body: out, Headers: gen.GetFolders200ResponseHeaders{XTotalCount: int64(len(out))}}, nil
}

// GetFolder lists the folders directly under one folder of the mailbox.
func (s *Server) GetFolder(ctx context.Context, req gen.GetFolderRequestObject) (gen.GetFolderResponseObject, error) {
	out, err := s.folders(ctx, req.FolderPath, req.Params.Fields)
	if err != nil {
		return nil, err
	}
	return gen.GetFolder200JSONResponse{Body: out, Headers: gen.GetFolder200ResponseHeaders{XTotalCount: int64(len(out))}}, nil
}

func (s *Server) folders(ctx context.Context, parent string, fields *string) ([]gen.ImapFolder, error) {
	stats := false
	for _, f := range strings.Split(deref(fields, ""), ",") {
		switch strings.ToUpper(strings.TrimSpace(f)) {
		case "":
		case "STATS":
			stats = true
		default:
			return nil, badField("fields", "%q is not a field of a folder (STATS is)", strings.TrimSpace(f))
		}
	}
	mail, user, err := s.mailbox(ctx)
	if err != nil {
		return nil, err
	}
	list, err := mail.Folders(ctx, user, parent, stats)
	if err != nil {
		return nil, err
	}
	base := "/users/" + s.id(targetOf(ctx).key) + "/emails/"
	out := make([]gen.ImapFolder, len(list))
	for i, f := range list {
		out[i] = gen.ImapFolder{Name: f.Name, Path: f.Path, MessagesUri: base + url.PathEscape(f.Path),
			ChildrenUri: nullable.NewNullNullable[string](), MessageCount: count(f.Messages), UnreadMessageCount: count(f.Unseen)}
		if f.HasChildren {
			out[i].ChildrenUri = nullable.NewNullableWithValue(base + "folders/" + url.PathEscape(f.Path))
		}
	}
	return out, nil
}

func count(n *uint32) nullable.Nullable[int32] {
	if n == nil {
		return nullable.NewNullNullable[int32]()
	}
	return nullable.NewNullableWithValue(int32(min(*n, math.MaxInt32)))
}

// GetFolderContent lists one page of the messages of a folder that match
// the criteria, in the order asked.
func (s *Server) GetFolderContent(ctx context.Context, req gen.GetFolderContentRequestObject) (gen.GetFolderContentResponseObject, error) {
	p := req.Params
	q := mailstore.Query{From: deref(p.From, ""), To: deref(p.To, ""), Cc: deref(p.Cc, ""), Subject: deref(p.Subject, ""),
		Body: deref(p.Body, ""), ID: deref(p.Id, ""), Operator: mailstore.Operator(deref(p.Operator, gen.SearchOperatorAND))}
	if p.ReceivedAfter != nil {
		q.ReceivedAfter = ptr(time.UnixMilli(*p.ReceivedAfter))
	}
	if p.ReceivedBefore != nil {
		q.ReceivedBefore = ptr(time.UnixMilli(*p.ReceivedBefore))
	}
	mail, user, err := s.mailbox(ctx)
	if err != nil {
		return nil, err
	}
	found, err := mail.Search(ctx, user, req.FolderPath, q, page(p.Offset, p.PageSize, p.Sort))
	if err != nil {
		return nil, err
	}
	out := make([]gen.ImapMessage, len(found.Messages))
	for i := range found.Messages {
		out[i] = s.messageOut(ctx, req.FolderPath, &found.Messages[i])
	}
	return gen.GetFolderContent200JSONResponse{Body: out, Headers: gen.GetFolderContent200ResponseHeaders{XTotalCount: int64(found.Total)}}, nil
}

// messageURI is the path of a message of the request's user.
func (s *Server) messageURI(ctx context.Context, folder string, uid imap.UID) string {
	return "/users/" + s.id(targetOf(ctx).key) + "/emails/" + url.PathEscape(folder) + "/" + strconv.FormatUint(uint64(uid), 10)
}

func (s *Server) messageOut(ctx context.Context, folder string, m *mailstore.Summary) gen.ImapMessage {
	return gen.ImapMessage{
		Id: strconv.FormatUint(uint64(m.UID), 10), Uri: s.messageURI(ctx, folder, m.UID),
		Headers: m.Headers, Attachments: nullable.NewNullNullable[gen.ImapMessageAttachmentListOrNull](),
		Seen: m.Has(imap.FlagSeen), Answered: m.Has(imap.FlagAnswered), Recent: m.Has(`\Recent`), Deleted: m.Has(imap.FlagDeleted),
		HasAttachments: m.HasAttachments, Important: m.Important,
		SentDate: m.SentDate.UnixMilli(), Subject: m.Subject, From: m.From, To: m.To, Cc: m.Cc, Bcc: m.Bcc,
		Size: int32(min(m.Size, math.MaxInt32)),
	}
}
