package remediate

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

const (
	nsSOAP     = "http://schemas.xmlsoap.org/soap/envelope/"
	nsTypes    = "http://schemas.microsoft.com/exchange/services/2006/types"
	nsMessages = "http://schemas.microsoft.com/exchange/services/2006/messages"
	nsErrors   = "http://schemas.microsoft.com/exchange/services/2006/errors"
)

// ewsVersion is the schema version asked for: every element used here
// exists since it.
const ewsVersion = "Exchange2010_SP1"

// ewsPage is how many folders or items one Find request asks for.
const ewsPage = 200

// ewsURL is the EWS endpoint of host (and port, when not 443).
func ewsURL(host string, port int) (string, error) {
	if host == "" || strings.ContainsAny(host, "/?#@[] \\") {
		return "", fmt.Errorf("the Exchange host %q is not a host name or address", host)
	}
	u := url.URL{Scheme: "https", Host: host, Path: "/EWS/Exchange.asmx"}
	if port != 0 && port != 443 || strings.Contains(host, ":") {
		u.Host = hostPort(host, port, 443)
	}
	return u.String(), nil
}

// ewsClient speaks EWS for one mailbox.
type ewsClient struct {
	r               *Remediator
	url             string
	login, password string
	mailbox         string
}

func (r *Remediator) ews(ctx context.Context, t Target, id string, action Action, res *Result) error {
	endpoint, err := ewsURL(t.Host, t.Port)
	if err != nil {
		return err
	}
	if t.Login == "" {
		return errors.New("the Exchange settings have no login")
	}
	e := &ewsClient{r: r, url: endpoint, login: t.Login, password: t.Password, mailbox: res.Mailbox}
	folders, err := e.folders(ctx)
	if err != nil {
		return err
	}
	for _, f := range folders {
		items, err := e.find(ctx, f.ID, id)
		if err != nil {
			return fmt.Errorf("folder %s: %w", f.Name, err)
		}
		for _, it := range items {
			found := Found{Folder: f.Name, ID: it.ID.ID, Subject: it.Subject}
			if action == Quarantine {
				if found.Raw, err = e.mime(ctx, it.ID); err != nil {
					res.Found = append(res.Found, found)
					return fmt.Errorf("folder %s: %w", f.Name, err)
				}
				if err := res.kept(found); err != nil {
					res.Found = append(res.Found, found)
					return err
				}
			}
			err := e.delete(ctx, it.ID)
			found.Removed = err == nil
			res.Found = append(res.Found, found)
			if err != nil {
				return fmt.Errorf("folder %s: %w", f.Name, err)
			}
		}
	}
	return nil
}

type ewsID struct {
	ID        string `xml:"Id,attr"`
	ChangeKey string `xml:"ChangeKey,attr"`
}

func (i ewsID) xml(elem string) string {
	s := `<t:` + elem + ` Id="` + esc(i.ID) + `"`
	if i.ChangeKey != "" {
		s += ` ChangeKey="` + esc(i.ChangeKey) + `"`
	}
	return s + `/>`
}

type ewsFolder struct {
	ID   ewsID  `xml:"http://schemas.microsoft.com/exchange/services/2006/types FolderId"`
	Name string `xml:"http://schemas.microsoft.com/exchange/services/2006/types DisplayName"`
}

type ewsItem struct {
	ID                ewsID  `xml:"http://schemas.microsoft.com/exchange/services/2006/types ItemId"`
	Subject           string `xml:"http://schemas.microsoft.com/exchange/services/2006/types Subject"`
	InternetMessageID string `xml:"http://schemas.microsoft.com/exchange/services/2006/types InternetMessageId"`
	MimeContent       string `xml:"http://schemas.microsoft.com/exchange/services/2006/types MimeContent"`
}

// ewsItems holds items of any kind (Message, MeetingRequest, Item…).
type ewsItems struct {
	List []ewsItem `xml:",any"`
}

// ewsMessage is one response message (FindFolderResponseMessage,
// FindItemResponseMessage, GetItemResponseMessage…).
type ewsMessage struct {
	Class string `xml:"ResponseClass,attr"`
	Code  string `xml:"http://schemas.microsoft.com/exchange/services/2006/messages ResponseCode"`
	Text  string `xml:"http://schemas.microsoft.com/exchange/services/2006/messages MessageText"`
	Root  struct {
		Last bool `xml:"IncludesLastItemInRange,attr"`
		// Next is where the next page starts (IndexedPagingOffset).
		Next    int `xml:"IndexedPagingOffset,attr"`
		Folders struct {
			List []ewsFolder `xml:"http://schemas.microsoft.com/exchange/services/2006/types Folder"`
		} `xml:"http://schemas.microsoft.com/exchange/services/2006/types Folders"`
		Items ewsItems `xml:"http://schemas.microsoft.com/exchange/services/2006/types Items"`
	} `xml:"http://schemas.microsoft.com/exchange/services/2006/messages RootFolder"`
	Items ewsItems `xml:"http://schemas.microsoft.com/exchange/services/2006/messages Items"`
}

