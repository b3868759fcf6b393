package api

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/oapi-codegen/nullable"

	"github.com/cleanmail/cleanmail/db"
	"github.com/cleanmail/cleanmail/gen"
	"github.com/cleanmail/cleanmail/pkg/fault"
	"github.com/cleanmail/cleanmail/pkg/mailstore"
	"github.com/cleanmail/cleanmail/pkg/message"
	"github.com/cleanmail/cleanmail/pkg/names"
	"github.com/cleanmail/cleanmail/pkg/submit"
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
			ChildrenUri: nullOf[string](), MessageCount: count(f.Messages), UnreadMessageCount: count(f.Unseen)}
		if f.HasChildren {
			out[i].ChildrenUri = nullable.NewNullableWithValue(base + "folders/" + url.PathEscape(f.Path))
		}
	}
	return out, nil
}

func count(n *uint32) nullable.Nullable[int32] {
	if n == nil {
		return nullOf[int32]()
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
		Headers: m.Headers, Attachments: nullOf[gen.ImapMessageAttachmentListOrNull](),
		Seen: m.Has(imap.FlagSeen), Answered: m.Has(imap.FlagAnswered), Recent: m.Has(`\Recent`), Deleted: m.Has(imap.FlagDeleted),
		HasAttachments: m.HasAttachments, Important: m.Important,
		SentDate: m.SentDate.UnixMilli(), Subject: m.Subject, From: m.From, To: m.To, Cc: m.Cc, Bcc: m.Bcc,
		Size: int32(min(m.Size, math.MaxInt32)),
	}
}

// heldMessage is the message of the user's folder that id names (a UID, a
// Message-ID or an X-Fuglu-Id), with its source.
func (s *Server) heldMessage(ctx context.Context, folder, id string) (mailstore.Summary, []byte, error) {
	mail, user, err := s.mailbox(ctx)
	if err != nil {
		return mailstore.Summary{}, nil, err
	}
	return mail.Raw(ctx, user, folder, id)
}

// emailFields are what GetEmail may be asked for.
type emailFields struct{ headers, body, source, attachments bool }

func parseEmailFields(v *string) (emailFields, error) {
	var f emailFields
	raw := deref(v, "HEADERS")
	for _, item := range strings.Split(raw, ",") {
		switch strings.ToUpper(strings.TrimSpace(item)) {
		case "HEADERS":
			f.headers = true
		case "BODY":
			f.body = true
		case "SOURCE":
			f.source = true
		case "ATTACHMENTS":
			f.attachments = true
		case "":
		default:
			return f, badField("fields", "%q is not a field of a message (HEADERS, BODY, SOURCE or ATTACHMENTS are)", strings.TrimSpace(item))
		}
	}
	return f, nil
}

// owner reports whether the caller is the mailbox's owner: the end user
// itself, or an administrator holding a temporary token of that user
// (IMPERSONATE); only the owner reads bodies and sources.
func owner(ctx context.Context) bool {
	p := principalFrom(ctx)
	u := targetOf(ctx).user
	return p != nil && p.User != nil && u != nil && p.User.ID == u.ID
}

