package api

import (
	"context"
	"slices"

	"github.com/labstack/echo/v4"

	"github.com/cleanmail/cleanmail/db"
	"github.com/cleanmail/cleanmail/gen"
)

// Permission names something an administrator may do on an object (a
// domain, or every domain of a customer or broker). The doc's "sysadmin
// required" operations need no permission, only the sysadmin role.
type Permission string

// The permission catalog, in the order ListPermissions serves it.
const (
	PermDomainRead        Permission = "DOMAIN_READ"        // read the domain, its aliases, policies, platforms
	PermDomainEdit        Permission = "DOMAIN_EDIT"        // change the domain and its aliases
	PermUserRead          Permission = "USER_READ"          // read mailboxes, e-mail aliases and signatures
	PermUserEdit          Permission = "USER_EDIT"          // create, change and delete them
	PermFilterRead        Permission = "FILTER_READ"        // read sender, attachment and URI rules
	PermFilterEdit        Permission = "FILTER_EDIT"        // change them
	PermOptionRead        Permission = "OPTION_READ"        // read options
	PermOptionEdit        Permission = "OPTION_EDIT"        // set and delete options
	PermQuarantineRead    Permission = "QUARANTINE_READ"    // browse quarantine, retention and archives
	PermQuarantineRelease Permission = "QUARANTINE_RELEASE" // release held mail
	PermMailSend          Permission = "MAIL_SEND"          // send mail as a mailbox
	PermHealth            Permission = "HEALTH"             // run and read diagnostics
	PermDKIM              Permission = "DKIM_READ"          // read DKIM keys
	PermGrant             Permission = "GRANT"              // manage administrators within one's own reach
	PermImpersonate       Permission = "IMPERSONATE"        // get temporary tokens for the domain's users
)

// permissions lists the catalog with its descriptions.
var permissions = []struct {
	Name        Permission
	Description string
	EndUser     bool // may be given to a domain's end users, on their own mailbox
}{
	{PermDomainRead, "Read the domain, its aliases, policies and platforms.", false},
	{PermDomainEdit, "Change the domain and its aliases.", false},
	{PermUserRead, "Read mailboxes, e-mail aliases and signatures (an end user: its own).", true},
	{PermUserEdit, "Create, change and delete mailboxes and e-mail aliases (an end user: its own signature).", true},
	{PermFilterRead, "Read sender, attachment and URI rules (an end user: its own sender rules).", true},
	{PermFilterEdit, "Change sender, attachment and URI rules (an end user: its own sender rules).", true},
	{PermOptionRead, "Read options.", true},
	{PermOptionEdit, "Set and delete options.", true},
	{PermQuarantineRead, "Browse quarantine, retention and archives.", true},
	{PermQuarantineRelease, "Release held mail.", true},
	{PermMailSend, "Send mail as a mailbox.", true},
	{PermHealth, "Run and read diagnostics.", false},
	{PermDKIM, "Read DKIM keys.", false},
	{PermGrant, "Manage other administrators within one's own reach, never beyond what one holds.", false},
	{PermImpersonate, "Get temporary tokens for the domain's users.", false},
}

// defaultEndUserPermissions apply to a domain whose end-user access was
// never set.
var defaultEndUserPermissions = []string{string(PermUserRead), string(PermFilterRead), string(PermFilterEdit), string(PermQuarantineRead), string(PermQuarantineRelease)}

func isPermission(name string, endUser bool) bool {
	for _, p := range permissions {
		if string(p.Name) == name && (p.EndUser || !endUser) {
			return true
		}
	}
	return false
}

// rule is what one operation requires of its caller.
type rule struct {
	public   bool       // no authentication at all (probes)
	sysadmin bool       // the sysadmin role
	self     string     // path parameter naming an admin: only that admin (or a sysadmin)
	manage   string     // path parameter naming an admin: itself, or an admin the caller manages (canManage)
	any      bool       // any authenticated caller; the handler narrows what it sees
	perm     Permission // a permission on the object named by param
	param    string     // path parameter holding the object's id
	object   string     // DOMAIN, USER, POLICY, …: how param is resolved to a domain
}

