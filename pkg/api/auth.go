package api

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/labstack/echo/v4"
	echomw "github.com/oapi-codegen/echo-middleware"

	"github.com/cleanmail/cleanmail/db"
)

// Principal is who a request acts for.
type Principal struct {
	Admin   *db.Admin
	TokenID int64
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
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return unauthorized("Authentication required: send Authorization: Bearer <token>.")
	}
	admin, tok, err := s.store.Authenticate(req.Context(), strings.TrimSpace(token))
	if errors.Is(err, db.ErrNotFound) {
		return unauthorized("The token is unknown, expired or revoked, or its account is disabled.")
	}
	if err != nil {
		return err
	}
	p := &Principal{Admin: admin, TokenID: tok.ID}
	ec.SetRequest(req.WithContext(context.WithValue(req.Context(), principalKey{}, p)))
	return nil
}
