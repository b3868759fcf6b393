package remediatetest

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/cleanmail/cleanmail/pkg/remediate"
)

// Exchange is an on-premises Exchange's EWS as the published request and
// response formats have it (FindFolder, FindItem, GetItem, DeleteItem),
// at https://127.0.0.1:<port>/EWS/Exchange.asmx: Basic authentication of
// one account that impersonates the users (ExchangeImpersonation/
// ConnectingSID/SmtpAddress, X-AnchorMailbox the same), each user's
// folders and messages held in memory. Its Find answers hold at most two
// folders or items, fewer than asked for, as a throttling policy does, so
// that a client must page.
type Exchange struct {
	// Login and Password are the account allowed to impersonate every
	// mailbox (Target's; change them there to be refused).
	Login, Password string

	srv *httptest.Server

	mu        sync.Mutex
	mailboxes map[string][]*ewsFolder // by SMTP address
	denied    map[string]bool         // the login may not impersonate them
	dumpster  map[string][]*ewsItem   // soft-deleted items, by mailbox
	searched  []string                // the folders FindItem searched, by name
	ids       int
}

// ewsPage caps the folders or items of one Find answer.
const ewsPage = 2

type ewsFolder struct {
	id, name string
	kind     string // Folder, CalendarFolder, SearchFolder…
	items    []*ewsItem
}

type ewsItem struct {
	id, changeKey, subject, messageID string
	mime                              []byte
}

// StartExchange starts an Exchange with no mailbox, closed when the test
// ends.
func StartExchange(t testing.TB) *Exchange {
	t.Helper()
	x := &Exchange{Login: `CORP\svc-remediate`, Password: "ews-pa55",
		mailboxes: map[string][]*ewsFolder{}, denied: map[string]bool{}, dumpster: map[string][]*ewsItem{}}
	x.srv = startTLS(t, http.HandlerFunc(x.serve))
	return x
}

// Target is the EXCHANGE remediation API of x: its address (127.0.0.1)
// and port, its login and password.
func (x *Exchange) Target() remediate.Target {
	host, port, _ := net.SplitHostPort(x.srv.Listener.Addr().String())
	p, _ := strconv.Atoi(port)
	return remediate.Target{Type: remediate.TypeExchange, Host: host, Port: p, Login: x.Login, Password: x.Password}
}

// Options reach x: private addresses allowed, its certificate trusted, a
// Timeout of 5 seconds.
func (x *Exchange) Options() remediate.Options { return options(x.srv) }

// Certificate is the certificate x serves, for a pool that trusts other
// servers too.
func (x *Exchange) Certificate() *x509.Certificate { return x.srv.Certificate() }

// AddMailbox creates mailbox, with an empty Inbox, if it is not there
// yet.
func (x *Exchange) AddMailbox(mailbox string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.mailbox(mailbox)
}

// AddFolder creates the folder name of mailbox, of kind (the element EWS
// lists it as: Folder for mail, CalendarFolder, ContactsFolder,
// TasksFolder, SearchFolder), if it is not there yet.
func (x *Exchange) AddFolder(mailbox, name, kind string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.folder(mailbox, name, kind)
}

// Add stores the message raw in the mail folder of mailbox, both created
// when missing. Its Message-ID and Subject headers are its
// InternetMessageId and Subject.
func (x *Exchange) Add(mailbox, folder string, raw []byte) {
	messageID, subject := headers(raw)
	x.mu.Lock()
	defer x.mu.Unlock()
	f := x.folder(mailbox, folder, "Folder")
	x.ids++
	f.items = append(f.items, &ewsItem{id: fmt.Sprintf("AAMkItem%d+/=", x.ids), changeKey: "CQAAAB" + strconv.Itoa(x.ids),
		subject: subject, messageID: messageID, mime: raw})
}

// mailbox is the folders of mailbox, created with an Inbox when missing.
func (x *Exchange) mailbox(mailbox string) []*ewsFolder {
	if _, ok := x.mailboxes[mailbox]; !ok {
		x.ids++
		x.mailboxes[mailbox] = []*ewsFolder{{id: fmt.Sprintf("AAMkFolder%d==", x.ids), name: "Inbox", kind: "Folder"}}
	}
	return x.mailboxes[mailbox]
}

