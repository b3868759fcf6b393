package remediate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// graphPages bounds the pages of one search (a link to the next page
// that never ends).
const graphPages = 50

type graphMessage struct {
	ID                string `json:"id"`
	Subject           string `json:"subject"`
	InternetMessageID string `json:"internetMessageId"`
	ParentFolderID    string `json:"parentFolderId"`
}

// graphClient speaks Graph for one mailbox.
type graphClient struct {
	r     *Remediator
	key   string // of the token, to forget it when Graph refuses it
	token string
	user  string // <GraphURL>/v1.0/users/<mailbox>
}

func (r *Remediator) graph(ctx context.Context, t Target, id string, action Action, res *Result) error {
	if t.TenantID == "" || strings.ContainsAny(t.TenantID, "/?#@% \\") {
		return fmt.Errorf("the tenant %q is not a tenant id or name", t.TenantID)
	}
	if t.ClientID == "" || t.ClientSecret == "" {
		return errors.New("the O365 settings need the application's clientId and clientSecret")
	}
	key, token, err := r.token(ctx, t)
	if err != nil {
		return err
	}
	g := &graphClient{r: r, key: key, token: token, user: r.opts.GraphURL + "/v1.0/users/" + url.PathEscape(res.Mailbox)}
	msgs, err := g.find(ctx, id)
	if err != nil {
		return err
	}
	for _, m := range msgs {
		found := Found{Folder: m.ParentFolderID, ID: m.ID, Subject: m.Subject}
		if action == Quarantine {
			if found.Raw, err = g.do(ctx, http.MethodGet, g.message(m.ID)+"/$value", MaxRaw); err != nil {
				res.Found = append(res.Found, found)
				return err
			}
			if err := res.kept(found); err != nil {
				res.Found = append(res.Found, found)
				return err
			}
		}
		_, err := g.do(ctx, http.MethodPost, g.message(m.ID)+"/permanentDelete", 0)
		found.Removed = err == nil
		res.Found = append(res.Found, found)
		if err != nil {
			return err
		}
	}
	return nil
}

func (g *graphClient) message(id string) string { return g.user + "/messages/" + url.PathEscape(id) }

// find lists the messages of the mailbox whose internetMessageId is id.
func (g *graphClient) find(ctx context.Context, id string) ([]graphMessage, error) {
	// OData quotes a string in single quotes, one inside doubled.
	filter := "internetMessageId eq '" + strings.ReplaceAll("<"+id+">", "'", "''") + "'"
	next := g.user + "/messages?$filter=" + strings.ReplaceAll(url.QueryEscape(filter), "+", "%20") +
		"&$select=id,subject,internetMessageId,parentFolderId&$top=100"
	var out []graphMessage
	for page := 0; next != ""; page++ {
		if page == graphPages {
			return out, fmt.Errorf("Microsoft Graph: more than %d pages of messages with this id", graphPages)
		}
		body, err := g.do(ctx, http.MethodGet, next, 16<<20)
		if err != nil {
			return out, err
		}
		var list struct {
			Value []graphMessage `json:"value"`
			Next  string         `json:"@odata.nextLink"`
		}
		if err := json.Unmarshal(body, &list); err != nil {
			return out, fmt.Errorf("Microsoft Graph: the list of messages is not JSON: %w", err)
		}
		for _, m := range list.Value {
			if sameID(m.InternetMessageID, id) && m.ID != "" {
				out = append(out, m)
			}
		}
		// The link carries the token elsewhere if it leads elsewhere.
		if list.Next != "" && !strings.HasPrefix(list.Next, g.r.opts.GraphURL+"/") {
			return out, fmt.Errorf("Microsoft Graph: the next page is at %q, outside %s", list.Next, g.r.opts.GraphURL)
		}
		next = list.Next
	}
	return out, nil
}

// do sends a request with the token and returns the body of a 2xx answer
// (at most limit bytes); any other answer is an error saying Graph's
// error code and message.
func (g *graphClient) do(ctx context.Context, method, u string, limit int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+g.token)
	what := method + " " + req.URL.Path
	resp, err := g.r.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("Microsoft Graph: %s: %w", what, unwrapURL(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 == 2 {
		body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
		switch {
		case err != nil:
			return nil, fmt.Errorf("Microsoft Graph: %s: reading the answer: %w", what, err)
		case int64(len(body)) > limit:
			return nil, fmt.Errorf("Microsoft Graph: %s: the answer is larger than %d bytes", what, limit)
		}
		return body, nil
	}
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	_ = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&e)
	msg := fmt.Sprintf("Microsoft Graph answered %s to %s", resp.Status, what)
	if e.Error.Code != "" {
		msg += ": " + e.Error.Code + ": " + e.Error.Message
	}
	switch resp.StatusCode {
	case http.StatusUnauthorized:
		g.r.forget(g.key)
	case http.StatusForbidden:
		msg += " (the application needs the Mail.ReadWrite application permission, with the admin's consent)"
	}
	return nil, errors.New(msg)
}

// token returns a token of the application t names for Graph: the one
// kept, until it expires, or a new one.
func (r *Remediator) token(ctx context.Context, t Target) (key, token string, err error) {
	sum := sha256.Sum256([]byte(t.ClientSecret))
	key = t.TenantID + "\x00" + t.ClientID + "\x00" + hex.EncodeToString(sum[:])
	r.mu.Lock()
	tok := r.tokens[key]
	r.mu.Unlock()
	if tok.Valid() {
		return key, tok.AccessToken, nil
	}
	endpoint := r.opts.LoginURL + "/" + url.PathEscape(t.TenantID) + "/oauth2/v2.0/token"
	cfg := clientcredentials.Config{
		ClientID: t.ClientID, ClientSecret: t.ClientSecret, TokenURL: endpoint,
		Scopes:    []string{r.opts.GraphURL + "/.default"},
		AuthStyle: oauth2.AuthStyleInParams,
	}
	tok, err = cfg.Token(context.WithValue(ctx, oauth2.HTTPClient, r.http))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			msg := fmt.Sprintf("the token endpoint %s refused the application %s (%s)", endpoint, t.ClientID, re.Response.Status)
			if re.ErrorCode != "" {
				msg += ": " + re.ErrorCode
			}
			if re.ErrorDescription != "" {
				msg += ": " + re.ErrorDescription
			}
			return "", "", errors.New(msg)
		}
		return "", "", fmt.Errorf("the token endpoint %s: %w", endpoint, unwrapURL(err))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	for k, old := range r.tokens {
		if !old.Expiry.IsZero() && old.Expiry.Before(now) {
			delete(r.tokens, k)
		}
	}
	r.tokens[key] = tok
	return key, tok.AccessToken, nil
}

// forget drops the token of key (Graph refused it).
func (r *Remediator) forget(key string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.tokens, key)
}
