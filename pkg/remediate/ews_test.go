package remediate_test

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cleanmail/cleanmail/pkg/relaycheck"
	"github.com/cleanmail/cleanmail/pkg/remediate"
)

// fakeExchange is an on-premises Exchange's EWS as the published request
// and response formats have it (FindFolder, FindItem, GetItem,
// DeleteItem), over TLS on loopback: Basic authentication of one account
// that impersonates the users (ExchangeImpersonation/ConnectingSID/
// SmtpAddress), each user's folders and messages held in memory.
type fakeExchange struct {
	login, password string
	srv             *httptest.Server
	// page caps the folders or items of one Find answer, below what was
	// asked for, as a server's throttling policy does.
	page int

	mu        sync.Mutex
	mailboxes map[string][]*fakeFolder // by SMTP address
	denied    map[string]bool          // the login may not impersonate them
	dumpster  map[string][]*fakeItem   // soft-deleted items, by mailbox
	searched  []string                 // the folders FindItem searched, by name
	ids       int
}

type fakeFolder struct {
	id, name string
	kind     string // Folder, CalendarFolder, SearchFolder…
	items    []*fakeItem
}

type fakeItem struct {
	id, changeKey, subject, messageID string
	mime                              []byte
}

func startExchange(t *testing.T) *fakeExchange {
	t.Helper()
	x := &fakeExchange{login: `CORP\svc-remediate`, password: "ews-pa55", page: 2,
		mailboxes: map[string][]*fakeFolder{}, denied: map[string]bool{}, dumpster: map[string][]*fakeItem{}}
	x.srv = startTLS(t, http.HandlerFunc(x.serve))
	return x
}

// startTLS starts an HTTPS server on loopback, its certificate for
// 127.0.0.1 (httptest's), its handshake errors (the untrusted-certificate
// cases) not logged.
func startTLS(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func (x *fakeExchange) target() remediate.Target {
	host, port, _ := net.SplitHostPort(x.srv.Listener.Addr().String())
	p, _ := strconv.Atoi(port)
	return remediate.Target{Type: remediate.TypeExchange, Host: host, Port: p, Login: x.login, Password: x.password}
}

func (x *fakeExchange) roots() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(x.srv.Certificate())
	return pool
}

// add stores raw in mailbox's folder (a mail folder, created when
// missing, or of kind when given).
func (x *fakeExchange) add(mailbox, folder, messageID, subject string, raw []byte, kind ...string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.ids++
	var f *fakeFolder
	for _, ff := range x.mailboxes[mailbox] {
		if ff.name == folder {
			f = ff
		}
	}
	if f == nil {
		f = &fakeFolder{id: fmt.Sprintf("AAMkFolder%d==", x.ids), name: folder, kind: "Folder"}
		if len(kind) > 0 {
			f.kind = kind[0]
		}
		x.mailboxes[mailbox] = append(x.mailboxes[mailbox], f)
	}
	if raw != nil {
		f.items = append(f.items, &fakeItem{id: fmt.Sprintf("AAMkItem%d+/=", x.ids), changeKey: "CQAAAB" + strconv.Itoa(x.ids),
			subject: subject, messageID: messageID, mime: raw})
	}
}

// messageIDs is folder → the Internet message ids of mailbox.
func (x *fakeExchange) messageIDs(mailbox string) map[string][]string {
	x.mu.Lock()
	defer x.mu.Unlock()
	out := map[string][]string{}
	for _, f := range x.mailboxes[mailbox] {
		ids := []string{}
		for _, it := range f.items {
			ids = append(ids, it.messageID)
		}
		slices.Sort(ids)
		out[f.name] = ids
	}
	return out
}

