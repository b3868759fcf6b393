package api

import (
	"context"

	"github.com/cleanmail/cleanmail/db"
	"github.com/cleanmail/cleanmail/gen"
	"github.com/cleanmail/cleanmail/pkg/fault"
	"github.com/cleanmail/cleanmail/pkg/names"
)

func (s *Server) aliasOut(a db.DomainAlias) gen.Alias {
	return gen.Alias{Id: s.id(a.ID), Name: a.Name}
}

// aliasNames validates a body of alias names; the field of a bad one is
// its index in the list.
func aliasNames(in []string) ([]string, error) {
	out := make([]string, len(in))
	for i, n := range in {
		var err error
		if out[i], err = named(itoa(i), n, names.Domain); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// AddDomainAlias gives a domain another name.
func (s *Server) AddDomainAlias(ctx context.Context, req gen.AddDomainAliasRequestObject) (gen.AddDomainAliasResponseObject, error) {
	domainID := targetOf(ctx).key
	names, err := aliasNames(*req.Body)
	if err != nil {
		return nil, err
	}
	added, err := s.store.AddDomainAliases(ctx, domainID, names)
	if err != nil {
		if isConflict(err) {
			return nil, conflict("An alias or a domain may already exists with the given name")
		}
		return nil, about(err, fault.DomainMayNotExist)
	}
	out := make([]gen.Alias, len(added))
	for i, a := range added {
		out[i] = s.aliasOut(a)
	}
	return gen.AddDomainAlias201JSONResponse{
		Body:    out,
		Headers: gen.AddDomainAlias201ResponseHeaders{Location: s.location("/domains/%s/aliases", req.DomainId)},
	}, nil
}

// DeleteDomainAlias removes one of a domain's aliases.
func (s *Server) DeleteDomainAlias(ctx context.Context, req gen.DeleteDomainAliasRequestObject) (gen.DeleteDomainAliasResponseObject, error) {
	domainID := targetOf(ctx).key
	aliasID, err := s.pathKey(req.AliasId, fault.DomainAlias)
	if err != nil {
		return nil, err
	}
	if err := s.store.DeleteDomainAlias(ctx, domainID, aliasID); err != nil {
		return nil, about(err, fault.DomainAlias)
	}
	return gen.DeleteDomainAlias204Response{}, nil
}

// ListDomainAliases lists a domain's aliases.
func (s *Server) ListDomainAliases(ctx context.Context, req gen.ListDomainAliasesRequestObject) (gen.ListDomainAliasesResponseObject, error) {
	domainID := targetOf(ctx).key
	p := req.Params
	pg, err := s.listPage(ctx, p.Offset, p.PageSize, p.Sort, p.Cursor)
	if err != nil {
		return nil, err
	}
	rows, total, next, err := s.store.ListDomainAliases(ctx, domainID, pg)
	if err != nil {
		return nil, about(err, fault.Domain)
	}
	out := make([]gen.Alias, len(rows))
	for i, a := range rows {
		out[i] = s.aliasOut(a)
	}
	return gen.ListDomainAliases200JSONResponse{Body: out, Headers: gen.ListDomainAliases200ResponseHeaders{XTotalCount: total, Link: s.nextLink(ctx, next)}}, nil
}

// SetDomainAliases replaces a domain's aliases, all or nothing.
func (s *Server) SetDomainAliases(ctx context.Context, req gen.SetDomainAliasesRequestObject) (gen.SetDomainAliasesResponseObject, error) {
	domainID := targetOf(ctx).key
	names, err := aliasNames(*req.Body)
	if err != nil {
		return nil, err
	}
	if _, err := s.store.SetDomainAliases(ctx, domainID, names); err != nil {
		if isConflict(err) {
			return nil, conflict("An alias may already exists with the given name")
		}
		return nil, about(err, fault.DomainMayNotExist)
	}
	return gen.SetDomainAliases204Response{}, nil
}
