package api

import (
	"context"
	"slices"
	"strings"

	"github.com/cleanmail/cleanmail/db"
	"github.com/cleanmail/cleanmail/gen"
	"github.com/cleanmail/cleanmail/pkg/fault"
)

// Administrators of one domain: accounts holding an authority on it. Every
// operation here needs GRANT on the domain (rules.go), and never lets the
// caller give more than it holds itself.

// grantable validates a permission list for the domain of t and checks
// that the caller holds every one of them there (403 otherwise).
func (s *Server) grantable(ctx context.Context, t *target, perms []string) ([]string, error) {
	out := make([]string, 0, len(perms))
	for i, p := range perms {
		p = strings.ToUpper(strings.TrimSpace(p))
		if !isPermission(p, false) {
			return nil, badField("permissions."+itoa(i), "%q is not a permission (GET /security/permissions lists them)", perms[i])
		}
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	me := principalFrom(ctx)
	if me.SysAdmin() {
		return out, nil
	}
	held := s.permissionsOn(ctx, me, t.lineage)
	for _, p := range out {
		if !slices.Contains(held, p) {
			return nil, forbidden("You cannot grant %s: you do not hold it on this domain.", p)
		}
	}
	return out, nil
}

// domainAdmin loads the administrator of a domain admin route (the
// target's), which must hold an authority on the domain.
func (s *Server) domainAdmin(ctx context.Context, t *target) (*db.Admin, error) {
	rows, _, _, err := s.store.ListAdmins(ctx, db.AdminFilter{OnDomain: &t.key, ID: &t.admin}, db.Page{PageSize: 1})
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, fault.NotFoundOf(fault.Admin)
	}
	return &rows[0], nil
}

// CreateDomainAdmin gives an account access to the domain: a new account
// (login required), or an existing one (`id`), which the caller must be
// able to see.
func (s *Server) CreateDomainAdmin(ctx context.Context, req gen.CreateDomainAdminRequestObject) (gen.CreateDomainAdminResponseObject, error) {
	t := targetOf(ctx)
	domainKey := t.key
	in := req.Body
	perms, err := s.grantable(ctx, t, in.Permissions)
	if err != nil {
		return nil, err
	}
	var a *db.Admin
	if in.Id != nil {
		// An existing account, named in the body: one the caller manages.
		key, ok := s.ids.Decode(*in.Id)
		if !ok {
			return nil, fault.NotFoundOf(fault.Admin)
		}
		if err := s.canManage(ctx, principalFrom(ctx), key); err != nil {
			return nil, err
		}
		// The account is read (locked) and given its authority in one
		// transaction, so that it cannot become a sysadmin in between.
		err := s.store.Tx(ctx, func(ctx context.Context) error {
			var err error
			if a, err = s.store.LockAdmin(ctx, key); err != nil {
				return about(err, fault.Admin)
			}
			if a.SysAdmin {
				return unprocessable("A sysadmin holds every permission already.")
			}
			return about(s.store.SetDomainAuthority(ctx, a.ID, domainKey, perms), fault.Domain)
		})
		if err != nil {
			return nil, err
		}
	} else {
		if in.Login == nil || strings.TrimSpace(*in.Login) == "" {
			return nil, badField("login", "is required to create an account (or give the id of an existing one)")
		}
		a = &db.Admin{Login: strings.TrimSpace(*in.Login), DisplayName: in.DisplayName, Enabled: deref(in.Enabled, true)}
		if in.Email != nil {
			addr, _, err := mailbox("email", *in.Email)
			if err != nil {
				return nil, err
			}
			a.Email = &addr
		}
		if in.Language != nil {
			a.Language = ptr(string(*in.Language))
		}
		if in.Password != nil {
			if a.PasswordHash, err = hashPassword("password", *in.Password); err != nil {
				return nil, err
			}
		}
		if err := s.store.CreateDomainAdmin(ctx, a, domainKey, perms); err != nil {
			if isConflict(err) {
				return nil, conflict("An account already exists with the login %s", a.Login)
			}
			return nil, about(err, fault.Domain)
		}
	}
	out, err := s.oneAdminOut(ctx, a)
	if err != nil {
		return nil, err
	}
	return gen.CreateDomainAdmin200JSONResponse(out), nil
}

// ListDomainAdmins lists the accounts holding an authority on the domain.
func (s *Server) ListDomainAdmins(ctx context.Context, req gen.ListDomainAdminsRequestObject) (gen.ListDomainAdminsResponseObject, error) {
	domainKey := targetOf(ctx).key
	p := req.Params
	pg, err := s.listPage(ctx, p.Offset, p.PageSize, p.Sort, p.Cursor)
	if err != nil {
		return nil, err
	}
	rows, total, next, err := s.store.ListAdmins(ctx, db.AdminFilter{Search: match(p.Search), OnDomain: &domainKey}, pg)
	if err != nil {
		return nil, err
	}
	out, err := s.adminsOut(ctx, rows)
	if err != nil {
		return nil, err
	}
	return gen.ListDomainAdmins200JSONResponse{Body: out, Headers: gen.ListDomainAdmins200ResponseHeaders{XTotalCount: total, Link: s.nextLink(ctx, next)}}, nil
}

