package api

import (
	"context"
	"strings"

	"github.com/cleanmail/cleanmail/db"
	"github.com/cleanmail/cleanmail/gen"
	"github.com/cleanmail/cleanmail/pkg/fault"
)

// E-mail aliases are the doc's "groups": an address of a domain that
// forwards to its recipients. The store types each recipient (USER, ALIAS,
// EXTERNAL_ADDRESS) from what its address names when it is added.

func (s *Server) emailAliasOut(v *db.EmailAliasView) gen.EmailAlias {
	recipients := make([]gen.EmailAliasRecipient, len(v.Recipients))
	for i, r := range v.Recipients {
		recipients[i] = gen.EmailAliasRecipient{
			Id:        s.id(r.ID),
			Email:     r.Email,
			Firstname: null(r.Firstname),
			Lastname:  null(r.Lastname),
			Type:      gen.EmailAliasRecipientType(r.Type),
		}
	}
	return gen.EmailAlias{Id: s.id(v.ID), Email: v.Email, Recipients: recipients}
}

// emailAliasColumns are the columns of an alias export: the address, and
// the recipients as one cell ("address (TYPE)", one per line).
var emailAliasColumns = []column[gen.EmailAlias]{
	{"id", 10, func(a *gen.EmailAlias) any { return a.Id }},
	{"email", 34, func(a *gen.EmailAlias) any { return a.Email }},
	{"recipients", 60, func(a *gen.EmailAlias) any {
		var lines []string
		for _, r := range a.Recipients {
			lines = append(lines, r.Email+" ("+string(r.Type)+")")
		}
		return strings.Join(lines, "\n")
	}},
}

