package api

import (
	"context"

	"github.com/cleanmail/cleanmail/db"
	"github.com/cleanmail/cleanmail/gen"
)

func (s *Server) adminOut(a *db.Admin) gen.Admin {
	out := gen.Admin{
		Id:                 s.idPtr(a.ID),
		Login:              a.Login,
		DisplayName:        a.DisplayName,
		Email:              a.Email,
		Enabled:            ptr(a.Enabled),
		Totp:               ptr(a.Totp),
		SysAdmin:           ptr(a.SysAdmin),
		LastConnectionDate: a.LastConnectionDate,
		CreatedAt:          ptr(a.CreatedAt),
		// Authorities arrive with the access-control issue; a sysadmin
		// needs none, and no other kind of admin can be created yet.
		Authorities:      &[]gen.Authority{},
		AuthoritiesCount: ptr(int32(0)),
	}
	if a.Language != nil {
		out.Language = ptr(gen.Language(*a.Language))
	}
	return out
}

// ListAdmins lists the administrators the caller may see: every one for a
// sysadmin, itself otherwise (until GRANT arrives with access control).
func (s *Server) ListAdmins(ctx context.Context, req gen.ListAdminsRequestObject) (gen.ListAdminsResponseObject, error) {
	p := req.Params
	pg := page(p.Offset, p.PageSize, p.Sort)
	var (
		rows  []db.Admin
		total int64
		err   error
	)
	if me := principalFrom(ctx); me.SysAdmin() {
		rows, total, err = s.store.ListAdmins(ctx, db.AdminFilter{Search: match(p.Search)}, pg)
	} else {
		rows, total, err = s.store.ListAdmins(ctx, db.AdminFilter{Search: match(p.Search), OnlyID: &me.Admin.ID}, pg)
	}
	if err != nil {
		return nil, err
	}
	out := make([]gen.Admin, len(rows))
	for i := range rows {
		out[i] = s.adminOut(&rows[i])
	}
	return gen.ListAdmins200JSONResponse{Body: out, Headers: gen.ListAdmins200ResponseHeaders{XTotalCount: total}}, nil
}

// GetAdmin returns one administrator.
func (s *Server) GetAdmin(ctx context.Context, req gen.GetAdminRequestObject) (gen.GetAdminResponseObject, error) {
	id, err := s.pathKey(req.AdminId, "Admin")
	if err != nil {
		return nil, err
	}
	a, err := s.store.GetAdmin(ctx, id)
	if err != nil {
		return nil, notFoundAs(err, "Admin not found with given id")
	}
	return gen.GetAdmin200JSONResponse(s.adminOut(a)), nil
}