// The request, as encoding/xml reads the parts the fake acts on.
type ewsRequest struct {
	Header struct {
		Version struct {
			Version string `xml:"Version,attr"`
		} `xml:"http://schemas.microsoft.com/exchange/services/2006/types RequestServerVersion"`
		Impersonation *struct {
			SMTP string `xml:"http://schemas.microsoft.com/exchange/services/2006/types ConnectingSID>SmtpAddress"`
		} `xml:"http://schemas.microsoft.com/exchange/services/2006/types ExchangeImpersonation"`
	} `xml:"http://schemas.xmlsoap.org/soap/envelope/ Header"`
	Body struct {
		FindFolder *struct {
			Traversal string  `xml:"Traversal,attr"`
			View      ewsView `xml:"http://schemas.microsoft.com/exchange/services/2006/messages IndexedPageFolderView"`
			Parent    struct {
				Distinguished []struct {
					ID string `xml:"Id,attr"`
				} `xml:"http://schemas.microsoft.com/exchange/services/2006/types DistinguishedFolderId"`
			} `xml:"http://schemas.microsoft.com/exchange/services/2006/messages ParentFolderIds"`
		} `xml:"http://schemas.microsoft.com/exchange/services/2006/messages FindFolder"`
		FindItem *struct {
			Traversal   string   `xml:"Traversal,attr"`
			Shape       ewsShape `xml:"http://schemas.microsoft.com/exchange/services/2006/messages ItemShape"`
			View        ewsView  `xml:"http://schemas.microsoft.com/exchange/services/2006/messages IndexedPageItemView"`
			Restriction struct {
				IsEqualTo *struct {
					Field    ewsField `xml:"http://schemas.microsoft.com/exchange/services/2006/types FieldURI"`
					Constant struct {
						Value string `xml:"Value,attr"`
					} `xml:"http://schemas.microsoft.com/exchange/services/2006/types FieldURIOrConstant>Constant"`
				} `xml:"http://schemas.microsoft.com/exchange/services/2006/types IsEqualTo"`
			} `xml:"http://schemas.microsoft.com/exchange/services/2006/messages Restriction"`
			Parent struct {
				Folders []ewsFakeID `xml:"http://schemas.microsoft.com/exchange/services/2006/types FolderId"`
			} `xml:"http://schemas.microsoft.com/exchange/services/2006/messages ParentFolderIds"`
		} `xml:"http://schemas.microsoft.com/exchange/services/2006/messages FindItem"`
		GetItem *struct {
			Shape ewsShape `xml:"http://schemas.microsoft.com/exchange/services/2006/messages ItemShape"`
			Items struct {
				IDs []ewsFakeID `xml:"http://schemas.microsoft.com/exchange/services/2006/types ItemId"`
			} `xml:"http://schemas.microsoft.com/exchange/services/2006/messages ItemIds"`
		} `xml:"http://schemas.microsoft.com/exchange/services/2006/messages GetItem"`
		DeleteItem *struct {
			DeleteType string `xml:"DeleteType,attr"`
			Items      struct {
				IDs []ewsFakeID `xml:"http://schemas.microsoft.com/exchange/services/2006/types ItemId"`
			} `xml:"http://schemas.microsoft.com/exchange/services/2006/messages ItemIds"`
		} `xml:"http://schemas.microsoft.com/exchange/services/2006/messages DeleteItem"`
	} `xml:"http://schemas.xmlsoap.org/soap/envelope/ Body"`
}

type ewsView struct {
	Max    int    `xml:"MaxEntriesReturned,attr"`
	Offset int    `xml:"Offset,attr"`
	Base   string `xml:"BasePoint,attr"`
}

type ewsShape struct {
	Base       string     `xml:"http://schemas.microsoft.com/exchange/services/2006/types BaseShape"`
	Mime       bool       `xml:"http://schemas.microsoft.com/exchange/services/2006/types IncludeMimeContent"`
	Additional []ewsField `xml:"http://schemas.microsoft.com/exchange/services/2006/types AdditionalProperties>FieldURI"`
}

type ewsField struct {
	URI string `xml:"FieldURI,attr"`
}

type ewsFakeID struct {
	ID        string `xml:"Id,attr"`
	ChangeKey string `xml:"ChangeKey,attr"`
}

