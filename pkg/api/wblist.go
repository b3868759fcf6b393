package api

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/cleanmail/cleanmail/db"
	"github.com/cleanmail/cleanmail/gen"
	"github.com/cleanmail/cleanmail/pkg/fault"
	"github.com/cleanmail/cleanmail/pkg/names"
)

// Sender rules (the doc's wblist): allow, block or protect a sender address
// or domain, for a domain or for a mailbox; plus the decision they make for
// one sender.

// wblistOut converts a stored rule for the wire. spfOn, description and
// expireAt are null when unset, as the doc's examples show (spfOn is only
// ever set on ALLOW rules).
func (s *Server) wblistOut(v *db.WblistView) gen.WblistRule {
	return gen.WblistRule{
		Id:          s.id(v.ID),
		Value:       v.Value,
		Owner:       v.Owner,
		Type:        gen.WblistRuleType(v.Type),
		CreatedDate: v.CreatedAt,
		ExpireAt:    null(v.ExpireAt),
		Description: null(v.Description),
		SpfOn:       null(v.SpfOn),
	}
}

func (s *Server) wblistOuts(views []db.WblistView) []gen.WblistRule {
	out := make([]gen.WblistRule, len(views))
	for i := range views {
		out[i] = s.wblistOut(&views[i])
	}
	return out
}

// wblistColumns are the columns of a sender rule export: one per field.
var wblistColumns = []column[gen.WblistRule]{
	{"id", 10, func(r *gen.WblistRule) any { return r.Id }},
	{"value", 36, func(r *gen.WblistRule) any { return r.Value }},
	{"owner", 30, func(r *gen.WblistRule) any { return r.Owner }},
	{"type", 12, func(r *gen.WblistRule) any { return string(r.Type) }},
	{"createdDate", 20, func(r *gen.WblistRule) any { return msDate(&r.CreatedDate) }},
	{"expireAt", 20, func(r *gen.WblistRule) any { return msDate(nullablePtr(r.ExpireAt)) }},
	{"description", 40, func(r *gen.WblistRule) any { return optional(nullablePtr(r.Description)) }},
	{"spfOn", 8, func(r *gen.WblistRule) any { return optional(nullablePtr(r.SpfOn)) }},
}

// senderValue validates the value of a rule, an e-mail address or a domain
// name, and returns its canonical (lower-case) form.
func senderValue(field, v string) (string, error) {
	var out string
	var err error
	if strings.Contains(v, "@") {
		out, _, err = mailbox(field, v)
	} else {
		out, err = names.Domain(v)
	}
	if err != nil {
		return "", badField(field, "%q is neither an e-mail address nor a domain name", v)
	}
	return out, nil
}

// wblistRule validates one rule of a request at now; prefix names it in
// errors ("0." for the first item of a list, "" for a single rule). spfOn
// belongs to ALLOW rules only: false when absent, and dropped from others.
func wblistRule(prefix, value string, typ gen.WblistRuleType, expireAt *int64, description *string, spfOn *bool, now int64) (db.WblistRule, error) {
	v, err := senderValue(prefix+"value", value)
	if err != nil {
		return db.WblistRule{}, err
	}
	if expireAt != nil && *expireAt <= now {
		return db.WblistRule{}, fault.Unprocessablef(prefix+"expireAt", "the expiration date is in the past")
	}
	r := db.WblistRule{Value: v, Type: string(typ), ExpireAt: expireAt, Description: description}
	if r.Type == db.WblistAllow {
		r.SpfOn = ptr(deref(spfOn, false))
	}
	return r, nil
}

// wblistRules validates the rules of a list body, for owner.
func wblistRules(o db.WblistOwner, in []gen.WblistRuleAdd) ([]db.WblistRule, error) {
	now := time.Now().UnixMilli()
	rules := make([]db.WblistRule, len(in))
	for i, x := range in {
		r, err := wblistRule(itoa(i)+".", x.Value, x.Type, x.ExpireAt, x.Description, x.SpfOn, now)
		if err != nil {
			return nil, err
		}
		o.Owns(&r)
		rules[i] = r
	}
	return rules, sameRules(rules)
}

// sameRules refuses a body that holds one rule twice (same owner, value
// and type): 409, as if the first had been stored already.
func sameRules(rules []db.WblistRule) error {
	type key struct {
		owner       db.WblistOwner
		value, kind string
	}
	seen := make(map[key]int, len(rules))
	for i := range rules {
		k := key{db.OwnerOf(&rules[i]), rules[i].Value, rules[i].Type}
		if j, ok := seen[k]; ok {
			return conflict("Items %d and %d are the same rule (%s %s).", j, i, rules[i].Type, rules[i].Value)
		}
		seen[k] = i
	}
	return nil
}

