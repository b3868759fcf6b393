package api

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"time"

	"github.com/cleanmail/cleanmail/db"
	"github.com/cleanmail/cleanmail/gen"
	"github.com/cleanmail/cleanmail/pkg/fault"
	"github.com/cleanmail/cleanmail/pkg/notify"
)

// Temporary tokens let an end user (or an administrator impersonating one)
// reach the user's own mailbox: HS512 JWTs carrying sub, iat, exp and the
// permissions, checked against the account at every request.

const (
	defaultTokenValidity = 4       // hours
	maxTokenValidity     = 24 * 31 // hours
)

// GetTemporaryAuthToken issues a temporary token for a user: to the user
// itself, or to an administrator holding IMPERSONATE on its domain.
func (s *Server) GetTemporaryAuthToken(ctx context.Context, req gen.GetTemporaryAuthTokenRequestObject) (gen.GetTemporaryAuthTokenResponseObject, error) {
	me := principalFrom(ctx)
	username := ""
	if req.Params.Username != nil {
		username = string(*req.Params.Username)
	} else if me.User != nil {
		username = me.User.Email
	} else {
		return nil, badField("username", "is required: the e-mail address of the user")
	}
	validity := int32(defaultTokenValidity)
	if req.Params.Validity != nil {
		validity = *req.Params.Validity
	}
	if validity < 1 || validity > maxTokenValidity {
		return nil, badField("validity", "must be between 1 and %d hours", maxTokenValidity)
	}
	var key int64
	switch t, err := s.on(ctx, ruleImpersonate, username); {
	case err == nil:
		key = t.user.ID
	case me.User != nil && me.User.Email == username && isNotFoundOrForbidden(err):
		// An end user asks for its own token: allowed, whatever its domain's ACL.
		key = me.User.ID
	default:
		return nil, err
	}
	if deref(req.Params.SendMail, false) {
		// Mailed, not returned: the send_token_mail task of this user.
		u, err := s.store.FindUser(ctx, key, "")
		if err != nil {
			return nil, err
		}
		// Conditions not met are the doc's 400 here ("A problem occured").
		if u.Status != db.UserEnabled {
			return nil, badField("sendMail", "the user %s is %s: it gets no mail from the service", u.Email, strings.ToLower(u.Status))
		}
		if _, err := notify.DomainSettings(ctx, s.store, u.DomainID); errors.Is(err, notify.ErrNoAppURL) {
			return nil, fault.Invalidf("sendMail", "%s", notify.ErrNoAppURL.Detail)
		} else if err != nil {
			return nil, err
		}
		id, err := s.enqueue(ctx, notify.TokenArgs{UserID: key, Hours: int(validity)})
		if err != nil {
			return nil, err
		}
		loc := s.location("/tasks/%s", s.id(id))
		return gen.GetTemporaryAuthToken202JSONResponse{
			Body:    gen.AuthToken{ExpireAt: time.Now().Add(time.Duration(validity) * time.Hour).UnixMilli(), Url: nullOf[string]()},
			Headers: gen.GetTemporaryAuthToken202ResponseHeaders{Location: &loc},
		}, nil
	}
	v, err := s.signUser(ctx, key)
	if err != nil {
		return nil, err
	}
	perms, err := s.store.DomainUserPermissions(ctx, v.DomainID, defaultEndUserPermissions)
	if err != nil {
		return nil, err
	}
	token, exp, err := s.signTempToken(&v.User, perms, time.Duration(validity)*time.Hour)
	if err != nil {
		return nil, err
	}
	out := gen.AuthToken{Token: token, ExpireAt: exp.UnixMilli(), Url: nullOf[string]()}
	if host, err := s.appHost(ctx, v.DomainID); err != nil {
		return nil, err
	} else if host != "" {
		out.Url.Set("https://" + host + "/?token=" + url.QueryEscape(token))
	}
	return gen.GetTemporaryAuthToken202JSONResponse{Body: out}, nil
}

func isNotFoundOrForbidden(err error) bool {
	k := fault.KindOf(err)
	return k == fault.Forbidden || k == fault.NotFound
}

// appHost is the host of the end users' application for a domain: the
// APP_URL option as the domain sees it (its own, its customer's or the
// platform's); empty when none is set.
func (s *Server) appHost(ctx context.Context, domainID int64) (string, error) {
	opts, err := s.store.ListOptions(ctx, db.OptionOwner{Scope: db.ScopeDomain, ID: domainID})
	if err != nil {
		return "", err
	}
	for _, o := range opts {
		if o.Def.Name != "APP_URL" {
			continue
		}
		if o.Value != nil {
			return *o.Value, nil
		}
		if o.Parent != nil {
			return *o.Parent, nil
		}
	}
	return "", nil
}