// recipientAddresses validates a list of recipient addresses; the field of
// a bad one is prefix and its index ("recipients.2", or "2" for a body that
// is the list itself).
func recipientAddresses(prefix string, in []string) ([]string, error) {
	out := make([]string, len(in))
	for i, a := range in {
		var err error
		if out[i], _, err = mailbox(prefix+itoa(i), a); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// emailAliasError words the store's conflict for an address and the bare
// not-found of the operation; typed errors (400, 422) pass through.
func emailAliasError(err error, email string, missing fault.Resource) error {
	if isConflict(err) {
		return conflict("An e-mail alias or a user already uses the address %s", email)
	}
	return about(err, missing)
}

// CreateEmailAlias creates an e-mail alias of the domain.
func (s *Server) CreateEmailAlias(ctx context.Context, req gen.CreateEmailAliasRequestObject) (gen.CreateEmailAliasResponseObject, error) {
	domainID := targetOf(ctx).key
	email, _, err := mailbox("email", req.Body.Email)
	if err != nil {
		return nil, err
	}
	recipients, err := recipientAddresses("recipients.", deref(req.Body.Recipients, nil))
	if err != nil {
		return nil, err
	}
	v, err := s.store.CreateEmailAlias(ctx, domainID, email, recipients)
	if err != nil {
		return nil, emailAliasError(err, email, fault.DomainMayNotExist)
	}
	return gen.CreateEmailAlias201JSONResponse{
		Body:    s.emailAliasOut(v),
		Headers: gen.CreateEmailAlias201ResponseHeaders{Location: s.location("/domains/%s/groups/%s", req.DomainId, s.id(v.ID))},
	}, nil
}

// GetEmailAlias returns an e-mail alias of the domain with its recipients.
func (s *Server) GetEmailAlias(ctx context.Context, req gen.GetEmailAliasRequestObject) (gen.GetEmailAliasResponseObject, error) {
	domainID := targetOf(ctx).key
	aliasID, err := s.pathKey(req.GroupId, fault.EmailAlias)
	if err != nil {
		return nil, err
	}
	v, err := s.store.GetEmailAlias(ctx, domainID, aliasID)
	if err != nil {
		return nil, about(err, fault.EmailAlias)
	}
	return gen.GetEmailAlias200JSONResponse(s.emailAliasOut(v)), nil
}

// ListDomainEmailAliases lists the domain's e-mail aliases, filtered by
// their address (email) or by one of their recipients' (recipient).
func (s *Server) ListDomainEmailAliases(ctx context.Context, req gen.ListDomainEmailAliasesRequestObject) (gen.ListDomainEmailAliasesResponseObject, error) {
	domainID := targetOf(ctx).key
	p := req.Params
	recipient, err := aliasOf("recipient", p.Recipient, "address", p.Address)
	if err != nil {
		return nil, err
	}
	f := db.EmailAliasFilter{Email: match(p.Email), Recipient: match(recipient)}
	if wantsSpreadsheet(ctx) {
		x, err := exportDomainList(ctx, s, domainID, "email-aliases", "E-mail aliases", emailAliasColumns, s.emailAliasOut,
			func(fn func([]db.EmailAliasView) error) error {
				return s.store.StreamEmailAliases(ctx, domainID, f, deref(p.Sort, ""), fn)
			})
		if err != nil {
			return nil, err
		}
		return gen.ListDomainEmailAliases200ApplicationvndOpenxmlformatsOfficedocumentSpreadsheetmlSheetResponse{Body: x.Body, Headers: gen.ListDomainEmailAliases200ResponseHeaders(x.headers())}, nil
	}
	pg, err := s.listPage(ctx, p.Offset, p.PageSize, p.Sort, p.Cursor)
	if err != nil {
		return nil, err
	}
	views, total, next, err := s.store.ListEmailAliases(ctx, domainID, f, pg)
	if err != nil {
		return nil, about(err, fault.Domain)
	}
	out := make([]gen.EmailAlias, len(views))
	for i := range views {
		out[i] = s.emailAliasOut(&views[i])
	}
	return gen.ListDomainEmailAliases200JSONResponse{Body: out, Headers: gen.ListDomainEmailAliases200ResponseHeaders{XTotalCount: total, Link: s.nextLink(ctx, next)}}, nil
}

// UpdateEmailAlias changes the alias's address and, when recipients is
// given, replaces its recipients, all or nothing.
func (s *Server) UpdateEmailAlias(ctx context.Context, req gen.UpdateEmailAliasRequestObject) (gen.UpdateEmailAliasResponseObject, error) {
	domainID := targetOf(ctx).key
	aliasID, err := s.pathKey(req.GroupId, fault.EmailAlias)
	if err != nil {
		return nil, err
	}
	in := req.Body
	var email *string
	if in.Email != nil {
		e, _, err := mailbox("email", *in.Email)
		if err != nil {
			return nil, err
		}
		email = &e
	}
	var recipients *[]string
	if in.Recipients != nil {
		r, err := recipientAddresses("recipients.", *in.Recipients)
		if err != nil {
			return nil, err
		}
		recipients = &r
	}
	if err := s.store.UpdateEmailAlias(ctx, domainID, aliasID, email, recipients); err != nil {
		return nil, emailAliasError(err, deref(email, ""), fault.DomainOrEmailAlias)
	}
	return gen.UpdateEmailAlias204Response{}, nil
}

// AddEmailAliasAddresses adds recipients to an alias; addresses it already
// lists are ignored. The response is the whole alias.
func (s *Server) AddEmailAliasAddresses(ctx context.Context, req gen.AddEmailAliasAddressesRequestObject) (gen.AddEmailAliasAddressesResponseObject, error) {
	domainID := targetOf(ctx).key
	aliasID, err := s.pathKey(req.GroupId, fault.EmailAlias)
	if err != nil {
		return nil, err
	}
	recipients, err := recipientAddresses("", *req.Body)
	if err != nil {
		return nil, err
	}
	v, err := s.store.AddEmailAliasRecipients(ctx, domainID, aliasID, recipients)
	if err != nil {
		return nil, about(err, fault.EmailAlias)
	}
	return gen.AddEmailAliasAddresses201JSONResponse{
		Body:    s.emailAliasOut(v),
		Headers: gen.AddEmailAliasAddresses201ResponseHeaders{Location: s.location("/domains/%s/groups/%s", req.DomainId, req.GroupId)},
	}, nil
}

// DeleteEmailAliasRecipient removes one recipient, named by the id the
// alias lists it with, whatever its type.
func (s *Server) DeleteEmailAliasRecipient(ctx context.Context, req gen.DeleteEmailAliasRecipientRequestObject) (gen.DeleteEmailAliasRecipientResponseObject, error) {
	domainID := targetOf(ctx).key
	aliasID, err := s.pathKey(req.GroupId, fault.EmailAlias)
	if err != nil {
		return nil, err
	}
	recipientID, err := s.pathKey(req.AddressId, fault.Recipient)
	if err != nil {
		return nil, err
	}
	if err := s.store.DeleteEmailAliasRecipient(ctx, domainID, aliasID, recipientID); err != nil {
		return nil, about(err, fault.Recipient)
	}
	return gen.DeleteEmailAliasRecipient204Response{}, nil
}

// DeleteEmailAlias deletes an alias, its recipients, and its memberships
// in other aliases; its address is free again.
func (s *Server) DeleteEmailAlias(ctx context.Context, req gen.DeleteEmailAliasRequestObject) (gen.DeleteEmailAliasResponseObject, error) {
	aliasID := targetOf(ctx).key
	if err := s.store.DeleteEmailAlias(ctx, aliasID); err != nil {
		return nil, about(err, fault.EmailAlias)
	}
	return gen.DeleteEmailAlias204Response{}, nil
}