func xesc(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// answer writes a SOAP response whose body is op's response element.
func answer(w http.ResponseWriter, op, messages string) {
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	fmt.Fprintf(w, `<?xml version="1.0" encoding="utf-8"?>`+
		`<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header>`+
		`<h:ServerVersionInfo MajorVersion="15" MinorVersion="2" MajorBuildNumber="1544" MinorBuildNumber="4" Version="V2017_07_11" xmlns:h="http://schemas.microsoft.com/exchange/services/2006/types"/>`+
		`</s:Header><s:Body><m:%sResponse xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types">`+
		`<m:ResponseMessages>%s</m:ResponseMessages></m:%[1]sResponse></s:Body></s:Envelope>`, op, messages)
}

func success(op, inner string) string {
	return `<m:` + op + `ResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode>` + inner + `</m:` + op + `ResponseMessage>`
}

func failure(op, code, text string) string {
	return `<m:` + op + `ResponseMessage ResponseClass="Error"><m:MessageText>` + xesc(text) + `</m:MessageText>` +
		`<m:ResponseCode>` + code + `</m:ResponseCode><m:DescriptiveLinkKey>0</m:DescriptiveLinkKey></m:` + op + `ResponseMessage>`
}

// fault writes a SOAP fault, as EWS answers a request it cannot run at
// all (impersonation refused, a mailbox that does not exist).
func fault(w http.ResponseWriter, code, text string) {
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(http.StatusInternalServerError)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault>`+
		`<faultcode xmlns:a="http://schemas.microsoft.com/exchange/services/2006/types">a:%s</faultcode>`+
		`<faultstring xml:lang="en-US">%s</faultstring><detail>`+
		`<e:ResponseCode xmlns:e="http://schemas.microsoft.com/exchange/services/2006/errors">%[1]s</e:ResponseCode>`+
		`<e:Message xmlns:e="http://schemas.microsoft.com/exchange/services/2006/errors">%[2]s</e:Message>`+
		`</detail></s:Fault></s:Body></s:Envelope>`, code, xesc(text))
}

func (x *fakeExchange) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/EWS/Exchange.asmx" || r.Method != http.MethodPost {
		http.NotFound(w, r)
		return
	}
	if login, password, ok := r.BasicAuth(); !ok || login != x.login || password != x.password {
		w.Header().Set("WWW-Authenticate", `Basic realm="mail.example.net"`)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var req ewsRequest
	if err := xml.NewDecoder(r.Body).Decode(&req); err != nil {
		fault(w, "ErrorSchemaValidation", "The request failed schema validation: "+err.Error())
		return
	}
	if v := req.Header.Version.Version; !strings.HasPrefix(v, "Exchange20") {
		fault(w, "ErrorInvalidServerVersion", fmt.Sprintf("The specified server version %q is invalid.", v))
		return
	}
	if req.Header.Impersonation == nil {
		fault(w, "ErrorNonExistentMailbox", "The login's own mailbox is not hosted here.")
		return
	}
	mailbox := req.Header.Impersonation.SMTP
	if anchor := r.Header.Get("X-AnchorMailbox"); anchor != mailbox {
		fault(w, "ErrorInvalidRequest", fmt.Sprintf("X-AnchorMailbox %q is not the impersonated %q.", anchor, mailbox))
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.denied[mailbox] {
		fault(w, "ErrorImpersonateUserDenied", "The account does not have permission to impersonate the requested user.")
		return
	}
	folders, ok := x.mailboxes[mailbox]
	if !ok {
		fault(w, "ErrorNonExistentMailbox", "The SMTP address has no mailbox associated with it.")
		return
	}
	b := req.Body
	switch {
	case b.FindFolder != nil:
		ff := b.FindFolder
		if len(ff.Parent.Distinguished) != 1 || ff.Parent.Distinguished[0].ID != "msgfolderroot" || ff.Traversal != "Deep" {
			answer(w, "FindFolder", failure("FindFolder", "ErrorInvalidRequest", "the fake answers a deep FindFolder under msgfolderroot only"))
			return
		}
		n := min(ff.View.Max, x.page)
		end := min(ff.View.Offset+n, len(folders))
		var list string
		for _, f := range folders[min(ff.View.Offset, end):end] {
			list += `<t:` + f.kind + `><t:FolderId Id="` + xesc(f.id) + `" ChangeKey="AQAAAA=="/><t:DisplayName>` + xesc(f.name) + `</t:DisplayName></t:` + f.kind + `>`
		}
		answer(w, "FindFolder", success("FindFolder", fmt.Sprintf(`<m:RootFolder IndexedPagingOffset="%d" TotalItemsInView="%d" IncludesLastItemInRange="%t"><t:Folders>%s</t:Folders></m:RootFolder>`,
			end, len(folders), end == len(folders), list)))
	case b.FindItem != nil:
		fi := b.FindItem
		// ItemQueryTraversalType: no Deep for FindItem.
		if fi.Traversal != "Shallow" && fi.Traversal != "SoftDeleted" && fi.Traversal != "Associated" {
			fault(w, "ErrorSchemaValidation", fmt.Sprintf("The 'Traversal' attribute is invalid: the value '%s' is invalid according to its datatype.", fi.Traversal))
			return
		}
		eq := fi.Restriction.IsEqualTo
		if eq == nil || eq.Field.URI != "message:InternetMessageId" || len(fi.Parent.Folders) != 1 {
			answer(w, "FindItem", failure("FindItem", "ErrorInvalidRequest", "the fake answers FindItem on one folder, restricted to message:InternetMessageId"))
			return
		}
		var folder *fakeFolder
		for _, f := range folders {
			if f.id == fi.Parent.Folders[0].ID {
				folder = f
			}
		}
		if folder == nil {
			answer(w, "FindItem", failure("FindItem", "ErrorFolderNotFound", "The specified folder could not be found in the store."))
			return
		}
		x.searched = append(x.searched, folder.name)
		var matches []*fakeItem
		for _, it := range folder.items {
			if it.messageID == eq.Constant.Value {
				matches = append(matches, it)
			}
		}
		wants := func(uri string) bool { return slices.Contains(fi.Shape.Additional, ewsField{URI: uri}) }
		n := min(fi.View.Max, x.page)
		end := min(fi.View.Offset+n, len(matches))
		var list string
		for _, it := range matches[min(fi.View.Offset, end):end] {
			list += `<t:Message><t:ItemId Id="` + xesc(it.id) + `" ChangeKey="` + xesc(it.changeKey) + `"/>`
			if wants("item:Subject") {
				list += `<t:Subject>` + xesc(it.subject) + `</t:Subject>`
			}
			if wants("message:InternetMessageId") {
				list += `<t:InternetMessageId>` + xesc(it.messageID) + `</t:InternetMessageId>`
			}
			list += `</t:Message>`
		}
		answer(w, "FindItem", success("FindItem", fmt.Sprintf(`<m:RootFolder IndexedPagingOffset="%d" TotalItemsInView="%d" IncludesLastItemInRange="%t"><t:Items>%s</t:Items></m:RootFolder>`,
			end, len(matches), end == len(matches), list)))
	case b.GetItem != nil:
		answer(w, "GetItem", x.perItem(mailbox, "GetItem", b.GetItem.Items.IDs, func(_ *fakeFolder, it *fakeItem) string {
			inner := `<t:ItemId Id="` + xesc(it.id) + `" ChangeKey="` + xesc(it.changeKey) + `"/>`
			if b.GetItem.Shape.Mime {
				inner = `<t:MimeContent CharacterSet="UTF-8">` + base64.StdEncoding.EncodeToString(it.mime) + `</t:MimeContent>` + inner
			}
			return `<m:Items><t:Message>` + inner + `</t:Message></m:Items>`
		}))
	case b.DeleteItem != nil:
		kind := b.DeleteItem.DeleteType
		if kind != "HardDelete" && kind != "SoftDelete" && kind != "MoveToDeletedItems" {
			fault(w, "ErrorSchemaValidation", "The 'DeleteType' attribute is invalid.")
			return
		}
		answer(w, "DeleteItem", x.perItem(mailbox, "DeleteItem", b.DeleteItem.Items.IDs, func(f *fakeFolder, it *fakeItem) string {
			f.items = slices.DeleteFunc(f.items, func(i *fakeItem) bool { return i == it })
			switch kind {
			case "SoftDelete":
				x.dumpster[mailbox] = append(x.dumpster[mailbox], it)
			case "MoveToDeletedItems":
				for _, d := range folders {
					if d.name == "Deleted Items" {
						d.items = append(d.items, it)
					}
				}
			}
			return ""
		}))
	default:
		fault(w, "ErrorInvalidRequest", "The request is not one the fake knows.")
	}
}

// perItem is op's response messages, one an item of ids: fn's content
// for an item of mailbox, ErrorItemNotFound for any other.
func (x *fakeExchange) perItem(mailbox, op string, ids []ewsFakeID, fn func(*fakeFolder, *fakeItem) string) string {
	var out string
	for _, id := range ids {
		if f, it := x.item(mailbox, id.ID); it != nil {
			out += success(op, fn(f, it))
		} else {
			out += failure(op, "ErrorItemNotFound", "The specified object was not found in the store.")
		}
	}
	return out
}

func (x *fakeExchange) item(mailbox, id string) (*fakeFolder, *fakeItem) {
	for _, f := range x.mailboxes[mailbox] {
		for _, it := range f.items {
			if it.id == id {
				return f, it
			}
		}
	}
	return nil, nil
}

// exchangeWithMail holds for alice the message in Inbox and in a
// subfolder (with others beside), a calendar and a search folder, and
// the message in bob's Inbox.
func exchangeWithMail(t *testing.T) *fakeExchange {
	x := startExchange(t)
	x.add(alice, "Inbox", "<"+badID+">", "Your invoice", mail(badID, "Your invoice"))
	x.add(alice, "Inbox", "<"+lookalike+">", "Not the one", mail(lookalike, "Not the one"))
	x.add(alice, "Inbox", "<ok-1@example.net>", "Lunch", mail("ok-1@example.net", "Lunch"))
	x.add(alice, "Calendar", "", "", nil, "CalendarFolder")
	x.add(alice, "Deleted Items", "", "", nil)
	x.add(alice, "Projects", "<ok-2@example.net>", "Minutes", mail("ok-2@example.net", "Minutes"))
	x.add(alice, "Projects 2026", "<"+badID+">", "Your invoice", mail(badID, "Your invoice"))
	x.add(alice, "AllItems", "", "", nil, "SearchFolder")
	x.add(bob, "Inbox", "<"+badID+">", "Your invoice", mail(badID, "Your invoice"))
	return x
}

func TestEWSDelete(t *testing.T) {
	x := exchangeWithMail(t)
	r := remediate.New(remediate.Options{AllowPrivate: true, RootCAs: x.roots(), Timeout: 5 * time.Second})
	res, err := r.Remediate(context.Background(), x.target(), alice, badID, remediate.Delete)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := folders(res), []string{"Inbox", "Projects 2026"}; !slices.Equal(got, want) || res.Removed() != 2 {
		t.Fatalf("found in %v, removed %d; want %v, 2", got, res.Removed(), want)
	}
	if f := res.Found[0]; f.Subject != "Your invoice" || !strings.HasPrefix(f.ID, "AAMkItem") || f.Raw != nil {
		t.Errorf("found %+v: want its subject and ItemId, no source", f)
	}
	want := map[string][]string{
		"Inbox":    {"<" + lookalike + ">", "<ok-1@example.net>"},
		"Calendar": {}, "Deleted Items": {}, "AllItems": {},
		"Projects":      {"<ok-2@example.net>"},
		"Projects 2026": {},
	}
	if got := x.messageIDs(alice); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("alice's mailbox after DELETE:\n got %v\nwant %v", got, want)
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if len(x.dumpster[alice]) != 0 {
		t.Errorf("%d items soft-deleted; want a hard delete", len(x.dumpster[alice]))
	}
	if slices.Contains(x.searched, "Calendar") || slices.Contains(x.searched, "AllItems") {
		t.Errorf("searched %v: the calendar and the search folder are not mail folders", x.searched)
	}
	if len(x.mailboxes[bob][0].items) != 1 {
		t.Errorf("bob's Inbox was touched")
	}
}

func TestEWSQuarantine(t *testing.T) {
	x := exchangeWithMail(t)
	r := remediate.New(remediate.Options{AllowPrivate: true, RootCAs: x.roots(), Timeout: 5 * time.Second})
	res, err := r.Remediate(context.Background(), x.target(), alice, "<"+badID+">", remediate.Quarantine)
	if err != nil {
		t.Fatal(err)
	}
	quarantined(t, res, 2)
	if got := x.messageIDs(alice); len(got["Inbox"]) != 2 || len(got["Projects 2026"]) != 0 {
		t.Errorf("alice's mailbox after QUARANTINE: %v", got)
	}
	// Nothing left: a second run finds nothing.
	res, err = r.Remediate(context.Background(), x.target(), alice, badID, remediate.Quarantine)
	if err != nil || len(res.Found) != 0 {
		t.Errorf("again: found %v, %v; want nothing", res.Found, err)
	}
}

func TestEWSRefusals(t *testing.T) {
	x := exchangeWithMail(t)
	x.denied[bob] = true
	r := remediate.New(remediate.Options{AllowPrivate: true, RootCAs: x.roots(), Timeout: 5 * time.Second})
	bad := x.target()
	bad.Password = "wrong-ews-pa55"
	refused(t, r, []refusal{
		{"wrong password", bad, alice, "refused the login CORP\\svc-remediate (401 Unauthorized)"},
		{"impersonation denied", x.target(), bob, "ErrorImpersonateUserDenied: The account does not have permission to impersonate the requested user."},
		{"no such mailbox", x.target(), "carol@example.net", "ErrorNonExistentMailbox"},
	})
	// Loopback is refused unless allowed.
	r = remediate.New(remediate.Options{RootCAs: x.roots(), Timeout: 5 * time.Second})
	var guard *relaycheck.Refused
	if _, err := r.Remediate(context.Background(), x.target(), alice, badID, remediate.Delete); !errors.As(err, &guard) {
		t.Errorf("loopback without AllowPrivate: %v; want refused by the guard", err)
	}
	// The fake's certificate is not trusted without its pool.
	r = remediate.New(remediate.Options{AllowPrivate: true, Timeout: 5 * time.Second})
	if _, err := r.Remediate(context.Background(), x.target(), alice, badID, remediate.Delete); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("an untrusted certificate: %v; want a TLS error", err)
	}
	if got := x.messageIDs(alice); len(got["Inbox"]) != 3 {
		t.Errorf("alice's Inbox changed by refused calls: %v", got["Inbox"])
	}
}
