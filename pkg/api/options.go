package api

import (
	"context"
	"net/url"
	"strings"

	"github.com/cleanmail/cleanmail/db"
	"github.com/cleanmail/cleanmail/gen"
	"github.com/cleanmail/cleanmail/pkg/fault"
)

// Options: the catalog (GET /options) and the values set on the platform,
// a customer, a domain or a user, each scope inheriting from the one
// above. The four scopes share one implementation; the handlers below only
// resolve their owner and wrap the answer in their own response type.

func optionDefOut(d *db.OptionDef) gen.OptionDef {
	out := gen.OptionDef{
		Name:          d.Name,
		Type:          gen.OptionType(d.Type),
		PtfScope:      d.Enabled(db.ScopePlatform),
		UrlScope:      d.Enabled(db.ScopeURL),
		CustomerScope: d.Enabled(db.ScopeCustomer),
		DomainScope:   d.Enabled(db.ScopeDomain),
		UserScope:     d.Enabled(db.ScopeUser),
		Restricted:    d.Restricted,
		Group:         nullOf[string](),
		Values:        nullOf[[]string](),
		Description:   nullOf[string](),
	}
	if d.Group != "" {
		out.Group.Set(d.Group)
	}
	if len(d.Values) > 0 {
		out.Values.Set(append([]string{}, d.Values...))
	}
	if d.Description != "" {
		out.Description.Set(d.Description)
	}
	return out
}

func optionOut(v db.OptionValue) gen.Option {
	return gen.Option{Value: null(v.Value), ParentValue: v.Parent, Option: optionDefOut(v.Def)}
}

// scopeName is how problems name an owner.
func scopeName(scope db.OptionScope) string { return strings.ToLower(string(scope)) }

// optionDef finds the option an operation names. For a write, an unknown
// name is a bad body (400 naming `name`); in a path it names nothing (404).
// An option the scope cannot hold is a 422 for a write, a 404 for a delete
// (it cannot have a value there). A restricted option is the sysadmin's.
func optionDef(ctx context.Context, scope db.OptionScope, name string, inPath bool) (*db.OptionDef, error) {
	def, ok := db.LookupOption(name)
	switch {
	case !ok && inPath:
		return nil, notFound("No option is named %s (see GET /options)", name)
	case !ok:
		return nil, badField("name", "no option is named %q (see GET /options)", name)
	case !def.Enabled(scope) && inPath:
		return nil, notFound("%s cannot be set on a %s", def.Name, scopeName(scope))
	case !def.Enabled(scope):
		return nil, fault.Unprocessablef("name", "%s cannot be set on a %s (see GET /options?scope=%s)", def.Name, scopeName(scope), scope)
	case def.Restricted && !principalFrom(ctx).SysAdmin():
		return nil, forbidden("Only users with sysadmin role can change %s.", def.Name)
	}
	return def, nil
}

func (s *Server) listOptions(ctx context.Context, owner db.OptionOwner) ([]gen.Option, int64, error) {
	vals, err := s.store.ListOptions(ctx, owner)
	if err != nil {
		return nil, 0, err
	}
	out := make([]gen.Option, len(vals))
	for i, v := range vals {
		out[i] = optionOut(v)
	}
	return out, int64(len(out)), nil
}

// getOption returns one option as the owner sees it: the option of the
// path, which must be one its scope can hold (404 otherwise).
func (s *Server) getOption(ctx context.Context, owner db.OptionOwner, name string) (gen.Option, error) {
	def, err := optionDef(ctx, owner.Scope, name, true)
	if err != nil {
		return gen.Option{}, err
	}
	vals, err := s.store.ListOptions(ctx, owner)
	if err != nil {
		return gen.Option{}, err
	}
	for _, v := range vals {
		if v.Def.Name == def.Name {
			return optionOut(v), nil
		}
	}
	return gen.Option{}, notFound("%s cannot be set on a %s", def.Name, scopeName(owner.Scope))
}

// setOption checks and stores a value. It returns the option as the owner
// now sees it, whether the value is new, and the new value's URL (the one
// that deletes it).
func (s *Server) setOption(ctx context.Context, owner db.OptionOwner, base string, in *gen.OptionAdd) (gen.Option, bool, string, error) {
	def, err := optionDef(ctx, owner.Scope, in.Name, false)
	if err != nil {
		return gen.Option{}, false, "", err
	}
	value, err := def.Normalize(in.Value)
	if err != nil {
		return gen.Option{}, false, "", err
	}
	v, created, err := s.store.SetOption(ctx, owner, def, value)
	if err != nil {
		return gen.Option{}, false, "", err
	}
	return optionOut(v), created, s.location("%s/%s", base, url.PathEscape(def.Name)), nil
}

func (s *Server) deleteOption(ctx context.Context, owner db.OptionOwner, name string) error {
	def, err := optionDef(ctx, owner.Scope, name, true)
	if err != nil {
		return err
	}
	return s.store.DeleteOption(ctx, owner, def)
}

