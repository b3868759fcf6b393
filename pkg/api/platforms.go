package api

import (
	"context"

	"github.com/cleanmail/cleanmail/db"
	"github.com/cleanmail/cleanmail/gen"
)

// Platforms are a domain's mail servers, created inline with the domain;
// these extensions read and edit one (credentials stay write-only).

// GetPlatform returns one platform, without its credentials.
func (s *Server) GetPlatform(ctx context.Context, req gen.GetPlatformRequestObject) (gen.GetPlatformResponseObject, error) {
	id, err := s.pathKey(req.PlatformId, "Platform")
	if err != nil {
		return nil, err
	}
	p, err := s.store.GetPlatform(ctx, id)
	if err != nil {
		return nil, notFoundAs(err, "Platform not found with given id")
	}
	return gen.GetPlatform200JSONResponse(s.platformOut(p)), nil
}

// UpdatePlatform applies the fields present in the body.
func (s *Server) UpdatePlatform(ctx context.Context, req gen.UpdatePlatformRequestObject) (gen.UpdatePlatformResponseObject, error) {
	id, err := s.pathKey(req.PlatformId, "Platform")
	if err != nil {
		return nil, err
	}
	// Validate before the transaction, on a scratch copy.
	if err := applyPlatform(&db.Platform{}, req.Body, "body"); err != nil {
		return nil, err
	}
	err = s.store.UpdatePlatform(ctx, id, func(p *db.Platform) error { return applyPlatform(p, req.Body, "body") })
	if err != nil {
		return nil, notFoundAs(err, "Platform not found with given id")
	}
	return gen.UpdatePlatform204Response{}, nil
}