func public() rule                     { return rule{public: true} }
func sysadminOnly() rule               { return rule{sysadmin: true} }
func selfOrSysadmin(param string) rule { return rule{self: param} }
func selfOrManager(param string) rule  { return rule{manage: param} }
func authenticated() rule              { return rule{any: true} }
func onDomain(p Permission) rule       { return rule{perm: p, param: "domainId", object: "DOMAIN"} }
func onUser(p Permission) rule         { return rule{perm: p, param: "userId", object: "USER"} }

// onDomainAdmin is GRANT on the domain of the path, and managing its
// administrator (canManage): the same rule as on /security/admins/{id}, so
// that no route reaches an administrator the caller may not manage.
func onDomainAdmin() rule {
	return rule{perm: PermGrant, param: "domainId", object: "DOMAIN", manage: "adminId"}
}
func onObject(p Permission, param, object string) rule {
	return rule{perm: p, param: param, object: object}
}

// keepEchoContext is the strict middleware that hands the handlers the
// Echo context (content negotiation reads the request's Accept from it).
// Access rules are enforced earlier, by admit, before the body is read.
func keepEchoContext(f gen.StrictHandlerFunc, operationID string) gen.StrictHandlerFunc {
	return func(c echo.Context, request any) (any, error) {
		req := c.Request()
		c.SetRequest(req.WithContext(context.WithValue(req.Context(), echoContextKey{}, c)))
		return f(c, request)
	}
}

// check applies a rule. The answer to a caller who may not act is 403
// when the caller can know the object exists (it holds some authority over
// it, or it is its own mailbox), and 404 otherwise, exactly as for an
// object that does not exist: ids outside one's reach reveal nothing.
func (s *Server) check(ctx context.Context, p *Principal, r rule, c echo.Context) error {
	if p.SysAdmin() || r.any {
		return nil
	}
	switch {
	case r.self != "":
		if id, ok := s.ids.Decode(c.Param(r.self)); ok && p.Admin != nil && id == p.Admin.ID {
			return nil
		}
		return forbidden("Only sysadmin or target user can call this endpoint.")
	case r.sysadmin:
		return forbidden("Only users with sysadmin role can execute this request.")
	}
	if r.perm != "" {
		if err := s.decide(ctx, p, r.perm, r.object, c.Param(r.param)); err != nil {
			return err
		}
	}
	if r.manage != "" {
		return s.canManage(ctx, p, c.Param(r.manage))
	}
	return nil
}

// holds reports whether p holds perm on the object (see decide).
func (s *Server) holds(ctx context.Context, p *Principal, perm Permission, object, id string) bool {
	return p.SysAdmin() || s.decide(ctx, p, perm, object, id) == nil
}

// decide answers nil when p holds perm on the object named by id, a 403
// when p may know the object, a 404 otherwise.
func (s *Server) decide(ctx context.Context, p *Principal, perm Permission, object, id string) error {
	if p.SysAdmin() {
		return nil
	}
	domainID, userID, err := s.objectDomain(ctx, object, id)
	if err != nil {
		return notFoundAs(err, outOfReach)
	}
	if p.User != nil {
		// An end user acts only on its own mailbox, with the permissions
		// its domain gives end users.
		if userID == 0 || userID != p.User.ID {
			return notFound(outOfReach)
		}
		granted, err := s.store.DomainUserPermissions(ctx, domainID, defaultEndUserPermissions)
		if err != nil {
			return err
		}
		if slices.Contains(granted, string(perm)) {
			return nil
		}
		return forbidden("Authorisation failure: your domain does not give its users the %s permission.", perm)
	}
	lineage, err := s.store.DomainLineage(ctx, domainID)
	if err != nil {
		return notFoundAs(err, outOfReach)
	}
	known := false
	for i := range p.Authorities {
		a := &p.Authorities[i]
		if !a.Covers(lineage) {
			continue
		}
		if a.Has(string(perm)) {
			return nil
		}
		known = true
	}
	if known {
		return forbidden("Authorisation failure: this operation needs the %s permission on this %s.", perm, objectName(object))
	}
	return notFound(outOfReach)
}

// outOfReach is the 404 of an object that does not exist or that the
// caller cannot know of: the two are told apart by nobody.
const outOfReach = "No such resource within your reach."

