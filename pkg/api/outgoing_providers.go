package api

import (
	"context"
	"strings"

	"github.com/cleanmail/cleanmail/db"
	"github.com/cleanmail/cleanmail/gen"
	"github.com/cleanmail/cleanmail/pkg/fault"
	"github.com/cleanmail/cleanmail/pkg/names"
)

// Outgoing providers are the third-party sending services (Microsoft 365,
// Google…) a domain may relay outgoing mail through (Extensions).

// CreateOutgoingProvider creates a provider.
func (s *Server) CreateOutgoingProvider(ctx context.Context, req gen.CreateOutgoingProviderRequestObject) (gen.CreateOutgoingProviderResponseObject, error) {
	in := req.Body
	if strings.TrimSpace(in.Name) == "" {
		return nil, badField("name", "must not be empty")
	}
	spf, err := named("spfProvider", in.SpfProvider, names.DNSName)
	if err != nil {
		return nil, err
	}
	p := &db.OutgoingProvider{Name: in.Name, SpfProvider: spf, Active: deref(in.Active, true)}
	if err := s.store.CreateOutgoingProvider(ctx, p); err != nil {
		if isConflict(err) {
			return nil, conflict("An outgoing provider already exists with the name %s", p.Name)
		}
		return nil, err
	}
	return gen.CreateOutgoingProvider201JSONResponse{
		Body:    s.outgoingProviderOut(*p),
		Headers: gen.CreateOutgoingProvider201ResponseHeaders{Location: s.location("/outgoing-providers/%s", s.id(p.ID))},
	}, nil
}

// GetOutgoingProvider returns one provider.
func (s *Server) GetOutgoingProvider(ctx context.Context, req gen.GetOutgoingProviderRequestObject) (gen.GetOutgoingProviderResponseObject, error) {
	key := targetOf(ctx).key
	p, err := s.store.GetOutgoingProvider(ctx, key)
	if err != nil {
		return nil, about(err, fault.OutgoingProvider)
	}
	return gen.GetOutgoingProvider200JSONResponse(s.outgoingProviderOut(*p)), nil
}

// ListOutgoingProviders lists providers.
func (s *Server) ListOutgoingProviders(ctx context.Context, req gen.ListOutgoingProvidersRequestObject) (gen.ListOutgoingProvidersResponseObject, error) {
	p := req.Params
	pg, err := s.listPage(ctx, p.Offset, p.PageSize, p.Sort, p.Cursor)
	if err != nil {
		return nil, err
	}
	rows, total, next, err := s.store.ListOutgoingProviders(ctx, match(p.Name), pg)
	if err != nil {
		return nil, err
	}
	out := make([]gen.OutgoingProvider, len(rows))
	for i := range rows {
		out[i] = s.outgoingProviderOut(rows[i])
	}
	return gen.ListOutgoingProviders200JSONResponse{Body: out, Headers: gen.ListOutgoingProviders200ResponseHeaders{XTotalCount: total, Link: s.nextLink(ctx, next)}}, nil
}