func (x *Exchange) folder(mailbox, name, kind string) *ewsFolder {
	for _, f := range x.mailbox(mailbox) {
		if f.name == name {
			return f
		}
	}
	x.ids++
	f := &ewsFolder{id: fmt.Sprintf("AAMkFolder%d==", x.ids), name: name, kind: kind}
	x.mailboxes[mailbox] = append(x.mailboxes[mailbox], f)
	return f
}

// Left is folder → the Internet message ids (in their angle brackets,
// sorted) of what mailbox holds, every folder listed.
func (x *Exchange) Left(mailbox string) map[string][]string {
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

// Deny refuses the login the impersonation of mailbox
// (ErrorImpersonateUserDenied).
func (x *Exchange) Deny(mailbox string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.denied[mailbox] = true
}

// SoftDeleted counts the items of mailbox deleted with SoftDelete, which
// the user can still recover.
func (x *Exchange) SoftDeleted(mailbox string) int {
	x.mu.Lock()
	defer x.mu.Unlock()
	return len(x.dumpster[mailbox])
}

// Searched lists the folders FindItem searched, by name, in order.
func (x *Exchange) Searched() []string {
	x.mu.Lock()
	defer x.mu.Unlock()
	return slices.Clone(x.searched)
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
				Folders []ewsID `xml:"http://schemas.microsoft.com/exchange/services/2006/types FolderId"`
			} `xml:"http://schemas.microsoft.com/exchange/services/2006/messages ParentFolderIds"`
		} `xml:"http://schemas.microsoft.com/exchange/services/2006/messages FindItem"`
		GetItem *struct {
			Shape ewsShape `xml:"http://schemas.microsoft.com/exchange/services/2006/messages ItemShape"`
			Items struct {
				IDs []ewsID `xml:"http://schemas.microsoft.com/exchange/services/2006/types ItemId"`
			} `xml:"http://schemas.microsoft.com/exchange/services/2006/messages ItemIds"`
		} `xml:"http://schemas.microsoft.com/exchange/services/2006/messages GetItem"`
		DeleteItem *struct {
			DeleteType string `xml:"DeleteType,attr"`
			Items      struct {
				IDs []ewsID `xml:"http://schemas.microsoft.com/exchange/services/2006/types ItemId"`
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

type ewsID struct {
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

func (x *Exchange) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/EWS/Exchange.asmx" || r.Method != http.MethodPost {
		http.NotFound(w, r)
		return
	}
	if login, password, ok := r.BasicAuth(); !ok || login != x.Login || password != x.Password {
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
		n := min(ff.View.Max, ewsPage)
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
		var folder *ewsFolder
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
		var matches []*ewsItem
		for _, it := range folder.items {
			if it.messageID == eq.Constant.Value {
				matches = append(matches, it)
			}
		}
		wants := func(uri string) bool { return slices.Contains(fi.Shape.Additional, ewsField{URI: uri}) }
		n := min(fi.View.Max, ewsPage)
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
		answer(w, "GetItem", x.perItem(mailbox, "GetItem", b.GetItem.Items.IDs, func(_ *ewsFolder, it *ewsItem) string {
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
		answer(w, "DeleteItem", x.perItem(mailbox, "DeleteItem", b.DeleteItem.Items.IDs, func(f *ewsFolder, it *ewsItem) string {
			f.items = slices.DeleteFunc(f.items, func(i *ewsItem) bool { return i == it })
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
func (x *Exchange) perItem(mailbox, op string, ids []ewsID, fn func(*ewsFolder, *ewsItem) string) string {
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

func (x *Exchange) item(mailbox, id string) (*ewsFolder, *ewsItem) {
	for _, f := range x.mailboxes[mailbox] {
		for _, it := range f.items {
			if it.id == id {
				return f, it
			}
		}
	}
	return nil, nil
}