// GetDomainAdmin returns an administrator of the domain.
func (s *Server) GetDomainAdmin(ctx context.Context, req gen.GetDomainAdminRequestObject) (gen.GetDomainAdminResponseObject, error) {
	a, err := s.domainAdmin(ctx, targetOf(ctx))
	if err != nil {
		return nil, err
	}
	out, err := s.oneAdminOut(ctx, a)
	if err != nil {
		return nil, err
	}
	return gen.GetDomainAdmin200JSONResponse(out), nil
}

// RevokeDomainAdmin removes an account's access to the domain; an account
// left with no access at all is deleted, tokens included.
func (s *Server) RevokeDomainAdmin(ctx context.Context, req gen.RevokeDomainAdminRequestObject) (gen.RevokeDomainAdminResponseObject, error) {
	t := targetOf(ctx)
	a, err := s.domainAdmin(ctx, t)
	if err != nil {
		return nil, err
	}
	if me := principalFrom(ctx); !me.SysAdmin() && me.Admin != nil && me.Admin.ID == a.ID {
		return nil, forbidden("You cannot revoke your own access.")
	}
	if _, err := s.store.RevokeDomainAuthority(ctx, a.ID, t.key); err != nil {
		return nil, about(err, fault.Admin)
	}
	return gen.RevokeDomainAdmin204Response{}, nil
}

// SetDomainAdminAuthorities replaces an administrator's permissions on the
// domain. Nobody but a sysadmin edits their own.
func (s *Server) SetDomainAdminAuthorities(ctx context.Context, req gen.SetDomainAdminAuthoritiesRequestObject) (gen.SetDomainAdminAuthoritiesResponseObject, error) {
	t := targetOf(ctx)
	a, err := s.domainAdmin(ctx, t)
	if err != nil {
		return nil, err
	}
	if me := principalFrom(ctx); !me.SysAdmin() && me.Admin != nil && me.Admin.ID == a.ID {
		return nil, forbidden("You cannot edit your own authorities.")
	}
	perms, err := s.grantable(ctx, t, *req.Body)
	if err != nil {
		return nil, err
	}
	if err := s.store.SetDomainAuthority(ctx, a.ID, t.key, perms); err != nil {
		return nil, about(err, fault.Domain)
	}
	return gen.SetDomainAdminAuthorities204Response{}, nil
}

// setObjectAuthority gives an existing, non-sysadmin account exactly perms
// on the customer or broker of the path (sysadmin only: rules.go).
func (s *Server) setObjectAuthority(ctx context.Context, adminID string, names []string) error {
	t := targetOf(ctx)
	adminKey, err := s.pathKey(adminID, fault.Admin)
	if err != nil {
		return err
	}
	// Read (locked) and granted in one transaction, as CreateDomainAdmin.
	return s.store.Tx(ctx, func(ctx context.Context) error {
		a, err := s.store.LockAdmin(ctx, adminKey)
		if err != nil {
			return about(err, fault.Admin)
		}
		if a.SysAdmin {
			return badField("adminId", "a sysadmin holds every permission already")
		}
		perms := []string{}
		for i, p := range names {
			p = strings.ToUpper(strings.TrimSpace(p))
			if !isPermission(p, false) {
				return badField(itoa(i), "%q is not a permission (GET /security/permissions lists them)", names[i])
			}
			if !slices.Contains(perms, p) {
				perms = append(perms, p)
			}
		}
		return s.store.SetAuthority(ctx, a.ID, t.kind, t.key, perms)
	})
}

// SetCustomerAdminAuthorities sets an account's permissions on a customer.
func (s *Server) SetCustomerAdminAuthorities(ctx context.Context, req gen.SetCustomerAdminAuthoritiesRequestObject) (gen.SetCustomerAdminAuthoritiesResponseObject, error) {
	if err := s.setObjectAuthority(ctx, req.AdminId, *req.Body); err != nil {
		return nil, err
	}
	return gen.SetCustomerAdminAuthorities204Response{}, nil
}

// SetBrokerAdminAuthorities sets an account's permissions on a broker.
func (s *Server) SetBrokerAdminAuthorities(ctx context.Context, req gen.SetBrokerAdminAuthoritiesRequestObject) (gen.SetBrokerAdminAuthoritiesResponseObject, error) {
	if err := s.setObjectAuthority(ctx, req.AdminId, *req.Body); err != nil {
		return nil, err
	}
	return gen.SetBrokerAdminAuthorities204Response{}, nil
}
