package api

import (
	"context"

	"github.com/cleanmail/cleanmail/db"
	"github.com/cleanmail/cleanmail/gen"
	"github.com/cleanmail/cleanmail/pkg/fault"
)

// signUser loads the user of a signature operation or a temporary token.
// Signatures are added to mail the gateway stores or sends for the
// account, so, as the doc says, an account whose policy has none of
// quarantine, retention or archive has none (400).
func (s *Server) signUser(ctx context.Context, key int64) (*db.UserView, error) {
	v, err := s.store.GetUser(ctx, key)
	if err != nil {
		return nil, about(err, fault.User)
	}
	if p := v.Policy; p == nil || !(p.Quarantine || p.Retention || p.Archive) {
		return nil, badField("userId", "the account does not have quarantine or retention or archive service")
	}
	return v, nil
}

// GetUserSign returns a user's signature; 422 when it has none.
func (s *Server) GetUserSign(ctx context.Context, req gen.GetUserSignRequestObject) (gen.GetUserSignResponseObject, error) {
	v, err := s.signUser(ctx, targetOf(ctx).key)
	if err != nil {
		return nil, err
	}
	if v.Sign == nil {
		return nil, unprocessable("The user has no signature.")
	}
	return gen.GetUserSign200JSONResponse{Sign: *v.Sign}, nil
}

// SetUserSign sets a user's signature (base64-encoded HTML).
func (s *Server) SetUserSign(ctx context.Context, req gen.SetUserSignRequestObject) (gen.SetUserSignResponseObject, error) {
	v, err := s.signUser(ctx, targetOf(ctx).key)
	if err != nil {
		return nil, err
	}
	sign, err := signIn("sign", req.Body.Sign)
	if err != nil {
		return nil, err
	}
	if err := s.store.UpdateUser(ctx, v.ID, func(u *db.User) error { u.Sign = sign; return nil }); err != nil {
		return nil, about(err, fault.User)
	}
	return gen.SetUserSign200JSONResponse{Sign: *sign}, nil
}

// DeleteUserSign removes a user's signature.
func (s *Server) DeleteUserSign(ctx context.Context, req gen.DeleteUserSignRequestObject) (gen.DeleteUserSignResponseObject, error) {
	v, err := s.signUser(ctx, targetOf(ctx).key)
	if err != nil {
		return nil, err
	}
	if err := s.store.UpdateUser(ctx, v.ID, func(u *db.User) error { u.Sign = nil; return nil }); err != nil {
		return nil, about(err, fault.User)
	}
	return gen.DeleteUserSign204Response{}, nil
}