// objectDomain resolves an object of the API to the domain it belongs to
// (and, for a user, the user).
func (s *Server) objectDomain(ctx context.Context, object, id string) (domainID, userID int64, err error) {
	switch object {
	case "DOMAIN":
		key, ok := s.ids.Decode(id)
		if !ok {
			return 0, 0, db.ErrNotFound
		}
		return key, 0, s.store.DomainExists(ctx, key)
	case "USER":
		var key int64
		email := ""
		if isAddress(id) {
			email = id
		} else if k, ok := s.ids.Decode(id); ok {
			key = k
		} else {
			return 0, 0, db.ErrNotFound
		}
		u, err := s.store.FindUser(ctx, key, email)
		if err != nil {
			return 0, 0, err
		}
		return u.DomainID, u.ID, nil
	}
	key, ok := s.ids.Decode(id)
	if !ok {
		return 0, 0, db.ErrNotFound
	}
	d, err := s.store.ObjectDomain(ctx, object, key)
	return d, 0, err
}

// readReach is where p may list objects under perm: everything for a
// sysadmin, nothing for an end user (whose lists are its own resources).
func readReach(p *Principal, perm Permission) *db.Reach {
	if p.SysAdmin() {
		return nil
	}
	return db.ReachOf(p.Authorities, string(perm))
}

// grantReach is where p may manage administrators.
func grantReach(p *Principal) *db.Reach {
	if p.SysAdmin() {
		return nil
	}
	return db.ReachOf(p.Authorities, string(PermGrant))
}

// canManage decides whether p may read and change the administrator named
// by id: itself, a sysadmin, or an administrator each of whose authorities
// lies within p's GRANT reach (a sysadmin account is managed only by
// sysadmins).
func (s *Server) canManage(ctx context.Context, p *Principal, id string) error {
	key, ok := s.ids.Decode(id)
	if !ok {
		return notFound("Admin not found with given id")
	}
	if p.SysAdmin() || (p.Admin != nil && p.Admin.ID == key) {
		return nil
	}
	if p.Admin == nil {
		return notFound("Admin not found with given id")
	}
	target, err := s.store.GetAdmin(ctx, key)
	if err != nil {
		return notFoundAs(err, "Admin not found with given id")
	}
	views, err := s.store.AuthoritiesOf(ctx, []int64{key})
	if err != nil {
		return err
	}
	auths := views[key]
	known, managed := 0, 0
	for i := range auths {
		k, m := s.manages(ctx, p, &auths[i])
		if k {
			known++
		}
		if m {
			managed++
		}
	}
	switch {
	case known > 0 && managed == len(auths) && !target.SysAdmin:
		return nil
	case known > 0:
		return forbidden("This administrator holds access beyond yours (another object, or a permission you lack).")
	}
	return notFound("Admin not found with given id")
}

// manages reports whether p holds GRANT over the object of a (it knows of
// the authority), and whether it also holds every permission of a there
// (it manages it): managing an account (its password, its status) must
// not be a way to act with more than one holds.
func (s *Server) manages(ctx context.Context, p *Principal, a *db.AuthorityView) (known, managed bool) {
	held := s.permissionsOn(ctx, p, &a.Object)
	if !slices.Contains(held, string(PermGrant)) {
		return false, false
	}
	for _, perm := range a.Permissions {
		if !slices.Contains(held, perm) {
			return true, false
		}
	}
	return true, true
}

// permissionsOn returns what p holds on a domain (nil for none); a
// sysadmin holds the whole catalog.
func (s *Server) permissionsOn(ctx context.Context, p *Principal, l *db.Lineage) []string {
	var out []string
	for _, perm := range permissions {
		if p.SysAdmin() {
			out = append(out, string(perm.Name))
			continue
		}
		for i := range p.Authorities {
			if a := &p.Authorities[i]; a.Covers(l) && a.Has(string(perm.Name)) {
				out = append(out, string(perm.Name))
				break
			}
		}
	}
	return out
}

func objectName(object string) string {
	switch object {
	case "DOMAIN":
		return "domain"
	case "USER":
		return "user's domain"
	}
	return "object's domain"
}