func wblistFilter(typ *gen.WblistRuleType, value *string) db.WblistFilter {
	f := db.WblistFilter{Value: match(value)}
	if typ != nil {
		f.Type = string(*typ)
	}
	return f
}

// exportWblist answers a sender rule list as a spreadsheet.
func (s *Server) exportWblist(ctx context.Context, o db.WblistOwner, owner string, f db.WblistFilter, sort *string) (*spreadsheet, error) {
	return exportList(ctx, exportName("wblist", owner), "Sender rules", wblistColumns, s.wblistOut,
		func(fn func([]db.WblistView) error) error {
			return s.store.StreamWblistRules(ctx, o, f, deref(sort, ""), fn)
		})
}

// wblistOwner is the owner of the rules of the request's path, a domain
// or a mailbox, as the access layer resolved it (and the mailbox's user).
func wblistOwner(ctx context.Context) (db.WblistOwner, *db.User) {
	t := targetOf(ctx)
	if t.user != nil {
		return db.UserOwner(t.key), t.user
	}
	return db.DomainOwner(t.key), nil
}

// ListDomainWblistRules lists a domain's sender rules that have not
// expired, as JSON or as a spreadsheet.
func (s *Server) ListDomainWblistRules(ctx context.Context, req gen.ListDomainWblistRulesRequestObject) (gen.ListDomainWblistRulesResponseObject, error) {
	key := targetOf(ctx).key
	o, p := db.DomainOwner(key), req.Params
	f := wblistFilter(p.Type, p.Value)
	if wantsSpreadsheet(ctx) {
		d, err := s.store.GetUserDomain(ctx, key)
		if err != nil {
			return nil, about(err, fault.Domain)
		}
		x, err := s.exportWblist(ctx, o, d.Name, f, p.Sort)
		if err != nil {
			return nil, about(err, fault.Domain)
		}
		return gen.ListDomainWblistRules200ApplicationvndOpenxmlformatsOfficedocumentSpreadsheetmlSheetResponse{Body: x.Body, Headers: gen.ListDomainWblistRules200ResponseHeaders(x.headers())}, nil
	}
	pg, err := s.listPage(ctx, p.Offset, p.PageSize, p.Sort, p.Cursor)
	if err != nil {
		return nil, err
	}
	rows, total, next, err := s.store.ListWblistRules(ctx, o, f, pg)
	if err != nil {
		return nil, about(err, fault.Domain)
	}
	return gen.ListDomainWblistRules200JSONResponse{Body: s.wblistOuts(rows), Headers: gen.ListDomainWblistRules200ResponseHeaders{XTotalCount: total, Link: s.nextLink(ctx, next)}}, nil
}

// ListUserWblistRules lists a mailbox's sender rules that have not
// expired, as JSON or as a spreadsheet.
func (s *Server) ListUserWblistRules(ctx context.Context, req gen.ListUserWblistRulesRequestObject) (gen.ListUserWblistRulesResponseObject, error) {
	o, u := wblistOwner(ctx)
	p := req.Params
	f := wblistFilter(p.Type, p.Value)
	if wantsSpreadsheet(ctx) {
		x, err := s.exportWblist(ctx, o, u.Email, f, p.Sort)
		if err != nil {
			return nil, about(err, fault.User)
		}
		return gen.ListUserWblistRules200ApplicationvndOpenxmlformatsOfficedocumentSpreadsheetmlSheetResponse{Body: x.Body, Headers: gen.ListUserWblistRules200ResponseHeaders(x.headers())}, nil
	}
	pg, err := s.listPage(ctx, p.Offset, p.PageSize, p.Sort, p.Cursor)
	if err != nil {
		return nil, err
	}
	rows, total, next, err := s.store.ListWblistRules(ctx, o, f, pg)
	if err != nil {
		return nil, about(err, fault.User)
	}
	return gen.ListUserWblistRules200JSONResponse{Body: s.wblistOuts(rows), Headers: gen.ListUserWblistRules200ResponseHeaders{XTotalCount: total, Link: s.nextLink(ctx, next)}}, nil
}

