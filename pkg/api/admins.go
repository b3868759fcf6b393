package api

import (
	"context"
	"strings"

	"github.com/cleanmail/cleanmail/db"
	"github.com/cleanmail/cleanmail/gen"
	"github.com/cleanmail/cleanmail/pkg/fault"
)

// adminsOut converts administrators with their authorities (loaded in one
// query for the whole page), showing only the authorities within the
// caller's reach (see visibleAuthorities).
func (s *Server) adminsOut(ctx context.Context, admins []db.Admin) ([]gen.Admin, error) {
	keys := make([]int64, len(admins))
	for i, a := range admins {
		keys[i] = a.ID
	}
	auths, err := s.store.AuthoritiesOf(ctx, keys)
	if err != nil {
		return nil, err
	}
	me := principalFrom(ctx)
	out := make([]gen.Admin, len(admins))
	for i := range admins {
		out[i] = s.adminOut(&admins[i], visibleAuthorities(me, admins[i].ID, auths[admins[i].ID]))
	}
	return out, nil
}

// visibleAuthorities keeps the authorities of an administrator that the
// caller may see: all of them to a sysadmin and to the administrator
// itself; to anyone else, those on objects where the caller holds GRANT.
// An administrator shared with another tenant shows nothing of that
// tenant (not its id, not its name).
func visibleAuthorities(me *Principal, adminID int64, auths []db.AuthorityView) []db.AuthorityView {
	if me.SysAdmin() || (me.Admin != nil && me.Admin.ID == adminID) {
		return auths
	}
	out := make([]db.AuthorityView, 0, len(auths))
	for _, a := range auths {
		for i := range me.Authorities {
			if mine := &me.Authorities[i]; mine.Has(string(PermGrant)) && mine.Covers(&a.Object) {
				out = append(out, a)
				break
			}
		}
	}
	return out
}

func (s *Server) adminOut(a *db.Admin, auths []db.AuthorityView) gen.Admin {
	list := make([]gen.Authority, len(auths))
	for i, x := range auths {
		list[i] = gen.Authority{
			ObjectType:  string(x.ObjectType()),
			ObjectId:    s.id(x.ObjectID()),
			ObjectName:  x.ObjectName,
			Permissions: append([]string{}, x.Permissions...),
		}
	}
	out := gen.Admin{
		Id:                 s.id(a.ID),
		Login:              a.Login,
		DisplayName:        null(a.DisplayName),
		Email:              null(a.Email),
		Enabled:            a.Enabled,
		Language:           nullOf[gen.Language](),
		Totp:               a.Totp,
		SysAdmin:           a.SysAdmin,
		LastConnectionDate: null(a.LastConnectionDate),
		CreatedAt:          a.CreatedAt,
		Authorities:        list,
		AuthoritiesCount:   int32(len(list)),
	}
	if a.Language != nil {
		out.Language.Set(gen.Language(*a.Language))
	}
	return out
}

func (s *Server) oneAdminOut(ctx context.Context, a *db.Admin) (gen.Admin, error) {
	out, err := s.adminsOut(ctx, []db.Admin{*a})
	if err != nil {
		return gen.Admin{}, err
	}
	return out[0], nil
}

// ListAdmins lists the administrators the caller manages: every one for a
// sysadmin; otherwise itself and those holding an authority on a broker,
// customer or domain where the caller holds GRANT.
func (s *Server) ListAdmins(ctx context.Context, req gen.ListAdminsRequestObject) (gen.ListAdminsResponseObject, error) {
	p := req.Params
	f := db.AdminFilter{Search: match(p.Search), Managed: targetOf(ctx).reach}
	if me := principalFrom(ctx); !me.SysAdmin() && me.Admin != nil {
		f.Self = me.Admin.ID
	}
	pg, err := s.listPage(ctx, p.Offset, p.PageSize, p.Sort, p.Cursor)
	if err != nil {
		return nil, err
	}
	rows, total, next, err := s.store.ListAdmins(ctx, f, pg)
	if err != nil {
		return nil, err
	}
	out, err := s.adminsOut(ctx, rows)
	if err != nil {
		return nil, err
	}
	return gen.ListAdmins200JSONResponse{Body: out, Headers: gen.ListAdmins200ResponseHeaders{XTotalCount: total, Link: s.nextLink(ctx, next)}}, nil
}

