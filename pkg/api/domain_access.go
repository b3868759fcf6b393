package api

import (
	"context"
	"slices"
	"strings"

	"github.com/cleanmail/cleanmail/gen"
	"github.com/cleanmail/cleanmail/pkg/fault"
)

// End users' access: the permissions a domain's users hold on their own
// mailbox when they authenticate with a temporary token.

func (s *Server) endUserAccess(ctx context.Context, domainKey int64) ([]gen.AclPermissionStatus, error) {
	granted, err := s.store.DomainUserPermissions(ctx, domainKey, defaultEndUserPermissions)
	if err != nil {
		return nil, err
	}
	out := []gen.AclPermissionStatus{}
	for _, p := range permissions {
		if p.EndUser {
			out = append(out, gen.AclPermissionStatus{Name: string(p.Name), Enabled: slices.Contains(granted, string(p.Name))})
		}
	}
	return out, nil
}

// GetDomainUsersAccess lists every end-user permission and whether the
// domain gives it.
func (s *Server) GetDomainUsersAccess(ctx context.Context, req gen.GetDomainUsersAccessRequestObject) (gen.GetDomainUsersAccessResponseObject, error) {
	out, err := s.endUserAccess(ctx, targetOf(ctx).key)
	if err != nil {
		return nil, err
	}
	return gen.GetDomainUsersAccess200JSONResponse{Body: out, Headers: gen.GetDomainUsersAccess200ResponseHeaders{XTotalCount: int64(len(out))}}, nil
}

// SetDomainUsersAccess sets the permissions the domain's end users hold;
// the caller grants only what it holds itself.
func (s *Server) SetDomainUsersAccess(ctx context.Context, req gen.SetDomainUsersAccessRequestObject) (gen.SetDomainUsersAccessResponseObject, error) {
	t := targetOf(ctx)
	d, err := s.store.GetUserDomain(ctx, t.key)
	if err != nil {
		return nil, about(err, fault.Domain)
	}
	perms := []string{}
	for i, p := range *req.Body {
		p = strings.ToUpper(strings.TrimSpace(p))
		if !isPermission(p, true) {
			return nil, badField(itoa(i), "%q is not a permission end users can hold", (*req.Body)[i])
		}
		if !slices.Contains(perms, p) {
			perms = append(perms, p)
		}
	}
	if _, err := s.grantable(ctx, t, perms); err != nil {
		return nil, err
	}
	if err := s.store.SetDomainUserPermissions(ctx, t.key, perms); err != nil {
		return nil, about(err, fault.Domain)
	}
	out, err := s.endUserAccess(ctx, t.key)
	if err != nil {
		return nil, err
	}
	return gen.SetDomainUsersAccess200JSONResponse{Id: s.id(t.key), Username: "users of " + d.Name, Permissions: out}, nil
}
