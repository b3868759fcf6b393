package api

import (
	"context"

	"github.com/cleanmail/cleanmail/db"
	"github.com/cleanmail/cleanmail/gen"
	"github.com/cleanmail/cleanmail/pkg/fault"
)

// Platforms are a domain's mail servers, created inline with the domain;
// these extensions read and edit one (credentials stay write-only).

// GetPlatform returns one platform, without its credentials.
func (s *Server) GetPlatform(ctx context.Context, req gen.GetPlatformRequestObject) (gen.GetPlatformResponseObject, error) {
	id := targetOf(ctx).key
	p, err := s.store.GetPlatform(ctx, id)
	if err != nil {
		return nil, about(err, fault.Platform)
	}
	return gen.GetPlatform200JSONResponse(s.platformOut(p)), nil
}

// UpdatePlatform applies the fields present in the body.
func (s *Server) UpdatePlatform(ctx context.Context, req gen.UpdatePlatformRequestObject) (gen.UpdatePlatformResponseObject, error) {
	id := targetOf(ctx).key
	var err error
	// Validate before the transaction, on a scratch copy.
	if err := s.applyPlatform(&db.Platform{}, req.Body, "body"); err != nil {
		return nil, err
	}
	err = s.store.UpdatePlatform(ctx, id, func(p *db.Platform) error { return s.applyPlatform(p, req.Body, "body") })
	if err != nil {
		return nil, about(err, fault.Platform)
	}
	return gen.UpdatePlatform204Response{}, nil
}
