package api

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cleanmail/cleanmail/db"
	"github.com/cleanmail/cleanmail/gen"
	"github.com/cleanmail/cleanmail/pkg/fault"
)

// Uploads (5.7.1, 5.7.4, 5.7.11) are files kept in the database for a day,
// to be attached to an e-mail; each belongs to its uploader, and anyone
// else (sysadmins too) is told it does not exist.

// uploadOwner is the caller, whose uploads the request may reach.
func uploadOwner(ctx context.Context) (db.UploadOwner, error) {
	p := principalFrom(ctx)
	switch {
	case p != nil && p.Admin != nil:
		return db.UploadOwner{AdminID: p.Admin.ID}, nil
	case p != nil && p.User != nil:
		return db.UploadOwner{UserID: p.User.ID}, nil
	}
	return db.UploadOwner{}, unauthorized("Authentication required.")
}

// uploadNotFound says the caller has no such upload (or no longer).
func uploadNotFound(err error) error {
	if errors.Is(err, db.ErrNotFound) {
		return fault.NotFoundOf(fault.Upload)
	}
	return err
}

// UploadAttachment stores the part "file" of the multipart body (bounded by
// the upload limit before it is read) for the caller, for a day.
func (s *Server) UploadAttachment(ctx context.Context, req gen.UploadAttachmentRequestObject) (gen.UploadAttachmentResponseObject, error) {
	owner, err := uploadOwner(ctx)
	if err != nil {
		return nil, err
	}
	if req.Body == nil {
		return nil, badField("file", "The body must be multipart/form-data with a part named file.")
	}
	var up *db.Upload
	for {
		part, err := req.Body.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, readFailure(err)
		}
		if part.FormName() != "file" {
			_, _ = io.Copy(io.Discard, part)
			continue
		}
		if up != nil {
			return nil, badField("file", "Send one file per upload.")
		}
		if up, err = uploadOf(part); err != nil {
			return nil, err
		}
	}
	if up == nil {
		return nil, badField("file", "The body has no part named file.")
	}
	up.UID, err = newUploadUID()
	if err != nil {
		return nil, err
	}
	if err := s.store.CreateUpload(ctx, owner, up); err != nil {
		return nil, err
	}
	return gen.UploadAttachment200JSONResponse(attachmentFileOf(up)), nil
}

// readFailure is a body that could not be read: too large (413), or cut.
func readFailure(err error) error {
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return tooLarge
	}
	return badField("file", "The multipart body could not be read (malformed, or the connection closed).")
}

// uploadOf reads one file part: its name (the last element of the path a
// client may send, RFC 7578 4.2), its media type, its bytes.
func uploadOf(part *multipart.Part) (*db.Upload, error) {
	name := part.FileName()
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	switch {
	case name == "" || name == "." || name == "..":
		return nil, badField("file", "The part file needs a file name (Content-Disposition: form-data; name=\"file\"; filename=\"…\").")
	case !utf8.ValidString(name) || strings.ContainsFunc(name, func(r rune) bool { return r < ' ' || r == 0x7f }):
		return nil, badField("file", "The file name may not contain control characters (CR, LF, NUL, …) and must be UTF-8.")
	case utf8.RuneCountInString(name) > 255:
		return nil, badField("file", "The file name is longer than 255 characters.")
	}
	ct := "application/octet-stream"
	if mt, params, err := mime.ParseMediaType(part.Header.Get("Content-Type")); err == nil && !strings.HasPrefix(mt, "multipart/") {
		if formatted := mime.FormatMediaType(mt, params); formatted != "" && len(formatted) <= 255 {
			ct = formatted
		}
	}
	content, err := io.ReadAll(part)
	if err != nil {
		return nil, readFailure(err)
	}
	return &db.Upload{Name: name, ContentType: ct, Content: content}, nil
}

// newUploadUID is 128 random bits in hexadecimal: unguessable.
func newUploadUID() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

func attachmentFileOf(u *db.Upload) gen.AttachmentFile {
	return gen.AttachmentFile{Uid: u.UID, Name: u.Name, Type: u.ContentType, Size: u.Size, ExpirationDate: u.ExpiresAt,
		Uri: "/emails/attachments/" + u.UID + "/" + url.PathEscape(u.Name)}
}

// upload is the caller's unexpired upload uid named filename, with its
// bytes when content is set.
func (s *Server) upload(ctx context.Context, uid, filename string, content bool) (db.UploadOwner, *db.Upload, error) {
	owner, err := uploadOwner(ctx)
	if err != nil {
		return owner, nil, err
	}
	u, err := s.store.GetUpload(ctx, owner, uid, time.Now().UnixMilli(), content)
	if err != nil {
		return owner, nil, uploadNotFound(err)
	}
	if u.Name != filename {
		return owner, nil, fault.NotFoundOf(fault.Upload)
	}
	return owner, u, nil
}

// DownloadAttachment sends the caller's upload back, as an attachment.
func (s *Server) DownloadAttachment(ctx context.Context, req gen.DownloadAttachmentRequestObject) (gen.DownloadAttachmentResponseObject, error) {
	_, u, err := s.upload(ctx, req.Uid, req.Filename, true)
	if err != nil {
		return nil, err
	}
	disposition := contentDisposition(u.Name)
	return gen.DownloadAttachment200AsteriskResponse{Body: bytes.NewReader(u.Content), ContentType: u.ContentType,
		ContentLength: u.Size, Headers: gen.DownloadAttachment200ResponseHeaders{ContentDisposition: &disposition}}, nil
}

// DeleteAttachment deletes the caller's upload.
func (s *Server) DeleteAttachment(ctx context.Context, req gen.DeleteAttachmentRequestObject) (gen.DeleteAttachmentResponseObject, error) {
	owner, _, err := s.upload(ctx, req.Uid, req.Filename, false)
	if err != nil {
		return nil, err
	}
	if err := s.store.DeleteUpload(ctx, owner, req.Uid, time.Now().UnixMilli()); err != nil {
		return nil, uploadNotFound(err)
	}
	return gen.DeleteAttachment204Response{}, nil
}

// contentDisposition is `attachment` with the file's name (RFC 6266): an
// ASCII fallback in filename, the exact name in filename* (RFC 8187)
// when it is not plain ASCII.
func contentDisposition(name string) string {
	ascii := true
	for _, r := range name {
		if r < ' ' || r > '~' {
			ascii = false
			break
		}
	}
	if ascii {
		return `attachment; filename="` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(name) + `"`
	}
	fallback := strings.Map(func(r rune) rune {
		if r < ' ' || r > '~' || r == '"' || r == '\\' {
			return '_'
		}
		return r
	}, name)
	return `attachment; filename="` + fallback + `"; filename*=UTF-8''` + rfc8187(name)
}

// rfc8187 percent-encodes every byte but attr-char (RFC 8187 3.2.1).
func rfc8187(s string) string {
	const attrChar = "!#$&+-.^_`|~"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte(attrChar, c) >= 0 {
			b.WriteByte(c)
		} else {
			b.WriteString("%" + strings.ToUpper(hex.EncodeToString([]byte{c})))
		}
	}
	return b.String()
}