// ownerOf is the owner of the options of the request's path (a domain, a
// user or a customer), as the access layer resolved it.
func ownerOf(ctx context.Context, scope db.OptionScope) db.OptionOwner {
	return db.OptionOwner{Scope: scope, ID: targetOf(ctx).key}
}

var platformOwner = db.OptionOwner{Scope: db.ScopePlatform}

// ListOptionDefs lists the catalog.
func (s *Server) ListOptionDefs(ctx context.Context, req gen.ListOptionDefsRequestObject) (gen.ListOptionDefsResponseObject, error) {
	p := req.Params
	f := db.OptionDefFilter{Name: match(p.Name)}
	if p.Scope != nil {
		f.Scope = db.OptionScope(*p.Scope)
	}
	pg, err := s.listPage(ctx, p.Offset, p.PageSize, p.Sort, p.Cursor)
	if err != nil {
		return nil, err
	}
	defs, total, next, err := db.OptionDefs(f, pg)
	if err != nil {
		return nil, err
	}
	out := make([]gen.OptionDef, len(defs))
	for i, d := range defs {
		out[i] = optionDefOut(d)
	}
	return gen.ListOptionDefs200JSONResponse{Body: out, Headers: gen.ListOptionDefs200ResponseHeaders{XTotalCount: total, Link: s.nextLink(ctx, next)}}, nil
}

// ListDomainOptions lists the options a domain can set, with its values
// and what it inherits.
func (s *Server) ListDomainOptions(ctx context.Context, req gen.ListDomainOptionsRequestObject) (gen.ListDomainOptionsResponseObject, error) {
	owner := ownerOf(ctx, db.ScopeDomain)
	out, total, err := s.listOptions(ctx, owner)
	if err != nil {
		return nil, about(err, fault.Domain)
	}
	return gen.ListDomainOptions200JSONResponse{Body: out, Headers: gen.ListDomainOptions200ResponseHeaders{XTotalCount: total}}, nil
}

// GetDomainOption returns one option of a domain.
func (s *Server) GetDomainOption(ctx context.Context, req gen.GetDomainOptionRequestObject) (gen.GetDomainOptionResponseObject, error) {
	owner := ownerOf(ctx, db.ScopeDomain)
	out, err := s.getOption(ctx, owner, req.OptionName)
	if err != nil {
		return nil, about(err, fault.Domain)
	}
	return gen.GetDomainOption200JSONResponse(out), nil
}

// SetDomainOption sets a domain's value of an option: 201 for a first
// value, 200 when it replaces one.
func (s *Server) SetDomainOption(ctx context.Context, req gen.SetDomainOptionRequestObject) (gen.SetDomainOptionResponseObject, error) {
	owner := ownerOf(ctx, db.ScopeDomain)
	out, created, loc, err := s.setOption(ctx, owner, "/domains/"+s.id(owner.ID)+"/options", req.Body)
	switch {
	case err != nil:
		return nil, about(err, fault.Domain)
	case created:
		return gen.SetDomainOption201JSONResponse{Body: out, Headers: gen.SetDomainOption201ResponseHeaders{Location: loc}}, nil
	}
	return gen.SetDomainOption200JSONResponse(out), nil
}

// DeleteDomainOption removes a domain's value: it inherits again.
func (s *Server) DeleteDomainOption(ctx context.Context, req gen.DeleteDomainOptionRequestObject) (gen.DeleteDomainOptionResponseObject, error) {
	owner := ownerOf(ctx, db.ScopeDomain)
	if err := s.deleteOption(ctx, owner, req.OptionName); err != nil {
		return nil, about(err, fault.Domain)
	}
	return gen.DeleteDomainOption204Response{}, nil
}

// ListUserOptions lists the options a user can set, with its values and
// what it inherits.
func (s *Server) ListUserOptions(ctx context.Context, req gen.ListUserOptionsRequestObject) (gen.ListUserOptionsResponseObject, error) {
	owner := ownerOf(ctx, db.ScopeUser)
	out, total, err := s.listOptions(ctx, owner)
	if err != nil {
		return nil, about(err, fault.User)
	}
	return gen.ListUserOptions200JSONResponse{Body: out, Headers: gen.ListUserOptions200ResponseHeaders{XTotalCount: total}}, nil
}

// GetUserOption returns one option of a user.
func (s *Server) GetUserOption(ctx context.Context, req gen.GetUserOptionRequestObject) (gen.GetUserOptionResponseObject, error) {
	owner := ownerOf(ctx, db.ScopeUser)
	out, err := s.getOption(ctx, owner, req.OptionName)
	if err != nil {
		return nil, about(err, fault.User)
	}
	return gen.GetUserOption200JSONResponse(out), nil
}

// SetUserOption sets a user's value of an option: 201 for a first value,
// 200 when it replaces one.
func (s *Server) SetUserOption(ctx context.Context, req gen.SetUserOptionRequestObject) (gen.SetUserOptionResponseObject, error) {
	owner := ownerOf(ctx, db.ScopeUser)
	out, created, loc, err := s.setOption(ctx, owner, "/users/"+s.id(owner.ID)+"/options", req.Body)
	switch {
	case err != nil:
		return nil, about(err, fault.User)
	case created:
		return gen.SetUserOption201JSONResponse{Body: out, Headers: gen.SetUserOption201ResponseHeaders{Location: loc}}, nil
	}
	return gen.SetUserOption200JSONResponse(out), nil
}

