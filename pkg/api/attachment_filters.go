package api

import (
	"context"
	"regexp"

	"github.com/cleanmail/cleanmail/db"
	"github.com/cleanmail/cleanmail/gen"
	"github.com/cleanmail/cleanmail/pkg/fault"
)

// Attachment rules of a domain (the doc's attachment filters).

func (s *Server) attachmentFilterOut(v *db.AttachmentFilterView) gen.AttachmentFilter {
	return gen.AttachmentFilter{
		Id:          s.id(v.ID),
		Action:      gen.AttachmentFilterAction(v.Action),
		CheckType:   gen.AttachmentFilterCheckType(v.CheckType),
		Filter:      v.Filter,
		Scope:       v.Scope,
		Priority:    int32(v.Priority),
		Description: null(v.Description),
		CreatedDate: v.CreatedAt,
	}
}

// attachmentFilterColumns are the columns of an attachment rule export.
var attachmentFilterColumns = []column[gen.AttachmentFilter]{
	{"id", 10, func(r *gen.AttachmentFilter) any { return r.Id }},
	{"action", 10, func(r *gen.AttachmentFilter) any { return string(r.Action) }},
	{"checkType", 22, func(r *gen.AttachmentFilter) any { return string(r.CheckType) }},
	{"filter", 36, func(r *gen.AttachmentFilter) any { return r.Filter }},
	{"scope", 30, func(r *gen.AttachmentFilter) any { return r.Scope }},
	{"priority", 10, func(r *gen.AttachmentFilter) any { return r.Priority }},
	{"description", 40, func(r *gen.AttachmentFilter) any { return optional(nullablePtr(r.Description)) }},
	{"createdDate", 20, func(r *gen.AttachmentFilter) any { return msDate(&r.CreatedDate) }},
}

// attachmentRegexp checks that a filter is a regular expression (Go's
// RE2 syntax, which the filtering engine shares) and not empty, which
// would match every attachment.
func attachmentRegexp(field, filter string) error {
	if filter == "" {
		return badField(field, "must not be empty")
	}
	if _, err := regexp.Compile(filter); err != nil {
		return badField(field, "is not a valid regular expression: %v", err)
	}
	return nil
}

func attachmentConflict() error {
	return conflict("This item may already exists with same rules: the domain has an attachment rule with the same action, check type and filter.")
}

// AddDomainAttachmentFilter adds an attachment rule to a domain, with the
// next priority.
func (s *Server) AddDomainAttachmentFilter(ctx context.Context, req gen.AddDomainAttachmentFilterRequestObject) (gen.AddDomainAttachmentFilterResponseObject, error) {
	domainID := targetOf(ctx).key
	in := req.Body
	if err := attachmentRegexp("filter", in.Filter); err != nil {
		return nil, err
	}
	v, err := s.store.CreateAttachmentFilter(ctx, &db.AttachmentFilter{
		DomainID:    domainID,
		Action:      string(in.Action),
		CheckType:   string(in.CheckType),
		Filter:      in.Filter,
		Description: in.Description,
	})
	if isConflict(err) {
		return nil, attachmentConflict()
	}
	if err != nil {
		return nil, about(err, fault.Domain)
	}
	return gen.AddDomainAttachmentFilter201JSONResponse{
		Body:    s.attachmentFilterOut(v),
		Headers: gen.AddDomainAttachmentFilter201ResponseHeaders{Location: s.location("/domains/%s/filters/attachments", req.DomainId)},
	}, nil
}

// ListDomainAttachmentFilters lists a domain's attachment rules, as JSON
// or as a spreadsheet.
func (s *Server) ListDomainAttachmentFilters(ctx context.Context, req gen.ListDomainAttachmentFiltersRequestObject) (gen.ListDomainAttachmentFiltersResponseObject, error) {
	domainID := targetOf(ctx).key
	p := req.Params
	action := ""
	if p.Action != nil {
		action = string(*p.Action)
	}
	if wantsSpreadsheet(ctx) {
		x, err := exportDomainList(ctx, s, domainID, "attachment-filters", "Attachment rules", attachmentFilterColumns, s.attachmentFilterOut,
			func(fn func([]db.AttachmentFilterView) error) error {
				return s.store.StreamAttachmentFilters(ctx, domainID, action, deref(p.Sort, ""), fn)
			})
		if err != nil {
			return nil, err
		}
		return gen.ListDomainAttachmentFilters200ApplicationvndOpenxmlformatsOfficedocumentSpreadsheetmlSheetResponse{Body: x.Body, Headers: gen.ListDomainAttachmentFilters200ResponseHeaders(x.headers())}, nil
	}
	pg, err := s.listPage(ctx, p.Offset, p.PageSize, p.Sort, p.Cursor)
	if err != nil {
		return nil, err
	}
	rows, total, next, err := s.store.ListAttachmentFilters(ctx, domainID, action, pg)
	if err != nil {
		return nil, about(err, fault.Domain)
	}
	out := make([]gen.AttachmentFilter, len(rows))
	for i := range rows {
		out[i] = s.attachmentFilterOut(&rows[i])
	}
	return gen.ListDomainAttachmentFilters200JSONResponse{Body: out, Headers: gen.ListDomainAttachmentFilters200ResponseHeaders{XTotalCount: total, Link: s.nextLink(ctx, next)}}, nil
}

// UpdateAttachmentFilter changes the fields present in the body.
func (s *Server) UpdateAttachmentFilter(ctx context.Context, req gen.UpdateAttachmentFilterRequestObject) (gen.UpdateAttachmentFilterResponseObject, error) {
	id := targetOf(ctx).key
	in := req.Body
	if in.Filter != nil {
		if err := attachmentRegexp("filter", *in.Filter); err != nil {
			return nil, err
		}
	}
	err := s.store.UpdateAttachmentFilter(ctx, id, func(f *db.AttachmentFilter) error {
		if in.Action != nil {
			f.Action = string(*in.Action)
		}
		if in.CheckType != nil {
			f.CheckType = string(*in.CheckType)
		}
		setIf(&f.Filter, in.Filter)
		if in.Description != nil {
			f.Description = in.Description
		}
		return nil
	})
	if isConflict(err) {
		return nil, attachmentConflict()
	}
	if err != nil {
		return nil, about(err, fault.AttachmentFilter)
	}
	return gen.UpdateAttachmentFilter204Response{}, nil
}

// DeleteAttachmentFilter deletes an attachment rule. The priorities of the
// others stay as they are.
func (s *Server) DeleteAttachmentFilter(ctx context.Context, req gen.DeleteAttachmentFilterRequestObject) (gen.DeleteAttachmentFilterResponseObject, error) {
	id := targetOf(ctx).key
	if err := s.store.DeleteAttachmentFilter(ctx, id); err != nil {
		return nil, about(err, fault.AttachmentFilter)
	}
	return gen.DeleteAttachmentFilter204Response{}, nil
}
