package api

import (
	"context"

	"github.com/cleanmail/cleanmail/db"
	"github.com/cleanmail/cleanmail/gen"
	"github.com/cleanmail/cleanmail/pkg/fault"
	"github.com/cleanmail/cleanmail/pkg/names"
)

// URI rules of a domain (the doc's URI-BL filters).

func (s *Server) uriFilterOut(v *db.UriFilterView) gen.UriFilter {
	return gen.UriFilter{
		Id:          s.id(v.ID),
		Scope:       v.Scope,
		Action:      gen.UriFilterAction(v.Action),
		Filter:      v.Filter,
		Priority:    int32(v.Priority),
		Description: null(v.Description),
		CreatedDate: v.CreatedAt,
	}
}

// uriFilterColumns are the columns of a URI rule export.
var uriFilterColumns = []column[gen.UriFilter]{
	{"id", 10, func(r *gen.UriFilter) any { return r.Id }},
	{"scope", 30, func(r *gen.UriFilter) any { return r.Scope }},
	{"action", 24, func(r *gen.UriFilter) any { return string(r.Action) }},
	{"filter", 36, func(r *gen.UriFilter) any { return r.Filter }},
	{"priority", 10, func(r *gen.UriFilter) any { return r.Priority }},
	{"description", 40, func(r *gen.UriFilter) any { return optional(nullablePtr(r.Description)) }},
	{"createdDate", 20, func(r *gen.UriFilter) any { return msDate(&r.CreatedDate) }},
}

// uriHost validates a URI rule's filter: a host or domain name (the part
// of a link the URI blocklists check) of two labels or more, returned in
// canonical form.
func uriHost(field, filter string) (string, error) { return named(field, filter, names.Domain) }

func uriConflict() error {
	return conflict("This item may already exists with same rules: the domain has a URI rule with the same action and filter.")
}

// AddDomainUriFilter adds a URI rule to a domain, with the next priority.
func (s *Server) AddDomainUriFilter(ctx context.Context, req gen.AddDomainUriFilterRequestObject) (gen.AddDomainUriFilterResponseObject, error) {
	domainID := targetOf(ctx).key
	in := req.Body
	host, err := uriHost("filter", in.Filter)
	if err != nil {
		return nil, err
	}
	v, err := s.store.CreateUriFilter(ctx, &db.UriFilter{
		DomainID:    domainID,
		Action:      string(in.Action),
		Filter:      host,
		Description: in.Description,
	})
	if isConflict(err) {
		return nil, uriConflict()
	}
	if err != nil {
		return nil, about(err, fault.Domain)
	}
	return gen.AddDomainUriFilter201JSONResponse{
		Body:    s.uriFilterOut(v),
		Headers: gen.AddDomainUriFilter201ResponseHeaders{Location: s.location("/domains/%s/filters/uris", req.DomainId)},
	}, nil
}

// ListDomainUriFilters lists a domain's URI rules, as JSON or as a
// spreadsheet.
func (s *Server) ListDomainUriFilters(ctx context.Context, req gen.ListDomainUriFiltersRequestObject) (gen.ListDomainUriFiltersResponseObject, error) {
	domainID := targetOf(ctx).key
	p := req.Params
	action := ""
	if p.Action != nil {
		action = string(*p.Action)
	}
	if wantsSpreadsheet(ctx) {
		x, err := exportDomainList(ctx, s, domainID, "uri-filters", "URI rules", uriFilterColumns, s.uriFilterOut,
			func(fn func([]db.UriFilterView) error) error {
				return s.store.StreamUriFilters(ctx, domainID, action, deref(p.Sort, ""), fn)
			})
		if err != nil {
			return nil, err
		}
		return gen.ListDomainUriFilters200ApplicationvndOpenxmlformatsOfficedocumentSpreadsheetmlSheetResponse{Body: x.Body, Headers: gen.ListDomainUriFilters200ResponseHeaders(x.headers())}, nil
	}
	pg, err := s.listPage(ctx, p.Offset, p.PageSize, p.Sort, p.Cursor)
	if err != nil {
		return nil, err
	}
	rows, total, next, err := s.store.ListUriFilters(ctx, domainID, action, pg)
	if err != nil {
		return nil, about(err, fault.Domain)
	}
	out := make([]gen.UriFilter, len(rows))
	for i := range rows {
		out[i] = s.uriFilterOut(&rows[i])
	}
	return gen.ListDomainUriFilters200JSONResponse{Body: out, Headers: gen.ListDomainUriFilters200ResponseHeaders{XTotalCount: total, Link: s.nextLink(ctx, next)}}, nil
}

// UpdateUriFilter changes the fields present in the body.
func (s *Server) UpdateUriFilter(ctx context.Context, req gen.UpdateUriFilterRequestObject) (gen.UpdateUriFilterResponseObject, error) {
	id := targetOf(ctx).key
	in := req.Body
	var host *string
	if in.Filter != nil {
		h, err := uriHost("filter", *in.Filter)
		if err != nil {
			return nil, err
		}
		host = &h
	}
	err := s.store.UpdateUriFilter(ctx, id, func(f *db.UriFilter) error {
		if in.Action != nil {
			f.Action = string(*in.Action)
		}
		setIf(&f.Filter, host)
		if in.Description != nil {
			f.Description = in.Description
		}
		return nil
	})
	if isConflict(err) {
		return nil, uriConflict()
	}
	if err != nil {
		return nil, about(err, fault.UriFilter)
	}
	return gen.UpdateUriFilter204Response{}, nil
}

// DeleteUriFilter deletes a URI rule. The priorities of the others stay as
// they are.
func (s *Server) DeleteUriFilter(ctx context.Context, req gen.DeleteUriFilterRequestObject) (gen.DeleteUriFilterResponseObject, error) {
	id := targetOf(ctx).key
	if err := s.store.DeleteUriFilter(ctx, id); err != nil {
		return nil, about(err, fault.UriFilter)
	}
	return gen.DeleteUriFilter204Response{}, nil
}
