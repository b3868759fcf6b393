package api_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/cleanmail/cleanmail/pkg/api"
)

// multipartFile is a multipart/form-data body with one part (field) named
// name, holding content; it returns the body and its Content-Type.
func multipartFile(t testing.TB, field, name, contentType string, content []byte) ([]byte, string) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="%s"; filename="%s"`, field, strings.ReplaceAll(name, `"`, `\"`)))
	if contentType != "" {
		h.Set("Content-Type", contentType)
	}
	pw, err := w.CreatePart(h)
	if err != nil {
		t.Fatal(err)
	}
	pw.Write(content)
	w.Close()
	return buf.Bytes(), w.FormDataContentType()
}

// upload uploads content as name and returns the AttachmentFile.
func (e *env) upload(token, name, contentType string, content []byte) map[string]any {
	e.t.Helper()
	body, ct := multipartFile(e.t, "file", name, contentType, content)
	return e.do(req{Method: "POST", Path: "/emails/attachments", Body: body, Token: token, Header: map[string]string{"Content-Type": ct}}).expect(200).json()
}

func TestUploadDownloadDelete(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) {
		stark := e.newDomain("stark.net", map[string]any{"quarantine": true})
		e.newUser(stark, "arya@stark.net")
		_, ned := e.domainAdmin(stark, "ned", "USER_READ", "MAIL_SEND")
		arya := e.tempToken(t, "arya@stark.net")

		content := []byte("%PDF-1.4 not really\r\n\x00\xff")
		f := e.upload("", "C:\\Users\\ned\\report.pdf", "application/pdf", content)
		uid, _ := f["uid"].(string)
		if len(uid) != 32 || f["name"] != "report.pdf" || f["type"] != "application/pdf" || f["size"] != float64(len(content)) ||
			f["uri"] != "/emails/attachments/"+uid+"/report.pdf" {
			t.Fatalf("the upload: %v", f)
		}
		if exp := int64(f["expirationDate"].(float64)); exp < time.Now().Add(23*time.Hour).UnixMilli() || exp > time.Now().Add(25*time.Hour).UnixMilli() {
			t.Errorf("expirationDate %d is not a day from now", exp)
		}
		r := e.do(req{Method: "GET", Path: f["uri"].(string)}).expect(200)
		if !bytes.Equal(r.Body, content) || r.Header.Get("Content-Type") != "application/pdf" ||
			r.Header.Get("Content-Disposition") != `attachment; filename="report.pdf"` {
			t.Errorf("download: %q, %s, %s", r.Body, r.Header.Get("Content-Type"), r.Header.Get("Content-Disposition"))
		}
		// Nobody else reaches it, sysadmins included: ned's, arya's.
		for who, tok := range map[string]string{"ned": ned, "arya": arya} {
			e.do(req{Method: "GET", Path: f["uri"].(string), Token: tok}).problem(404, "File not found.")
			e.do(req{Method: "DELETE", Path: f["uri"].(string), Token: tok}).problem(404, "File not found.")
			_ = who
		}
		mine := e.upload(arya, "Überfällig € \"x\".txt", "", []byte("hello"))
		if mine["type"] != "application/octet-stream" {
			t.Errorf("an upload without a type: %v", mine["type"])
		}
		e.do(req{Method: "GET", Path: mine["uri"].(string)}).problem(404, "File not found.")
		r = e.do(req{Method: "GET", Path: mine["uri"].(string), Token: arya}).expect(200)
		if want := `attachment; filename="_berf_llig _ _x_.txt"; filename*=UTF-8''%C3%9Cberf%C3%A4llig%20%E2%82%AC%20%22x%22.txt`; r.Header.Get("Content-Disposition") != want {
			t.Errorf("Content-Disposition %s, want %s", r.Header.Get("Content-Disposition"), want)
		}
		if mine["uri"] != "/emails/attachments/"+mine["uid"].(string)+"/"+url.PathEscape("Überfällig € \"x\".txt") {
			t.Errorf("uri %v", mine["uri"])
		}
		// The name in the path must be the upload's.
		e.do(req{Method: "GET", Path: "/emails/attachments/" + uid + "/other.pdf"}).problem(404, "File not found.")
		e.do(req{Method: "GET", Path: "/emails/attachments/" + strings.Repeat("0", 32) + "/report.pdf"}).problem(404, "File not found.")
		e.do(req{Method: "DELETE", Path: "/emails/attachments/" + uid + "/report.PDF"}).problem(404, "File not found.")
		e.do(req{Method: "DELETE", Path: f["uri"].(string)}).expect(204)
		e.do(req{Method: "GET", Path: f["uri"].(string)}).problem(404, "File not found.")
		e.do(req{Method: "DELETE", Path: f["uri"].(string)}).problem(404, "File not found.")

		// An expired upload is gone for its owner too, and purged.
		old := e.upload("", "old.txt", "text/plain", []byte("old"))
		sqlDB, err := e.store.SQL()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sqlDB.Exec(fmt.Sprintf("UPDATE uploads SET expires_at = %d WHERE uid = '%s'", time.Now().Add(-time.Second).UnixMilli(), old["uid"])); err != nil {
			t.Fatal(err)
		}
		e.do(req{Method: "GET", Path: old["uri"].(string)}).problem(404, "File not found.")
		e.do(req{Method: "DELETE", Path: old["uri"].(string)}).problem(404, "File not found.")
		if n, err := e.store.PurgeExpiredUploads(context.Background(), time.Now().UnixMilli()); err != nil || n != 1 {
			t.Errorf("purge: %d, %v; want the one expired upload", n, err)
		}
		e.do(req{Method: "GET", Path: mine["uri"].(string), Token: arya}).expect(200) // not expired: kept

		// No part named file (the validator's 400), a name with a control
		// character (it would go to headers), no name.
		body, ct := multipartFile(t, "other", "a.txt", "", []byte("x"))
		e.do(req{Method: "POST", Path: "/emails/attachments", Body: body, Header: map[string]string{"Content-Type": ct}}).problem(400, "")
		body, ct = multipartFile(t, "file", "a\tb.txt", "", []byte("x"))
		e.do(req{Method: "POST", Path: "/emails/attachments", Body: body, Header: map[string]string{"Content-Type": ct}}).problem(400, "file: The file name may not contain control characters")
		body, ct = multipartFile(t, "file", "", "", []byte("x"))
		e.do(req{Method: "POST", Path: "/emails/attachments", Body: body, Header: map[string]string{"Content-Type": ct}}).problem(400, "")
	})
}

// CLEANMAIL_MAX_UPLOAD bounds an upload: 413 beyond, whether the body
// declares its length or not.
func TestUploadTooLarge(t *testing.T) {
	t.Parallel()
	forEachDBWith(t, func(o *api.Options) { o.Limits.MaxUpload = 4096 }, func(t *testing.T, e *env) {
		body, ct := multipartFile(t, "file", "big.bin", "", bytes.Repeat([]byte("x"), 5000))
		e.do(req{Method: "POST", Path: "/emails/attachments", Body: body, Header: map[string]string{"Content-Type": ct}}).problem(413, "4096 bytes")
		// Chunked: no Content-Length to refuse it by.
		status, _, out := e.send(t, "POST", "/emails/attachments", adminToken, io.MultiReader(bytes.NewReader(body)), -1, map[string]string{"Content-Type": ct})
		if status != http.StatusRequestEntityTooLarge {
			t.Errorf("a chunked upload over the limit: %d %s", status, out)
		}
		small, ct := multipartFile(t, "file", "small.bin", "", bytes.Repeat([]byte("x"), 3000))
		e.do(req{Method: "POST", Path: "/emails/attachments", Body: small, Header: map[string]string{"Content-Type": ct}}).expect(200)
	})
}