// GetEmail returns one message of a folder, with what fields asks for.
func (s *Server) GetEmail(ctx context.Context, req gen.GetEmailRequestObject) (gen.GetEmailResponseObject, error) {
	fields, err := parseEmailFields(req.Params.Fields)
	if err != nil {
		return nil, err
	}
	sum, raw, err := s.heldMessage(ctx, req.FolderPath, req.MessageId)
	if err != nil {
		return nil, err
	}
	m, err := message.Read(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	list := s.messageOut(ctx, req.FolderPath, &sum)
	out := gen.ImapMessageContent{
		Id: list.Id, Uri: list.Uri, Headers: map[string][]string{}, Attachments: list.Attachments,
		Seen: list.Seen, Answered: list.Answered, Recent: list.Recent, Deleted: list.Deleted,
		HasAttachments: list.HasAttachments, Important: list.Important, SentDate: list.SentDate,
		Subject: list.Subject, From: list.From, To: list.To, Cc: list.Cc, Bcc: list.Bcc, Size: list.Size,
		Content: nullOf[string](), Source: nullOf[string](),
	}
	if fields.headers {
		for _, f := range m.Headers {
			out.Headers[f.Key] = append(out.Headers[f.Key], f.Value)
		}
	}
	if fields.attachments {
		out.Attachments = nullable.NewNullableWithValue(gen.ImapMessageAttachmentListOrNull(s.attachmentsOut(ctx, req.FolderPath, sum.UID, m)))
	}
	if owner(ctx) {
		if fields.body {
			out.Content = nullable.NewNullableWithValue(m.Body)
		}
		if fields.source {
			out.Source = nullable.NewNullableWithValue(string(raw))
		}
	}
	return gen.GetEmail200JSONResponse(out), nil
}

func (s *Server) attachmentsOut(ctx context.Context, folder string, uid imap.UID, m *message.Message) gen.ImapMessageAttachmentList {
	base := s.messageURI(ctx, folder, uid) + "/attachments"
	out := gen.ImapMessageAttachmentList{Items: make([]gen.ImapMessageAttachment, len(m.Attachments)),
		ArchiveUri: base + "?dl=true", Count: int32(len(m.Attachments))}
	for i, a := range m.Attachments {
		out.Items[i] = gen.ImapMessageAttachment{Id: a.PartID, Name: a.Filename, Type: a.ContentType,
			Size: int32(min(a.Size, math.MaxInt32)), DownloadUri: base + "/" + a.PartID + "?dl=true", DisplayUri: base + "/" + a.PartID}
	}
	return out
}

// GetEmailAttachments lists the attachments of a message or, with dl=true,
// streams them all as one zip archive.
func (s *Server) GetEmailAttachments(ctx context.Context, req gen.GetEmailAttachmentsRequestObject) (gen.GetEmailAttachmentsResponseObject, error) {
	sum, raw, err := s.heldMessage(ctx, req.FolderPath, req.MessageId)
	if err != nil {
		return nil, err
	}
	m, err := message.Read(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	if !deref(req.Params.Dl, false) {
		return gen.GetEmailAttachments200JSONResponse{Body: s.attachmentsOut(ctx, req.FolderPath, sum.UID, m)}, nil
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(zipAttachments(pw, raw, m.Attachments)) }()
	name := "attachments-" + strconv.FormatUint(uint64(sum.UID), 10) + ".zip"
	return gen.GetEmailAttachments200ApplicationzipResponse{Body: pr,
		Headers: gen.GetEmailAttachments200ResponseHeaders{ContentDisposition: ptr(disposition(true, name))}}, nil
}

// zipAttachments writes every attachment of raw into one zip archive, part
// by part, as the response is sent; two files of one name are told apart
// ("a.pdf", "a (2).pdf").
func zipAttachments(w io.Writer, raw []byte, atts []message.Attachment) error {
	z := zip.NewWriter(w)
	seen := map[string]int{}
	for _, a := range atts {
		body, _, _, err := message.Part(bytes.NewReader(raw), a.PartID)
		if err != nil {
			return err
		}
		name := a.Filename
		if name == "" {
			name = "part-" + a.PartID
		}
		name = strings.NewReplacer("/", "_", "\\", "_").Replace(name)
		if n := seen[name]; n > 0 {
			ext := path.Ext(name)
			seen[name]++
			name = fmt.Sprintf("%s (%d)%s", strings.TrimSuffix(name, ext), n+1, ext)
		} else {
			seen[name] = 1
		}
		f, err := z.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate, Modified: time.Now()})
		if err != nil {
			return err
		}
		if _, err := io.Copy(f, body); err != nil {
			return err
		}
	}
	return z.Close()
}

// disposition is a Content-Disposition for name (RFC 6266: filename*
// for names beyond ASCII).
func disposition(download bool, name string) string {
	kind := "inline"
	if download {
		kind = "attachment"
	}
	if name == "" {
		return kind
	}
	if v := mime.FormatMediaType(kind, map[string]string{"filename": name}); v != "" {
		return v
	}
	return kind
}