// AddDomainWblistRules adds rules to a domain, all or nothing.
func (s *Server) AddDomainWblistRules(ctx context.Context, req gen.AddDomainWblistRulesRequestObject) (gen.AddDomainWblistRulesResponseObject, error) {
	o, _ := wblistOwner(ctx)
	rules, err := wblistRules(o, *req.Body)
	if err != nil {
		return nil, err
	}
	added, err := s.store.AddWblistRules(ctx, rules)
	if err != nil {
		return nil, err
	}
	return gen.AddDomainWblistRules201JSONResponse{
		Body:    s.wblistOuts(added),
		Headers: gen.AddDomainWblistRules201ResponseHeaders{Location: s.location("/domains/%s/wblist", req.DomainId)},
	}, nil
}

// AddUserWblistRules adds rules to a mailbox, all or nothing.
func (s *Server) AddUserWblistRules(ctx context.Context, req gen.AddUserWblistRulesRequestObject) (gen.AddUserWblistRulesResponseObject, error) {
	o, u := wblistOwner(ctx)
	rules, err := wblistRules(o, *req.Body)
	if err != nil {
		return nil, err
	}
	added, err := s.store.AddWblistRules(ctx, rules)
	if err != nil {
		return nil, err
	}
	return gen.AddUserWblistRules201JSONResponse{
		Body:    s.wblistOuts(added),
		Headers: gen.AddUserWblistRules201ResponseHeaders{Location: s.location("/users/%s/wblist", s.id(u.ID))},
	}, nil
}

// SetDomainWblistRules replaces all of a domain's rules, all or nothing.
func (s *Server) SetDomainWblistRules(ctx context.Context, req gen.SetDomainWblistRulesRequestObject) (gen.SetDomainWblistRulesResponseObject, error) {
	key := targetOf(ctx).key
	o := db.DomainOwner(key)
	rules, err := wblistRules(o, *req.Body)
	if err != nil {
		return nil, err
	}
	set, err := s.store.SetWblistRules(ctx, o, rules)
	if err != nil {
		return nil, about(err, fault.Domain)
	}
	return gen.SetDomainWblistRules200JSONResponse(s.wblistOuts(set)), nil
}

// SetUserWblistRules replaces all of a mailbox's rules, all or nothing.
func (s *Server) SetUserWblistRules(ctx context.Context, req gen.SetUserWblistRulesRequestObject) (gen.SetUserWblistRulesResponseObject, error) {
	o, _ := wblistOwner(ctx)
	rules, err := wblistRules(o, *req.Body)
	if err != nil {
		return nil, err
	}
	set, err := s.store.SetWblistRules(ctx, o, rules)
	if err != nil {
		return nil, about(err, fault.User)
	}
	return gen.SetUserWblistRules200JSONResponse(s.wblistOuts(set)), nil
}

// updateWblistRule replaces one rule of an owner by the body's.
func (s *Server) updateWblistRule(ctx context.Context, o db.WblistOwner, ruleID string, in gen.WblistRuleAdd, missing fault.Resource) (gen.WblistRule, error) {
	id, err := s.pathKey(ruleID, fault.WblistRule)
	if err != nil {
		return gen.WblistRule{}, err
	}
	r, err := wblistRule("", in.Value, in.Type, in.ExpireAt, in.Description, in.SpfOn, time.Now().UnixMilli())
	if err != nil {
		return gen.WblistRule{}, err
	}
	v, err := s.store.UpdateWblistRule(ctx, o, id, r)
	if err != nil {
		return gen.WblistRule{}, about(err, missing)
	}
	return s.wblistOut(v), nil
}

// UpdateDomainWblistRule replaces one of a domain's rules, keeping its id.
func (s *Server) UpdateDomainWblistRule(ctx context.Context, req gen.UpdateDomainWblistRuleRequestObject) (gen.UpdateDomainWblistRuleResponseObject, error) {
	key := targetOf(ctx).key
	out, err := s.updateWblistRule(ctx, db.DomainOwner(key), req.WbItemId, *req.Body, fault.DomainOrRule)
	if err != nil {
		return nil, err
	}
	return gen.UpdateDomainWblistRule200JSONResponse(out), nil
}

// UpdateUserWblistRule replaces one of a mailbox's rules, keeping its id.
func (s *Server) UpdateUserWblistRule(ctx context.Context, req gen.UpdateUserWblistRuleRequestObject) (gen.UpdateUserWblistRuleResponseObject, error) {
	o, _ := wblistOwner(ctx)
	out, err := s.updateWblistRule(ctx, o, req.WbItemId, *req.Body, fault.UserRule)
	if err != nil {
		return nil, err
	}
	return gen.UpdateUserWblistRule200JSONResponse(out), nil
}

