package api

import (
	"context"

	"github.com/cleanmail/cleanmail/gen"
	"github.com/cleanmail/cleanmail/pkg/fault"
)

// Livez answers as long as the process serves HTTP.
func (s *Server) Livez(ctx context.Context, req gen.LivezRequestObject) (gen.LivezResponseObject, error) {
	return gen.Livez200JSONResponse{Status: "ok"}, nil
}

// Readyz answers 200 once the database is reachable and migrated, and
// while its writes are not stuck.
func (s *Server) Readyz(ctx context.Context, req gen.ReadyzRequestObject) (gen.ReadyzResponseObject, error) {
	if !s.ready() {
		return nil, fault.New(fault.Unavailable, "", "The database is not reachable or not migrated yet.")
	}
	if err := s.store.Ready(ctx); err != nil {
		s.log.Warn("readiness: database not ready", "err", err)
		return nil, fault.New(fault.Unavailable, "", "The database is not reachable, or its writes are stuck.")
	}
	return gen.Readyz200JSONResponse{Status: "ready"}, nil
}