// DownloadEmailAttachmentPart streams one part of a message with its own
// type: as a download with dl=true, inline otherwise.
func (s *Server) DownloadEmailAttachmentPart(ctx context.Context, req gen.DownloadEmailAttachmentPartRequestObject) (gen.DownloadEmailAttachmentPartResponseObject, error) {
	_, raw, err := s.heldMessage(ctx, req.FolderPath, req.MessageId)
	if err != nil {
		return nil, err
	}
	body, ctype, name, err := message.Part(bytes.NewReader(raw), req.PartId)
	if err != nil {
		return nil, err
	}
	return gen.DownloadEmailAttachmentPart200AsteriskResponse{Body: body, ContentType: ctype,
		Headers: gen.DownloadEmailAttachmentPart200ResponseHeaders{ContentDisposition: ptr(disposition(deref(req.Params.Dl, false), name))}}, nil
}

// ReleaseEmail re-injects a held message to its mailbox, through the
// domain's platform: its spam tag removed, every other byte as it was.
// An infected message needs X-Virus-Lover, a clean one must not have it
// (412 both). A released message is marked ($Released): releasing it again
// sends nothing.
func (s *Server) ReleaseEmail(ctx context.Context, req gen.ReleaseEmailRequestObject) (gen.ReleaseEmailResponseObject, error) {
	sum, raw, err := s.heldMessage(ctx, req.FolderPath, req.MessageId)
	if err != nil {
		return nil, err
	}
	infected, lover := message.Infected(raw, s.virusHdr), req.Params.XVirusLover != nil
	switch {
	case infected && !lover:
		return nil, fault.Fail(fault.PreconditionFailed, "", "Release not allowed: the message is infected; send the X-Virus-Lover header to release it anyway.")
	case !infected && lover:
		return nil, fault.Fail(fault.PreconditionFailed, "", "Release not allowed: X-Virus-Lover was sent, but the message is not infected.")
	}
	if err := s.release(ctx, targetOf(ctx).user, req.FolderPath, sum, raw); err != nil {
		return nil, err
	}
	return gen.ReleaseEmail204Response{}, nil
}

// release sends a held message of the user's folder to the user through
// its platform, its spam tag removed, and marks it $Released; one marked
// already is not sent again.
func (s *Server) release(ctx context.Context, user *db.User, folder string, sum mailstore.Summary, raw []byte) error {
	if sum.Has(mailstore.Released) {
		return nil
	}
	d, err := s.store.DeliveryOf(ctx, user)
	if err != nil {
		return err
	}
	out := message.StripSpamTag(raw, d.PrefixSpam)
	if err := s.submit.Send(ctx, relaysOf(d.Platform), envelopeSender(raw), []string{user.Email}, out); err != nil {
		return err
	}
	// The message is out: a failure to mark it must not make the client
	// retry (it would be sent twice); it is logged, and a second release
	// would send it again.
	if err := s.mail.AddFlag(ctx, user.Email, folder, sum.UID, mailstore.Released); err != nil {
		s.log.WarnContext(ctx, "released but not marked $Released", "user", user.Email, "folder", folder, "uid", sum.UID, "err", err)
	}
	return nil
}

// relaysOf is a platform's transport, then its fallback.
func relaysOf(p db.Platform) []submit.Relay {
	relay := func(host, kind string, port int) submit.Relay {
		r := submit.Relay{Host: host, Port: port}
		switch gen.TransportType(kind) {
		case gen.TransportTypeSMTPSENCRYPT:
			r.Security = submit.StartTLS
		case gen.TransportTypeSMTPSMAY:
			r.Security = submit.StartTLSMay
		}
		return r
	}
	out := []submit.Relay{relay(p.TransportDest, p.TransportType, p.TransportPort)}
	if p.FallbackTransportDest != nil && *p.FallbackTransportDest != "" {
		out = append(out, relay(*p.FallbackTransportDest, deref(p.FallbackTransportType, p.TransportType), deref(p.FallbackTransportPort, p.TransportPort)))
	}
	return out
}

// envelopeSender is the sender a released message goes out from: its
// Return-Path (the original envelope sender, as the gateway stored it),
// else the null sender (no bounce of a release goes back to anyone).
func envelopeSender(raw []byte) string {
	for rest := raw; len(rest) > 0; {
		var l []byte
		l, rest, _ = bytes.Cut(rest, []byte("\n"))
		line := strings.TrimRight(string(l), "\r")
		if line == "" {
			break // the end of the header
		}
		if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(k, "Return-Path") {
			if addr, err := names.Mailbox(strings.Trim(strings.TrimSpace(v), "<>")); err == nil {
				return addr
			}
			return ""
		}
	}
	return ""
}
