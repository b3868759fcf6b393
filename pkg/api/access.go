package api

import (
	"context"
	"slices"

	"github.com/labstack/echo/v4"

	"github.com/cleanmail/cleanmail/db"
	"github.com/cleanmail/cleanmail/gen"
	"github.com/cleanmail/cleanmail/pkg/fault"
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

// rule is what one operation requires of its caller, and which object of
// its path it acts on. admit applies it before the body is read; the
// object is resolved once (a target), for the decision and for the
// handler.
type rule struct {
	public   bool          // no authentication at all (probes)
	any      bool          // any authenticated caller
	sysadmin bool          // the sysadmin role
	self     bool          // the admin of the path itself (or a sysadmin)
	manage   bool          // the admin of the path (adminId): itself, or one the caller manages (canManage)
	perm     Permission    // a permission on the object of the path
	object   db.ObjectKind // the object of the path, resolved for the handler ("": none)
	list     Permission    // a list, narrowed to where the caller holds this permission
	// missing words the 404 of a missing object, to a sysadmin, where the
	// doc words it otherwise than its resource does.
	missing fault.Resource
}

// worded is r with the doc's own words for the 404 of its object.
func (r rule) worded(missing fault.Resource) rule { r.missing = missing; return r }

func public() rule        { return rule{public: true} }
func authenticated() rule { return rule{any: true} }

// listIn is a list narrowed to the objects on which the caller holds perm:
// the target's reach, which the handler hands to the store.
func listIn(perm Permission) rule { return rule{any: true, list: perm} }

func sysadminOnly() rule { return rule{sysadmin: true} }

// sysadminOn is the sysadmin's, on an object of the path.
func sysadminOn(kind db.ObjectKind) rule { return rule{sysadmin: true, object: kind} }

// selfOrSysadmin is the admin of the path itself, or a sysadmin.
func selfOrSysadmin() rule { return rule{self: true, object: db.ObjectAdmin} }

// selfOrManager is the admin of the path itself, or one who manages it.
func selfOrManager() rule { return rule{manage: true, object: db.ObjectAdmin} }

func onDomain(p Permission) rule { return rule{perm: p, object: db.ObjectDomain} }
func onUser(p Permission) rule   { return rule{perm: p, object: db.ObjectUser} }

// onObject is a permission on an object of a domain, named by the path.
func onObject(p Permission, kind db.ObjectKind) rule { return rule{perm: p, object: kind} }

// onDomainAdmin is GRANT on the domain of the path, and managing its
// administrator (canManage): the same rule as on /security/admins/{id}, so
// that no route reaches an administrator the caller may not manage.
func onDomainAdmin() rule { return rule{perm: PermGrant, object: db.ObjectDomain, manage: true} }

// objectSpec is how a kind of object is named in a path, and worded when
// it is missing.
type objectSpec struct {
	param    string
	resource fault.Resource
}

// objects is the one table of the kinds of objects a rule may name.
var objects = map[db.ObjectKind]objectSpec{
	db.ObjectDomain:           {"domainId", fault.Domain},
	db.ObjectUser:             {"userId", fault.User},
	db.ObjectPolicy:           {"policyId", fault.Policy},
	db.ObjectPlatform:         {"platformId", fault.Platform},
	db.ObjectEmailAlias:       {"groupId", fault.EmailAlias},
	db.ObjectAttachmentFilter: {"attachmentId", fault.AttachmentFilter},
	db.ObjectUriFilter:        {"uriId", fault.UriFilter},
	db.ObjectCustomer:         {"customerId", fault.Customer},
	db.ObjectBroker:           {"brokerId", fault.Broker},
	db.ObjectAdmin:            {"adminId", fault.Admin},
	db.ObjectOutgoingProvider: {"outgoingProviderId", fault.OutgoingProvider},
}

// target is what the access layer resolved for a handler, once: the
// object of the path and where it sits, the administrator a domain admin
// route manages, and for a list, where the caller may read.
type target struct {
	kind     db.ObjectKind
	key      int64       // the object's key
	user     *db.User    // the user, for a user object
	domainID int64       // the domain the object is, or belongs to (0 above domains)
	lineage  *db.Lineage // where the domain, customer or broker sits
	admin    int64       // the administrator of a domain admin route (adminId)
	reach    *db.Reach   // a list's reach; nil: everything (a sysadmin)
	hidden   bool        // a user of a DELETED domain: the sysadmin's alone
}

type targetKey struct{}

// targetOf is the target the access layer resolved for the request.
func targetOf(ctx context.Context) *target {
	t, _ := ctx.Value(targetKey{}).(*target)
	if t == nil {
		return &target{}
	}
	return t
}

// check applies r to a request before its body is read. A sysadmin may do
// anything: the object of its request is resolved later (resolveTarget),
// after validation, as any handler's lookup would be. For anyone else the
// object is resolved now (a 404 for one that does not exist, or is out of
// the caller's reach: the two are told apart by nobody) and the decision
// made: 403 when the caller can know the object exists (it holds some
// authority over it, or it is its own mailbox), 404 otherwise.
func (s *Server) check(ctx context.Context, p *Principal, r rule, param func(string) string) (*target, error) {
	if p.SysAdmin() {
		return nil, nil
	}
	if r.sysadmin {
		return nil, forbidden("Only users with sysadmin role can execute this request.")
	}
	if r.self {
		if key, ok := s.ids.Decode(param(objects[db.ObjectAdmin].param)); !ok || p.Admin == nil || key != p.Admin.ID {
			return nil, forbidden("Only sysadmin or target user can call this endpoint.")
		}
	}
	return s.apply(ctx, p, r, param)
}

// apply resolves the object of r (named by param) and decides r's
// permission on it for p, as check does, for every caller.
func (s *Server) apply(ctx context.Context, p *Principal, r rule, param func(string) string) (*target, error) {
	t := &target{}
	if r.object != "" {
		var err error
		if t, err = s.resolve(ctx, p, r.object, param(objects[r.object].param)); err != nil {
			if r.missing != "" && p.SysAdmin() && fault.KindOf(err) == fault.NotFound {
				return nil, fault.NotFoundOf(r.missing)
			}
			return nil, err
		}
	}
	if r.list != "" {
		t.reach = readReach(p, r.list)
	}
	if r.perm != "" {
		if err := s.decide(ctx, p, r.perm, t); err != nil {
			return nil, err
		}
	}
	if t.hidden && !p.SysAdmin() {
		return nil, fault.NotFoundOf(fault.User)
	}
	if r.manage {
		if r.object == db.ObjectAdmin {
			t.admin = t.key
		} else if key, ok := s.ids.Decode(param(objects[db.ObjectAdmin].param)); ok {
			t.admin = key
		} else {
			return nil, fault.NotFoundOf(fault.Admin)
		}
		if err := s.canManage(ctx, p, t.admin); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// on applies a rule to an object a request names outside its path (in
// its body or query): the named rules of rules.go, for every caller.
func (s *Server) on(ctx context.Context, r rule, id string) (*target, error) {
	return s.apply(ctx, principalFrom(ctx), r, func(string) string { return id })
}

// resolveTarget is the strict middleware that completes the target of a
// sysadmin's request, whose object check left unresolved, now that the
// request is valid; it also hands the handlers the request's facts.
func (s *Server) resolveTarget(f gen.StrictHandlerFunc, operationID string) gen.StrictHandlerFunc {
	r := rules[operationID]
	// An operation not built yet answers 501 openly, whatever its path names.
	resolve := !notDelivered[operationID]
	return func(c echo.Context, request any) (any, error) {
		req := c.Request()
		ctx := context.WithValue(req.Context(), requestFactsKey{}, requestFacts{accept: slices.Clone(req.Header.Values(echo.HeaderAccept)),
			operation: operationID, path: req.URL.EscapedPath(), query: req.URL.RawQuery})
		if p := principalFrom(ctx); resolve && p.SysAdmin() && ctx.Value(targetKey{}) == nil {
			t, err := s.apply(ctx, p, r, c.Param)
			if err != nil {
				return nil, err
			}
			ctx = context.WithValue(ctx, targetKey{}, t)
		}
		c.SetRequest(req.WithContext(ctx))
		return f(c, request)
	}
}

// requestFacts are the facts of a request a handler may read and the
// generated request objects do not carry: copied values, never the Echo
// context itself, which Echo reuses once the request ends.
type requestFacts struct {
	accept    []string // the Accept header's values
	operation string   // the operation's id
	// path and query are the request's, as sent (escaped): a list's
	// Link names the same request with another cursor.
	path, query string
}

type requestFactsKey struct{}

func factsOf(ctx context.Context) requestFacts {
	f, _ := ctx.Value(requestFactsKey{}).(requestFacts)
	return f
}

// resolve finds the object of kind named by id (for a user, an id or an
// e-mail address) and where it sits. A missing one is a 404: in the
// resource's words for a sysadmin, in the same words as an object out of
// reach for anyone else.
func (s *Server) resolve(ctx context.Context, p *Principal, kind db.ObjectKind, id string) (*target, error) {
	missing := func(err error) error {
		if err != nil && fault.KindOf(err) != fault.NotFound {
			return err
		}
		if p.SysAdmin() {
			return fault.NotFoundOf(objects[kind].resource)
		}
		return fault.NotFoundOf(fault.Unreachable)
	}
	t := &target{kind: kind}
	if kind == db.ObjectUser {
		var key int64
		email := ""
		if isAddress(id) {
			email = id
		} else if k, ok := s.ids.Decode(id); ok {
			key = k
		} else {
			return nil, missing(nil)
		}
		u, err := s.store.FindUser(ctx, key, email)
		if err != nil {
			return nil, missing(err)
		}
		t.key, t.user, t.domainID = u.ID, u, u.DomainID
	} else {
		key, ok := s.ids.Decode(id)
		if !ok {
			return nil, missing(nil)
		}
		t.key = key
		var err error
		switch kind {
		case db.ObjectDomain:
			t.domainID = key
		case db.ObjectAdmin:
			err = s.store.AdminExists(ctx, key)
		case db.ObjectCustomer:
			t.lineage, err = s.store.CustomerLineage(ctx, key)
		case db.ObjectBroker:
			t.lineage, err = &db.Lineage{BrokerID: &key}, s.store.BrokerExists(ctx, key)
		case db.ObjectOutgoingProvider:
			_, err = s.store.GetOutgoingProvider(ctx, key)
		default:
			t.domainID, err = s.store.ObjectDomain(ctx, kind, key)
		}
		if err != nil {
			return nil, missing(err)
		}
	}
	if t.domainID != 0 {
		l, err := s.store.DomainLineage(ctx, t.domainID)
		if err != nil {
			return nil, missing(err)
		}
		t.lineage = l
		t.hidden = kind == db.ObjectUser && l.Domain.Status == db.StatusDeleted
	}
	return t, nil
}

// decide answers nil when p holds perm on the target's object, a 403 when
// p may know the object, a 404 otherwise.
func (s *Server) decide(ctx context.Context, p *Principal, perm Permission, t *target) error {
	if p.SysAdmin() {
		return nil
	}
	if p.User != nil {
		// An end user acts only on its own mailbox, with the permissions
		// its domain gives end users.
		if t.user == nil || t.user.ID != p.User.ID {
			return fault.NotFoundOf(fault.Unreachable)
		}
		granted, err := s.store.DomainUserPermissions(ctx, t.domainID, defaultEndUserPermissions)
		if err != nil {
			return err
		}
		if slices.Contains(granted, string(perm)) {
			return nil
		}
		return forbidden("Authorisation failure: your domain does not give its users the %s permission.", perm)
	}
	if t.lineage == nil {
		return fault.NotFoundOf(fault.Unreachable)
	}
	known := false
	for i := range p.Authorities {
		a := &p.Authorities[i]
		if !a.Covers(t.lineage) {
			continue
		}
		if a.Has(string(perm)) {
			return nil
		}
		known = true
	}
	if known {
		return forbidden("Authorisation failure: this operation needs the %s permission on this %s.", perm, objectName(t.kind))
	}
	return fault.NotFoundOf(fault.Unreachable)
}

// readReach is where p may list objects under perm: everything for a
// sysadmin, nothing for an end user (whose lists are its own resources).
func readReach(p *Principal, perm Permission) *db.Reach {
	if p.SysAdmin() {
		return nil
	}
	return db.ReachOf(p.Authorities, string(perm))
}

// canManage decides whether p may read and change the administrator of
// key: itself, a sysadmin, or an administrator each of whose authorities
// lies within p's GRANT reach (a sysadmin account is managed only by
// sysadmins).
func (s *Server) canManage(ctx context.Context, p *Principal, key int64) error {
	if p.SysAdmin() || (p.Admin != nil && p.Admin.ID == key) {
		return nil
	}
	if p.Admin == nil {
		return fault.NotFoundOf(fault.Admin)
	}
	target, err := s.store.GetAdmin(ctx, key)
	if err != nil {
		return about(err, fault.Admin)
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
	return fault.NotFoundOf(fault.Admin)
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

func objectName(kind db.ObjectKind) string {
	switch kind {
	case db.ObjectDomain:
		return "domain"
	case db.ObjectUser:
		return "user's domain"
	}
	return "object's domain"
}
