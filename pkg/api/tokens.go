package api

import (
	"context"
	"time"

	"github.com/cleanmail/cleanmail/db"
	"github.com/cleanmail/cleanmail/gen"
	"github.com/cleanmail/cleanmail/pkg/fault"
)

func (s *Server) tokenOut(t *db.PersonalToken) gen.PersonalToken {
	return gen.PersonalToken{Id: s.id(t.ID), Name: t.Name, Expiration: t.Expiration, CreatedAt: t.CreatedAt, LastUse: t.LastUse}
}

// CreateToken creates a personal token; its value is in this response only.
func (s *Server) CreateToken(ctx context.Context, req gen.CreateTokenRequestObject) (gen.CreateTokenResponseObject, error) {
	adminID := targetOf(ctx).key
	if req.Body.Name == "" {
		return nil, badField("name", "must not be empty")
	}
	if req.Body.Expiration != nil && *req.Body.Expiration <= time.Now().UnixMilli() {
		return nil, badField("expiration", "must be in the future (epoch milliseconds)")
	}
	t := &db.PersonalToken{AdminID: adminID, Name: req.Body.Name, Expiration: req.Body.Expiration}
	value := db.NewTokenValue()
	if err := s.store.CreateToken(ctx, t, value); err != nil {
		return nil, about(err, fault.Token)
	}
	// A new token has never been used: it has no lastUse yet.
	out := gen.PersonalTokenCreated{Id: s.id(t.ID), Name: t.Name, Value: value, Expiration: t.Expiration, CreatedAt: t.CreatedAt}
	return gen.CreateToken201JSONResponse{
		Body:    out,
		Headers: gen.CreateToken201ResponseHeaders{Location: s.location("/admins/%s/tokens/%s", req.AdminId, s.id(t.ID))},
	}, nil
}

// ListTokens lists an admin's tokens, without their values.
func (s *Server) ListTokens(ctx context.Context, req gen.ListTokensRequestObject) (gen.ListTokensResponseObject, error) {
	adminID := targetOf(ctx).key
	if err := s.store.AdminExists(ctx, adminID); err != nil {
		return nil, about(err, fault.Token)
	}
	rows, err := s.store.ListTokens(ctx, adminID)
	if err != nil {
		return nil, err
	}
	out := make([]gen.PersonalToken, len(rows))
	for i := range rows {
		out[i] = s.tokenOut(&rows[i])
	}
	return gen.ListTokens200JSONResponse{Body: out, Headers: gen.ListTokens200ResponseHeaders{XTotalCount: int64(len(out))}}, nil
}

// GetToken returns one of an admin's tokens, without its value.
func (s *Server) GetToken(ctx context.Context, req gen.GetTokenRequestObject) (gen.GetTokenResponseObject, error) {
	adminID := targetOf(ctx).key
	tokenID, err := s.pathKey(req.TokenId, fault.Token)
	if err != nil {
		return nil, err
	}
	t, err := s.store.GetToken(ctx, adminID, tokenID)
	if err != nil {
		return nil, about(err, fault.Token)
	}
	return gen.GetToken200JSONResponse(s.tokenOut(t)), nil
}

// DeleteToken revokes a token at once.
func (s *Server) DeleteToken(ctx context.Context, req gen.DeleteTokenRequestObject) (gen.DeleteTokenResponseObject, error) {
	adminID := targetOf(ctx).key
	tokenID, err := s.pathKey(req.TokenId, fault.Token)
	if err != nil {
		return nil, err
	}
	if err := s.store.DeleteToken(ctx, adminID, tokenID); err != nil {
		return nil, about(err, fault.Token)
	}
	return gen.DeleteToken204Response{}, nil
}