type soapFault struct {
	Code   string `xml:"faultcode"`
	String string `xml:"faultstring"`
	Detail struct {
		ResponseCode string `xml:"http://schemas.microsoft.com/exchange/services/2006/errors ResponseCode"`
		Message      string `xml:"http://schemas.microsoft.com/exchange/services/2006/errors Message"`
	} `xml:"detail"`
}

type soapEnvelope struct {
	Body struct {
		Fault    *soapFault `xml:"http://schemas.xmlsoap.org/soap/envelope/ Fault"`
		Response struct {
			Messages struct {
				List []ewsMessage `xml:",any"`
			} `xml:"http://schemas.microsoft.com/exchange/services/2006/messages ResponseMessages"`
		} `xml:",any"`
	} `xml:"http://schemas.xmlsoap.org/soap/envelope/ Body"`
}

// esc escapes s for XML text and attribute values.
func esc(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// call sends the operation op (its element, body) and returns its one
// response message, an error when EWS refused it.
func (e *ewsClient) call(ctx context.Context, op, body string) (ewsMessage, error) {
	envelope := `<?xml version="1.0" encoding="utf-8"?>` +
		`<soap:Envelope xmlns:soap="` + nsSOAP + `" xmlns:t="` + nsTypes + `" xmlns:m="` + nsMessages + `">` +
		`<soap:Header><t:RequestServerVersion Version="` + ewsVersion + `"/>` +
		`<t:ExchangeImpersonation><t:ConnectingSID><t:SmtpAddress>` + esc(e.mailbox) +
		`</t:SmtpAddress></t:ConnectingSID></t:ExchangeImpersonation></soap:Header>` +
		`<soap:Body>` + body + `</soap:Body></soap:Envelope>`
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url, strings.NewReader(envelope))
	if err != nil {
		return ewsMessage{}, err
	}
	req.SetBasicAuth(e.login, e.password)
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	// Exchange 2013 and later route an impersonated request by it.
	req.Header.Set("X-AnchorMailbox", e.mailbox)
	resp, err := e.r.http.Do(req)
	if err != nil {
		return ewsMessage{}, fmt.Errorf("EWS at %s: %s: %w", e.url, op, unwrapURL(err))
	}
	defer resp.Body.Close()
	// A GetItem answer carries the source in base64.
	const limit = MaxRaw/3*4 + 1<<20
	raw, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	switch {
	case err != nil:
		return ewsMessage{}, fmt.Errorf("EWS at %s: %s: reading the answer: %w", e.url, op, err)
	case len(raw) > limit:
		return ewsMessage{}, fmt.Errorf("EWS at %s: %s: the answer is larger than %d bytes", e.url, op, limit)
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized:
		return ewsMessage{}, fmt.Errorf("EWS at %s refused the login %s (%s): check the login and password, and that EWS accepts Basic authentication", e.url, e.login, resp.Status)
	case resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusInternalServerError:
		return ewsMessage{}, fmt.Errorf("EWS at %s answered %s to %s", e.url, resp.Status, op)
	}
	var env soapEnvelope
	if err := xml.NewDecoder(bytes.NewReader(raw)).Decode(&env); err != nil {
		return ewsMessage{}, fmt.Errorf("EWS at %s answered %s to %s, not in SOAP: %v", e.url, resp.Status, op, err)
	}
	if f := env.Body.Fault; f != nil {
		code := f.Detail.ResponseCode
		if code == "" {
			code = f.Code
		}
		if code == "ErrorImpersonateUserDenied" || code == "ErrorNonExistentMailbox" {
			return ewsMessage{}, fmt.Errorf("EWS %s as %s for %s: %s: %s", op, e.login, e.mailbox, code, f.String)
		}
		return ewsMessage{}, fmt.Errorf("EWS %s: %s: %s", op, code, f.String)
	}
	msgs := env.Body.Response.Messages.List
	if len(msgs) != 1 {
		return ewsMessage{}, fmt.Errorf("EWS at %s answered %s to %s with %d response messages, not one", e.url, resp.Status, op, len(msgs))
	}
	if m := msgs[0]; m.Class == "Error" || m.Code != "" && m.Code != "NoError" {
		return ewsMessage{}, fmt.Errorf("EWS %s: %s: %s", op, m.Code, m.Text)
	}
	return msgs[0], nil
}

