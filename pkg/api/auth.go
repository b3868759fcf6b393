package api

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/netip"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/labstack/echo/v4"

	"github.com/cleanmail/cleanmail/db"
	"github.com/cleanmail/cleanmail/pkg/fault"
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
	return fault.New(fault.Unauthenticated, "", "%s", detail)
}

// authenticate resolves the request's bearer token to its principal. A
// client address or personal-token prefix that failed too often is
// refused with 429 before its token is even looked up; every other
// failure is a 401 that counts against both.
func (s *Server) authenticate(c echo.Context) (*Principal, error) {
	req := c.Request()
	scheme, token, ok := strings.Cut(req.Header.Get(echo.HeaderAuthorization), " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return nil, unauthorized("Authentication required: send Authorization: Bearer <token>.")
	}
	keys := failureKeys(c.RealIP(), token)
	for _, k := range keys {
		if wait := s.authFailures.Delay(k); wait > 0 {
			return nil, &fault.Error{Kind: fault.Throttled, RetryAfter: wait,
				Detail: "Too many failed authentications from this client or with this token; retry later."}
		}
	}
	var p *Principal
	var err error
	if strings.Count(token, ".") == 2 {
		p, err = s.endUser(req.Context(), token)
	} else {
		p, err = s.admin(req.Context(), token)
	}
	if fault.KindOf(err) == fault.Unauthenticated {
		for _, k := range keys {
			s.authFailures.Fail(k)
		}
	}
	return p, err
}

// failureKeys are what failed authentications are counted against: the
// client's address (its /64 for IPv6, which a single client often holds
// whole) and, for a personal token, its first 8 characters, which are as
// secret as the rest (a JWT's first characters are its public header, so
// only the address counts for those).
func failureKeys(clientIP, token string) []string {
	keys := make([]string, 0, 2)
	if a, err := netip.ParseAddr(clientIP); err == nil {
		a = a.Unmap()
		if a.Is6() {
			if p, err := a.Prefix(64); err == nil {
				keys = append(keys, "ip:"+p.String())
			}
		} else {
			keys = append(keys, "ip:"+a.String())
		}
	} else {
		keys = append(keys, "ip:"+clientIP)
	}
	if !strings.Contains(token, ".") && len(token) >= 8 {
		keys = append(keys, "token:"+token[:8])
	}
	return keys
}

func (s *Server) admin(ctx context.Context, token string) (*Principal, error) {
	admin, tok, auths, err := s.store.Authenticate(ctx, token)
	if errors.Is(err, db.ErrNotFound) {
		return nil, unauthorized("The token is unknown, expired or revoked, or its account is disabled.")
	}
	if err != nil {
		return nil, err
	}
	return &Principal{Admin: admin, TokenID: tok.ID, Authorities: auths}, nil
}

// tempClaims are the claims of a temporary token, as in the doc's
// examples: the user's address, issue and expiry times, and the
// permissions it was issued with (informative: the domain's current
// end-user permissions are what is checked). The token is bound to the
// account, not to the address: `uid` is the user's id and `fp` a
// fingerprint of its address and password, so that the token stops
// working when the account is deleted (even if another one takes its
// address), renamed, or its password changes.
type tempClaims struct {
	Version     int      `json:"version"`
	Authorities []string `json:"authorities"`
	UserID      string   `json:"uid"`
	Fingerprint string   `json:"fp"`
	jwt.RegisteredClaims
}

// fingerprint binds a temporary token to the account's address and
// password: a keyed hash, so it reveals nothing of either.
func (s *Server) fingerprint(u *db.User) string {
	m := hmac.New(sha256.New, s.jwtKey)
	m.Write([]byte("temporary-token\x00" + u.Email + "\x00" + deref(u.PasswordHash, "")))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
}

// endUser authenticates a temporary token: a signed HS512 JWT whose
// account must still exist with the same address and password, be
// ENABLED and belong to a domain that is neither DELETED nor DISABLED (so
// disabling the account revokes its tokens at once).
func (s *Server) endUser(ctx context.Context, token string) (*Principal, error) {
	var claims tempClaims
	_, err := jwt.ParseWithClaims(token, &claims, func(*jwt.Token) (any, error) { return s.jwtKey, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS512.Alg()}), jwt.WithExpirationRequired(), jwt.WithIssuedAt())
	if err != nil {
		return nil, unauthorized("The temporary token is invalid or expired.")
	}
	key, ok := s.ids.Decode(claims.UserID)
	if !ok {
		return nil, unauthorized("The temporary token is invalid or expired.")
	}
	u, err := s.store.FindUser(ctx, key, "")
	if errors.Is(err, db.ErrNotFound) {
		return nil, unauthorized("The token's account is unknown or disabled.")
	}
	if err != nil {
		return nil, err
	}
	if u.Email != claims.Subject || !hmac.Equal([]byte(s.fingerprint(u)), []byte(claims.Fingerprint)) {
		return nil, unauthorized("The token's account has changed its address or password since: get a new token.")
	}
	if u.Status != db.UserEnabled {
		return nil, unauthorized("The token's account is unknown or disabled.")
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
		Version:     2,
		Authorities: perms,
		UserID:      s.id(u.ID),
		Fingerprint: s.fingerprint(u),
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