// DeleteDomainWblistRule deletes one of a domain's rules.
func (s *Server) DeleteDomainWblistRule(ctx context.Context, req gen.DeleteDomainWblistRuleRequestObject) (gen.DeleteDomainWblistRuleResponseObject, error) {
	key := targetOf(ctx).key
	id, err := s.pathKey(req.WbItemId, fault.WblistRule)
	if err != nil {
		return nil, err
	}
	if err := s.store.DeleteWblistRule(ctx, db.DomainOwner(key), id); err != nil {
		return nil, about(err, fault.WblistRule)
	}
	return gen.DeleteDomainWblistRule204Response{}, nil
}

// DeleteUserWblistRule deletes one of a mailbox's rules.
func (s *Server) DeleteUserWblistRule(ctx context.Context, req gen.DeleteUserWblistRuleRequestObject) (gen.DeleteUserWblistRuleResponseObject, error) {
	o, _ := wblistOwner(ctx)
	id, err := s.pathKey(req.WbItemId, fault.WblistRule)
	if err != nil {
		return nil, err
	}
	if err := s.store.DeleteWblistRule(ctx, o, id); err != nil {
		return nil, about(err, fault.WblistRule)
	}
	return gen.DeleteUserWblistRule204Response{}, nil
}

// ownerName validates the owner of a bulk item: a mailbox's address or a
// domain's name, in canonical form.
func ownerName(field, v string) (string, error) {
	if strings.Contains(v, "@") {
		addr, _, err := mailbox(field, v)
		return addr, err
	}
	return named(field, v, names.Domain)
}

// AddWblistEntries adds rules to any owners, named in each item: all or
// nothing. Items are checked in order; the first failure answers: 400 for
// a malformed item, 422 for an owner that does not exist, 403 for an owner
// the caller may not edit the rules of, 409 for a rule that exists already.
func (s *Server) AddWblistEntries(ctx context.Context, req gen.AddWblistEntriesRequestObject) (gen.AddWblistEntriesResponseObject, error) {
	in := *req.Body
	now := time.Now().UnixMilli()
	names := make([]string, len(in))
	rules := make([]db.WblistRule, len(in))
	for i, x := range in {
		prefix := itoa(i) + "."
		n, err := ownerName(prefix+"owner", x.Owner)
		if err != nil {
			return nil, err
		}
		names[i] = n
		if rules[i], err = wblistRule(prefix, x.Value, x.Type, x.ExpireAt, x.Description, x.SpfOn, now); err != nil {
			return nil, err
		}
	}
	owners, err := s.store.FindWblistOwners(ctx, names)
	if err != nil {
		return nil, err
	}
	p := principalFrom(ctx)
	allowed := map[db.WblistOwner]bool{}
	for i, n := range names {
		o, ok := owners[n]
		if !ok {
			return nil, fault.Unprocessablef(itoa(i)+".owner", "no domain or mailbox is named %q", in[i].Owner)
		}
		if _, checked := allowed[o]; !checked {
			if allowed[o], err = s.mayEditRules(ctx, p, o); err != nil {
				return nil, err
			}
		}
		if !allowed[o] {
			return nil, forbidden("Authorisation failure: editing the rules of %s needs the %s permission on it.", n, PermFilterEdit)
		}
		o.Owns(&rules[i])
	}
	if err := sameRules(rules); err != nil {
		return nil, err
	}
	added, err := s.store.AddWblistRules(ctx, rules)
	if err != nil {
		return nil, err
	}
	// The new rules' list, when they have one owner; none otherwise (no
	// one URL lists several owners' rules).
	var where *string
	if len(allowed) == 1 {
		for o := range allowed {
			where = ptr(s.ownerLocation(ctx, o))
		}
	}
	return gen.AddWblistEntries201JSONResponse{Body: s.wblistOuts(added), Headers: gen.AddWblistEntries201ResponseHeaders{Location: where}}, nil
}

