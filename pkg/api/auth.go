package api

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/golang-jwt/jwt/v5"
	"github.com/labstack/echo/v4"
	echomw "github.com/oapi-codegen/echo-middleware"

	"github.com/cleanmail/cleanmail/db"
)

// Principal is who a request acts for: an administrator (through a
// personal token) with its authorities, or an end user (through a
// temporary token) acting on its own mailbox.
type Principal struct {
	Admin       *db.Admin
	Authorities []db.Authority
	TokenID     int64
	User        *db.User
}

// SysAdmin reports whether the principal passes every check.
func (p *Principal) SysAdmin() bool { return p != nil && p.Admin != nil && p.Admin.SysAdmin }

type principalKey struct{}

// principalFrom returns the request's principal, nil for public operations.
func principalFrom(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}

func unauthorized(detail string) error {
	return echo.NewHTTPError(http.StatusUnauthorized, detail)
}

// authenticate is the request validator's AuthenticationFunc for the
// bearer scheme: it resolves the token to its account and hands the
// principal to the handlers through the request's context.
func (s *Server) authenticate(ctx context.Context, in *openapi3filter.AuthenticationInput) error {
	ec := echomw.GetEchoContext(ctx)
	if ec == nil {
		return errors.New("no echo context")
	}
	req := ec.Request()
	scheme, token, ok := strings.Cut(req.Header.Get(echo.HeaderAuthorization), " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return unauthorized("Authentication required: send Authorization: Bearer <token>.")
	}
	var p *Principal
	var err error
	if strings.Count(token, ".") == 2 {
		p, err = s.endUser(req.Context(), token)
	} else {
		p, err = s.admin(req.Context(), token)
	}
	if err != nil {
		return err
	}
	ec.SetRequest(req.WithContext(context.WithValue(req.Context(), principalKey{}, p)))
	return nil
}

func (s *Server) admin(ctx context.Context, token string) (*Principal, error) {
	admin, tok, err := s.store.Authenticate(ctx, token)
	if errors.Is(err, db.ErrNotFound) {
		return nil, unauthorized("The token is unknown, expired or revoked, or its account is disabled.")
	}
	if err != nil {
		return nil, err
	}
	p := &Principal{Admin: admin, TokenID: tok.ID}
	if !admin.SysAdmin {
		if p.Authorities, err = s.store.AdminAuthorities(ctx, admin.ID); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// tempClaims are the claims of a temporary token, as in the doc's
// examples: the user's address, issue and expiry times, and the
// permissions it was issued with (informative: the domain's current
// end-user permissions are what is checked).
type tempClaims struct {
	Version     int      `json:"version"`
	Authorities []string `json:"authorities"`
	jwt.RegisteredClaims
}

// endUser authenticates a temporary token: a signed HS512 JWT whose user
// must still exist, be ENABLED and belong to a domain that is not DELETED
// (so disabling the account revokes its tokens at once).
func (s *Server) endUser(ctx context.Context, token string) (*Principal, error) {
	var claims tempClaims
	_, err := jwt.ParseWithClaims(token, &claims, func(*jwt.Token) (any, error) { return s.jwtKey, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS512.Alg()}), jwt.WithExpirationRequired(), jwt.WithIssuedAt())
	if err != nil {
		return nil, unauthorized("The temporary token is invalid or expired.")
	}
	u, err := s.store.FindUser(ctx, 0, claims.Subject)
	if errors.Is(err, db.ErrNotFound) || (err == nil && u.Status != db.UserEnabled) {
		return nil, unauthorized("The token's account is unknown or disabled.")
	}
	if err != nil {
		return nil, err
	}
	d, err := s.store.GetUserDomain(ctx, u.DomainID)
	if err != nil {
		return nil, err
	}
	if d.Status == db.StatusDeleted || d.Status == db.StatusDisabled {
		return nil, unauthorized("The token's domain is not active.")
	}
	return &Principal{User: u}, nil
}

// signTempToken issues a temporary token for u, valid for validity.
func (s *Server) signTempToken(u *db.User, perms []string, validity time.Duration) (string, time.Time, error) {
	now := time.Now()
	exp := now.Add(validity)
	t := jwt.NewWithClaims(jwt.SigningMethodHS512, tempClaims{
		Version:     1,
		Authorities: perms,
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   u.Email,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(exp),
		},
	})
	signed, err := t.SignedString(s.jwtKey)
	return signed, exp, err
}

// isAddress tells an e-mail address from an id in "id or e-mail" params.
func isAddress(s string) bool { return strings.Contains(s, "@") }