// folders lists the mail folders of the mailbox, all of them.
func (e *ewsClient) folders(ctx context.Context) ([]ewsFolder, error) {
	var out []ewsFolder
	for offset := 0; ; {
		m, err := e.call(ctx, "FindFolder", `<m:FindFolder Traversal="Deep">`+
			`<m:FolderShape><t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties>`+
			`<t:FieldURI FieldURI="folder:DisplayName"/></t:AdditionalProperties></m:FolderShape>`+
			`<m:IndexedPageFolderView MaxEntriesReturned="`+strconv.Itoa(ewsPage)+`" Offset="`+strconv.Itoa(offset)+`" BasePoint="Beginning"/>`+
			`<m:ParentFolderIds><t:DistinguishedFolderId Id="msgfolderroot"/></m:ParentFolderIds></m:FindFolder>`)
		if err != nil {
			return nil, err
		}
		out = append(out, m.Root.Folders.List...)
		if m.Root.Last || len(m.Root.Folders.List) == 0 {
			return out, nil
		}
		offset = nextOffset(m, offset, len(m.Root.Folders.List))
	}
}

// find returns the items of folder whose Internet message id is id.
func (e *ewsClient) find(ctx context.Context, folder ewsID, id string) ([]ewsItem, error) {
	var out []ewsItem
	for offset := 0; ; {
		m, err := e.call(ctx, "FindItem", `<m:FindItem Traversal="Shallow">`+
			`<m:ItemShape><t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties>`+
			`<t:FieldURI FieldURI="item:Subject"/><t:FieldURI FieldURI="message:InternetMessageId"/>`+
			`</t:AdditionalProperties></m:ItemShape>`+
			`<m:IndexedPageItemView MaxEntriesReturned="`+strconv.Itoa(ewsPage)+`" Offset="`+strconv.Itoa(offset)+`" BasePoint="Beginning"/>`+
			`<m:Restriction><t:IsEqualTo><t:FieldURI FieldURI="message:InternetMessageId"/>`+
			`<t:FieldURIOrConstant><t:Constant Value="`+esc("<"+id+">")+`"/></t:FieldURIOrConstant></t:IsEqualTo></m:Restriction>`+
			`<m:ParentFolderIds>`+folder.xml("FolderId")+`</m:ParentFolderIds></m:FindItem>`)
		if err != nil {
			return nil, err
		}
		for _, it := range m.Root.Items.List {
			if sameID(it.InternetMessageID, id) && it.ID.ID != "" {
				out = append(out, it)
			}
		}
		if m.Root.Last || len(m.Root.Items.List) == 0 {
			return out, nil
		}
		offset = nextOffset(m, offset, len(m.Root.Items.List))
	}
}

// nextOffset is where the page after m starts: where the server says, or
// after what it sent (it may send fewer than asked for).
func nextOffset(m ewsMessage, offset, got int) int {
	if m.Root.Next > offset {
		return m.Root.Next
	}
	return offset + got
}

// mime returns the source of item.
func (e *ewsClient) mime(ctx context.Context, item ewsID) ([]byte, error) {
	m, err := e.call(ctx, "GetItem", `<m:GetItem><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape>`+
		`<t:IncludeMimeContent>true</t:IncludeMimeContent></m:ItemShape>`+
		`<m:ItemIds>`+item.xml("ItemId")+`</m:ItemIds></m:GetItem>`)
	if err != nil {
		return nil, err
	}
	if len(m.Items.List) != 1 || m.Items.List[0].MimeContent == "" {
		return nil, errors.New("EWS GetItem: no MimeContent in the answer")
	}
	raw, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(m.Items.List[0].MimeContent), ""))
	if err != nil {
		return nil, fmt.Errorf("EWS GetItem: the MimeContent is not base64: %w", err)
	}
	return raw, nil
}

// delete deletes item for good (HardDelete, not to Deleted Items).
func (e *ewsClient) delete(ctx context.Context, item ewsID) error {
	_, err := e.call(ctx, "DeleteItem", `<m:DeleteItem DeleteType="HardDelete">`+
		`<m:ItemIds>`+item.xml("ItemId")+`</m:ItemIds></m:DeleteItem>`)
	return err
}

// unwrapURL drops the *url.Error around a client's error: it repeats the
// method and URL, which the message says otherwise.
func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