// GetAdmin returns one administrator with its authorities.
func (s *Server) GetAdmin(ctx context.Context, req gen.GetAdminRequestObject) (gen.GetAdminResponseObject, error) {
	a, err := s.store.GetAdmin(ctx, targetOf(ctx).key)
	if err != nil {
		return nil, about(err, fault.Admin)
	}
	out, err := s.oneAdminOut(ctx, a)
	if err != nil {
		return nil, err
	}
	return gen.GetAdmin200JSONResponse(out), nil
}

// UpdateAdmin changes an account's profile, password, status or language.
// TOTP can only be switched off here (switching it on needs its own
// enrolment flow). Disabling an account stops all its tokens at once.
func (s *Server) UpdateAdmin(ctx context.Context, req gen.UpdateAdminRequestObject) (gen.UpdateAdminResponseObject, error) {
	in := req.Body
	if in.Totp != nil && *in.Totp {
		return nil, badField("totp", "can only be switched off; TOTP is enrolled through its own flow")
	}
	var (
		hash *string
		err  error
	)
	if in.Password != nil {
		if hash, err = hashPassword("password", *in.Password); err != nil {
			return nil, err
		}
	}
	var email string
	if in.Email != nil {
		if email, _, err = mailbox("email", *in.Email); err != nil {
			return nil, err
		}
	}
	a, err := s.store.UpdateAdmin(ctx, targetOf(ctx).key, func(a *db.Admin) error {
		if in.Email != nil {
			a.Email = &email
		}
		if in.DisplayName != nil {
			a.DisplayName = in.DisplayName
		}
		if hash != nil {
			a.PasswordHash = hash
		}
		setIf(&a.Enabled, in.Enabled)
		if in.Totp != nil {
			a.Totp = false
		}
		if in.Language != nil {
			a.Language = ptr(string(*in.Language))
		}
		return nil
	})
	if err != nil {
		return nil, about(err, fault.Admin)
	}
	out, err := s.oneAdminOut(ctx, a)
	if err != nil {
		return nil, err
	}
	return gen.UpdateAdmin200JSONResponse(out), nil
}

// DeleteAdmin deletes an account, its tokens and all its accesses. The
// last enabled sysadmin cannot be deleted.
func (s *Server) DeleteAdmin(ctx context.Context, req gen.DeleteAdminRequestObject) (gen.DeleteAdminResponseObject, error) {
	if err := s.store.DeleteAdmin(ctx, targetOf(ctx).key); err != nil {
		return nil, about(err, fault.Admin)
	}
	return gen.DeleteAdmin204Response{}, nil
}

// ListPermissions lists the permissions that can be given on an object
// (scope DOMAIN, CUSTOMER or BROKER, and its id), limited to those the
// caller holds there; `editable` tells whether the caller may grant them
// (it holds GRANT there too).
func (s *Server) ListPermissions(ctx context.Context, req gen.ListPermissionsRequestObject) (gen.ListPermissionsResponseObject, error) {
	me := principalFrom(ctx)
	kind := db.ObjectKind(strings.ToUpper(req.Params.Scope))
	switch kind {
	case db.ObjectDomain, db.ObjectCustomer, db.ObjectBroker:
	default:
		return nil, badField("scope", "must be DOMAIN, CUSTOMER or BROKER")
	}
	t, err := s.resolve(ctx, me, kind, req.Params.Id)
	if err != nil {
		return nil, about(err, fault.Unreachable)
	}
	held := s.permissionsOn(ctx, me, t.lineage)
	if me.User != nil {
		held = nil
	}
	canGrant := false
	for _, p := range held {
		canGrant = canGrant || p == string(PermGrant)
	}
	if len(held) == 0 && !me.SysAdmin() {
		return nil, fault.NotFoundOf(fault.Unreachable)
	}
	out := make([]gen.Permission, len(held))
	for i, p := range held {
		out[i] = gen.Permission{Name: p, Editable: canGrant}
	}
	return gen.ListPermissions200JSONResponse{Body: out, Headers: gen.ListPermissions200ResponseHeaders{XTotalCount: int64(len(out))}}, nil
}