// DeleteUserOption removes a user's value: it inherits again.
func (s *Server) DeleteUserOption(ctx context.Context, req gen.DeleteUserOptionRequestObject) (gen.DeleteUserOptionResponseObject, error) {
	owner := ownerOf(ctx, db.ScopeUser)
	if err := s.deleteOption(ctx, owner, req.OptionName); err != nil {
		return nil, about(err, fault.User)
	}
	return gen.DeleteUserOption204Response{}, nil
}

// ListCustomerOptions lists the options a customer can set (extension).
func (s *Server) ListCustomerOptions(ctx context.Context, req gen.ListCustomerOptionsRequestObject) (gen.ListCustomerOptionsResponseObject, error) {
	owner := ownerOf(ctx, db.ScopeCustomer)
	out, total, err := s.listOptions(ctx, owner)
	if err != nil {
		return nil, about(err, fault.Customer)
	}
	return gen.ListCustomerOptions200JSONResponse{Body: out, Headers: gen.ListCustomerOptions200ResponseHeaders{XTotalCount: total}}, nil
}

// GetCustomerOption returns one option of a customer.
func (s *Server) GetCustomerOption(ctx context.Context, req gen.GetCustomerOptionRequestObject) (gen.GetCustomerOptionResponseObject, error) {
	owner := ownerOf(ctx, db.ScopeCustomer)
	out, err := s.getOption(ctx, owner, req.OptionName)
	if err != nil {
		return nil, about(err, fault.Customer)
	}
	return gen.GetCustomerOption200JSONResponse(out), nil
}

// SetCustomerOption sets a customer's value of an option (extension).
func (s *Server) SetCustomerOption(ctx context.Context, req gen.SetCustomerOptionRequestObject) (gen.SetCustomerOptionResponseObject, error) {
	owner := ownerOf(ctx, db.ScopeCustomer)
	out, created, loc, err := s.setOption(ctx, owner, "/customers/"+s.id(owner.ID)+"/options", req.Body)
	switch {
	case err != nil:
		return nil, about(err, fault.Customer)
	case created:
		return gen.SetCustomerOption201JSONResponse{Body: out, Headers: gen.SetCustomerOption201ResponseHeaders{Location: loc}}, nil
	}
	return gen.SetCustomerOption200JSONResponse(out), nil
}

// DeleteCustomerOption removes a customer's value (extension).
func (s *Server) DeleteCustomerOption(ctx context.Context, req gen.DeleteCustomerOptionRequestObject) (gen.DeleteCustomerOptionResponseObject, error) {
	owner := ownerOf(ctx, db.ScopeCustomer)
	if err := s.deleteOption(ctx, owner, req.OptionName); err != nil {
		return nil, about(err, fault.Customer)
	}
	return gen.DeleteCustomerOption204Response{}, nil
}

// ListPlatformOptions lists the options of the whole service (extension);
// their parent value is the catalog's default.
func (s *Server) ListPlatformOptions(ctx context.Context, _ gen.ListPlatformOptionsRequestObject) (gen.ListPlatformOptionsResponseObject, error) {
	out, total, err := s.listOptions(ctx, platformOwner)
	if err != nil {
		return nil, err
	}
	return gen.ListPlatformOptions200JSONResponse{Body: out, Headers: gen.ListPlatformOptions200ResponseHeaders{XTotalCount: total}}, nil
}

// GetPlatformOption returns one option of the platform.
func (s *Server) GetPlatformOption(ctx context.Context, req gen.GetPlatformOptionRequestObject) (gen.GetPlatformOptionResponseObject, error) {
	out, err := s.getOption(ctx, platformOwner, req.OptionName)
	if err != nil {
		return nil, err
	}
	return gen.GetPlatformOption200JSONResponse(out), nil
}

// SetPlatformOption sets the value of an option for the whole service
// (extension).
func (s *Server) SetPlatformOption(ctx context.Context, req gen.SetPlatformOptionRequestObject) (gen.SetPlatformOptionResponseObject, error) {
	out, created, loc, err := s.setOption(ctx, platformOwner, "/options/platform", req.Body)
	switch {
	case err != nil:
		return nil, err
	case created:
		return gen.SetPlatformOption201JSONResponse{Body: out, Headers: gen.SetPlatformOption201ResponseHeaders{Location: loc}}, nil
	}
	return gen.SetPlatformOption200JSONResponse(out), nil
}

// DeletePlatformOption removes the platform value: the default applies.
func (s *Server) DeletePlatformOption(ctx context.Context, req gen.DeletePlatformOptionRequestObject) (gen.DeletePlatformOptionResponseObject, error) {
	if err := s.deleteOption(ctx, platformOwner, req.OptionName); err != nil {
		return nil, err
	}
	return gen.DeletePlatformOption204Response{}, nil
}