// mayEditRules tells whether p may edit an owner's rules: FILTER_EDIT on
// the domain, or on the mailbox's domain (ruleEditDomainRules,
// ruleEditUserRules).
func (s *Server) mayEditRules(ctx context.Context, p *Principal, o db.WblistOwner) (bool, error) {
	if p.SysAdmin() {
		return true, nil
	}
	r, id := ruleEditUserRules, s.id(o.UserID)
	if o.IsDomain() {
		r, id = ruleEditDomainRules, s.id(o.DomainID)
	}
	switch _, err := s.on(ctx, r, id); fault.KindOf(err) {
	case fault.Internal:
		if err != nil {
			return false, err
		}
		return true, nil
	case fault.NotFound, fault.Forbidden:
		return false, nil
	default:
		return false, err
	}
}

func (s *Server) ownerLocation(ctx context.Context, o db.WblistOwner) string {
	if o.IsDomain() {
		return s.location("/domains/%s/wblist", s.id(o.DomainID))
	}
	return s.location("/users/%s/wblist", s.id(o.UserID))
}

// senderCandidates returns the rule values that match a sender, most
// specific first: its address (when it is one), its domain, then each
// parent domain down to two labels (a rule's domain has at least two).
func senderCandidates(sender string) ([]string, error) {
	var addr, domain string
	var err error
	if strings.Contains(sender, "@") {
		addr, domain, err = mailbox("sender", sender)
	} else {
		domain, err = names.Domain(sender)
	}
	if err != nil {
		return nil, badField("sender", "%q is neither an e-mail address nor a domain name", sender)
	}
	var out []string
	if addr != "" {
		out = append(out, addr)
	}
	labels := strings.Split(domain, ".")
	for i := 0; i+2 <= len(labels); i++ {
		out = append(out, strings.Join(labels[i:], "."))
	}
	return out, nil
}

// GetWblistDecision tells what the sender rules of a mailbox and its
// domain decide for a sender, and why (see db.Decide for the algorithm).
func (s *Server) GetWblistDecision(ctx context.Context, req gen.GetWblistDecisionRequestObject) (gen.GetWblistDecisionResponseObject, error) {
	u := targetOf(ctx).user
	candidates, err := senderCandidates(req.Params.Sender)
	if err != nil {
		return nil, err
	}
	d, err := s.store.GetUserDomain(ctx, u.DomainID)
	if err != nil {
		return nil, about(err, fault.User)
	}
	rules, err := s.store.WblistMatches(ctx, u.ID, u.DomainID, candidates)
	if err != nil {
		return nil, about(err, fault.User)
	}
	dec := db.Decide(rules, candidates, d.WblistPriority)
	out := gen.WblistDecision{Decision: gen.WblistDecisionValueNONE}
	out.Rule.SetNull()
	if dec.Rule == nil {
		out.Reason = fmt.Sprintf("No active ALLOW or BLOCK rule of the mailbox %s or of its domain %s matches %s.", u.Email, d.Name, candidates[0])
		return gen.GetWblistDecision200JSONResponse(out), nil
	}
	out.Decision = gen.WblistDecisionValue(dec.Type)
	// WblistDecisionRule is WblistRule made nullable: the conversion stops
	// compiling if the two schemas ever differ.
	out.Rule.Set(gen.WblistDecisionRule(s.wblistOut(dec.Rule)))
	reason := fmt.Sprintf("The %s rule %s %s matches %s (%s).", ruleLevel(dec.Rule), dec.Rule.Type, dec.Rule.Value, candidates[0], matchKind(dec.Rule.Value, candidates))
	switch {
	case dec.Overruled != nil:
		reason += fmt.Sprintf(" It overrules the %s rule %s %s: the domain %s gives priority to %s rules (wblistPriority %s).",
			ruleLevel(dec.Overruled), dec.Overruled.Type, dec.Overruled.Value, d.Name, ruleLevel(dec.Rule), d.WblistPriority)
	case dec.Agreeing != nil:
		reason += fmt.Sprintf(" The %s rule %s %s agrees.", ruleLevel(dec.Agreeing), dec.Agreeing.Type, dec.Agreeing.Value)
	}
	out.Reason = reason
	return gen.GetWblistDecision200JSONResponse(out), nil
}

func ruleLevel(r *db.WblistView) string {
	if r.UserID != nil {
		return "mailbox"
	}
	return "domain"
}

// matchKind says how a rule's value matched the sender.
func matchKind(value string, candidates []string) string {
	for i, c := range candidates {
		if c != value {
			continue
		}
		switch {
		case strings.Contains(c, "@"):
			return "the sender's address"
		case i == 0 || (i == 1 && strings.Contains(candidates[0], "@")):
			return "the sender's domain"
		}
		return "a parent domain of the sender's domain"
	}
	return "the sender"
}
