package db

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/cleanmail/cleanmail/pkg/fault"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Sender rule types, as the API spells them.
const (
	WblistAllow     = "ALLOW"
	WblistBlock     = "BLOCK"
	WblistProtected = "PROTECTED"
)

// Domain.WblistPriority values: whose rule wins when a domain's and a
// mailbox's rules disagree.
const (
	PriorityDomain = "DOMAIN"
	PriorityUser   = "USER"
)

// WblistRule is a sender rule (the doc's wblist entry): it allows, blocks
// or protects a sender address or domain for a domain or for a mailbox.
// Its model lives here rather than in models.go: one file per resource.
type WblistRule struct {
	ID       int64 `gorm:"primaryKey"`
	DomainID *int64
	UserID   *int64
	// Value is an address or a domain name, in canonical (lower-case) form.
	Value       string
	Type        string
	SpfOn       *bool
	ExpireAt    *int64
	Description *string
	CreatedAt   int64 `gorm:"autoCreateTime:false"`
}

// WblistView is a rule with the name of its owner: the domain's name or
// the mailbox's address.
type WblistView struct {
	WblistRule
	Owner string
}

// WblistOwner names the owner of sender rules: a domain or a mailbox,
// exactly one of the two keys set.
type WblistOwner struct {
	DomainID int64
	UserID   int64
}

// DomainOwner and UserOwner build the two kinds of owners.
func DomainOwner(id int64) WblistOwner { return WblistOwner{DomainID: id} }
func UserOwner(id int64) WblistOwner   { return WblistOwner{UserID: id} }

// IsDomain tells a domain owner from a mailbox owner.
func (o WblistOwner) IsDomain() bool { return o.DomainID != 0 }

func (o WblistOwner) column() string {
	if o.IsDomain() {
		return "wblist_rules.domain_id"
	}
	return "wblist_rules.user_id"
}

func (o WblistOwner) key() int64 {
	if o.IsDomain() {
		return o.DomainID
	}
	return o.UserID
}

// Owns makes o the owner of r.
func (o WblistOwner) Owns(r *WblistRule) {
	r.DomainID, r.UserID = nil, nil
	if o.IsDomain() {
		id := o.DomainID
		r.DomainID = &id
	} else {
		id := o.UserID
		r.UserID = &id
	}
}

// OwnerOf returns the owner of a stored rule.
func OwnerOf(r *WblistRule) WblistOwner {
	if r.DomainID != nil {
		return DomainOwner(*r.DomainID)
	}
	if r.UserID != nil {
		return UserOwner(*r.UserID)
	}
	return WblistOwner{}
}

// WblistFilter holds the filters of the sender rule lists. An empty Type
// filters nothing.
type WblistFilter struct {
	Type  string
	Value Match
}

// WblistList returns the sort fields of an owner's rule list. A list holds
// one owner's rules, so sorting on the owner is sorting on its key (the
// same for every row): the id tie-breaker decides, as the doc's examples
// show. The doc's defaults: owner for a domain, id for a mailbox.
func WblistList(o WblistOwner) ListSpec {
	spec := ListSpec{
		Table:       "wblist_rules",
		DefaultSort: "id",
		Sorts: map[string]string{
			"id":          "wblist_rules.id",
			"owner":       o.column(),
			"value":       "lower(wblist_rules.value)",
			"type":        "wblist_rules.type",
			"createdDate": "wblist_rules.created_at",
			// Rules that never expire sort last, on both databases.
			"expireAt": "COALESCE(wblist_rules.expire_at, 9223372036854775807)",
		},
		// One owner per list.
		Constant: []string{"owner"},
	}
	if o.IsDomain() {
		spec.DefaultSort = "owner"
	}
	return spec
}

// active restricts q to rules that have not expired at now: an expired
// rule no longer counts anywhere.
func active(q *gorm.DB, now int64) *gorm.DB {
	return q.Where("(wblist_rules.expire_at IS NULL OR wblist_rules.expire_at > ?)", now)
}

// ownerName loads the name of an owner: the domain's name or the mailbox's
// address. A missing owner is ErrNotFound.
func ownerName(tx *gorm.DB, o WblistOwner) (string, error) {
	var names []string
	var err error
	if o.IsDomain() {
		err = tx.Model(&Domain{}).Where("id = ?", o.DomainID).Limit(1).Pluck("name", &names).Error
	} else {
		err = tx.Model(&User{}).Where("id = ?", o.UserID).Limit(1).Pluck("email", &names).Error
	}
	if err != nil {
		return "", translate(err)
	}
	if len(names) == 0 {
		return "", ErrNotFound
	}
	return names[0], nil
}

// lockOwner loads an owner's name and, on PostgreSQL, locks its row until
// the transaction ends, so that concurrent changes to one owner's rules
// apply one after the other (SQLite transactions are serial already). A
// missing owner is ErrNotFound.
func (s *Store) lockOwner(tx *gorm.DB, o WblistOwner) (string, error) {
	q := tx
	if s.dialect == Postgres {
		q = tx.Clauses(clause.Locking{Strength: "NO KEY UPDATE"})
	}
	var names []string
	var err error
	if o.IsDomain() {
		err = q.Model(&Domain{}).Where("id = ?", o.DomainID).Pluck("name", &names).Error
	} else {
		err = q.Model(&User{}).Where("id = ?", o.UserID).Pluck("email", &names).Error
	}
	if err != nil {
		return "", err
	}
	if len(names) == 0 {
		return "", ErrNotFound
	}
	return names[0], nil
}

// purgeExpired deletes an owner's expired rules: they no longer count, and
// must not hold the unique key against a new identical rule.
func purgeExpired(tx *gorm.DB, o WblistOwner, now int64) error {
	return tx.Where(o.column()+" = ? AND expire_at IS NOT NULL AND expire_at <= ?", o.key(), now).Delete(&WblistRule{}).Error
}

// wblistQuery selects an owner's active rules that match f.
func wblistQuery(gdb *gorm.DB, o WblistOwner, f WblistFilter) *gorm.DB {
	now := nowMillis()
	q := active(gdb.Model(&WblistRule{}).Where(o.column()+" = ?", o.key()), now)
	if f == (WblistFilter{}) {
		// The owner's rules, less those that expired and wait for the
		// purge (counted from the index of their expiry).
		col := strings.TrimPrefix(o.column(), "wblist_rules.")
		expired := gdb.Session(&gorm.Session{NewDB: true}).Model(&WblistRule{}).Select("COUNT(*)").
			Where(o.column()+" = ? AND wblist_rules.expire_at <= ?", o.key(), now)
		return counted(q, rowCount{table: "wblist_rules", col: col, val: o.key(), less: expired})
	}
	if f.Type != "" {
		q = q.Where("wblist_rules.type = ?", f.Type)
	}
	return where(q, f.Value, "wblist_rules.value")
}

// ListWblistRules returns one page of an owner's rules that have not
// expired, and the count of all matches. A missing owner is ErrNotFound.
func (s *Store) ListWblistRules(ctx context.Context, o WblistOwner, f WblistFilter, p Page) ([]WblistView, int64, *Cursor, error) {
	gdb, cancel := s.db(ctx)
	defer cancel()
	name, err := ownerName(gdb, o)
	if err != nil {
		return nil, 0, nil, err
	}
	rows, total, next, err := findPage(ctx, wblistQuery(gdb, o, f), WblistList(o), wblistColumns, p)
	if err != nil {
		return nil, 0, nil, err
	}
	return withOwner(rows, name), total, next, nil
}

// StreamWblistRules hands every rule of ListWblistRules (no paging) to fn,
// in the sort's order, a batch at a time. A missing owner is ErrNotFound,
// before fn is called.
func (s *Store) StreamWblistRules(ctx context.Context, o WblistOwner, f WblistFilter, sort string, fn func([]WblistView) error) error {
	gdb, cancel := s.db(ctx)
	defer cancel()
	name, err := ownerName(gdb, o)
	if err != nil {
		return err
	}
	views := make([]WblistView, 0, StreamBatch)
	return streamAll(ctx, wblistQuery(gdb, o, f), WblistList(o), sort, func(rows []WblistRule) error {
		views = views[:0]
		for _, r := range rows {
			views = append(views, WblistView{WblistRule: r, Owner: name})
		}
		return fn(views)
	})
}

func withOwner(rows []WblistRule, name string) []WblistView {
	out := make([]WblistView, len(rows))
	for i, r := range rows {
		out[i] = WblistView{WblistRule: r, Owner: name}
	}
	return out
}

// wblistInsertBatch keeps a multi-row insert under both databases' limits
// on bound parameters (9 columns a row).
const wblistInsertBatch = 1000

// insertRules stores rules whose owners are locked, in order, and returns
// them with their owners' names.
func insertRules(tx *gorm.DB, rules []WblistRule, names map[WblistOwner]string, now int64) ([]WblistView, error) {
	if len(rules) == 0 {
		return []WblistView{}, nil
	}
	for i := range rules {
		rules[i].ID = 0
		rules[i].CreatedAt = now
	}
	if err := tx.CreateInBatches(&rules, wblistInsertBatch).Error; err != nil {
		return nil, err
	}
	out := make([]WblistView, len(rules))
	for i, r := range rules {
		out[i] = WblistView{WblistRule: r, Owner: names[OwnerOf(&r)]}
	}
	return out, nil
}

// AddWblistRules stores new rules, each with its owner set, all or
// nothing. An owner that does not exist (any more) is ErrUnprocessable; a
// rule identical to a stored one (same owner, value and type) is an
// ErrConflict naming it.
func (s *Store) AddWblistRules(ctx context.Context, rules []WblistRule) ([]WblistView, error) {
	var out []WblistView
	now := nowMillis()
	err := s.tx(ctx, func(tx *gorm.DB) error {
		names, err := s.lockOwners(tx, rules, now)
		if err != nil {
			return err
		}
		out, err = insertRules(tx, rules, names, now)
		return err
	})
	if errors.Is(err, ErrConflict) {
		return nil, s.identicalRule(ctx, rules, 0, err)
	}
	return out, err
}

// lockOwners locks the distinct owners of rules, in a stable order (no
// deadlock between two bulk requests), and purges their expired rules.
func (s *Store) lockOwners(tx *gorm.DB, rules []WblistRule, now int64) (map[WblistOwner]string, error) {
	names := map[WblistOwner]string{}
	var order []WblistOwner
	for i := range rules {
		o := OwnerOf(&rules[i])
		if _, ok := names[o]; !ok {
			names[o] = ""
			order = append(order, o)
		}
	}
	sortOwners(order)
	for _, o := range order {
		name, err := s.lockOwner(tx, o)
		if errors.Is(err, ErrNotFound) {
			return nil, fault.Fail(fault.Unprocessable, "owner", "the owner of a rule no longer exists")
		}
		if err != nil {
			return nil, err
		}
		names[o] = name
		if err := purgeExpired(tx, o, now); err != nil {
			return nil, err
		}
	}
	return names, nil
}

func sortOwners(os []WblistOwner) {
	slices.SortFunc(os, func(a, b WblistOwner) int {
		return cmp.Or(cmp.Compare(a.DomainID, b.DomainID), cmp.Compare(a.UserID, b.UserID))
	})
}

// SetWblistRules replaces all of an owner's rules with rules, all or
// nothing, and returns the new ones. A missing owner is ErrNotFound.
func (s *Store) SetWblistRules(ctx context.Context, o WblistOwner, rules []WblistRule) ([]WblistView, error) {
	var out []WblistView
	now := nowMillis()
	for i := range rules {
		o.Owns(&rules[i])
	}
	err := s.tx(ctx, func(tx *gorm.DB) error {
		name, err := s.lockOwner(tx, o)
		if err != nil {
			return err
		}
		if err := tx.Where(o.column()+" = ?", o.key()).Delete(&WblistRule{}).Error; err != nil {
			return err
		}
		out, err = insertRules(tx, rules, map[WblistOwner]string{o: name}, now)
		return err
	})
	return out, err
}

// UpdateWblistRule replaces one of an owner's rules (an expired one no
// longer exists) by another, keeping its id and creation date. A missing
// owner or rule is ErrNotFound; a rule identical to another one of the
// owner is an ErrConflict naming it.
func (s *Store) UpdateWblistRule(ctx context.Context, o WblistOwner, id int64, r WblistRule) (*WblistView, error) {
	var out WblistView
	now := nowMillis()
	err := s.tx(ctx, func(tx *gorm.DB) error {
		name, err := s.lockOwner(tx, o)
		if err != nil {
			return err
		}
		if err := purgeExpired(tx, o, now); err != nil {
			return err
		}
		var old WblistRule
		if err := tx.Where("id = ? AND "+o.column()+" = ?", id, o.key()).First(&old).Error; err != nil {
			return err
		}
		r.ID, r.CreatedAt = id, old.CreatedAt
		o.Owns(&r)
		if err := tx.Model(&WblistRule{ID: id}).Select("value", "type", "spf_on", "expire_at", "description").Updates(&r).Error; err != nil {
			return err
		}
		out = WblistView{WblistRule: r, Owner: name}
		return nil
	})
	if errors.Is(err, ErrConflict) {
		return nil, s.identicalRule(ctx, []WblistRule{r}, id, err)
	}
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteWblistRule deletes one of an owner's rules. A missing owner, or a
// rule that is not the owner's or has expired, is ErrNotFound.
func (s *Store) DeleteWblistRule(ctx context.Context, o WblistOwner, id int64) error {
	return s.write(ctx, func(gdb *gorm.DB) error {
		return deleted(active(gdb.Where("id = ? AND "+o.column()+" = ?", id, o.key()), nowMillis()).Delete(&WblistRule{}))
	})
}

// identicalRule explains a unique-key violation of a write of rules: it
// finds a stored rule identical to one of them (once the transaction has
// rolled back, so the lookup sees only committed rules; except is the rule
// being replaced) and answers an ErrConflict naming it. The bare conflict
// is returned when none is found: the rule in the way was concurrent.
func (s *Store) identicalRule(ctx context.Context, rules []WblistRule, except int64, conflict error) error {
	gdb, cancel := s.db(ctx)
	defer cancel()
	byOwner := map[WblistOwner][]string{}
	for i := range rules {
		o := OwnerOf(&rules[i])
		byOwner[o] = append(byOwner[o], strings.ToLower(rules[i].Value))
	}
	now := nowMillis()
	for o, values := range byOwner {
		for start := 0; start < len(values); start += wblistInsertBatch {
			chunk := values[start:min(start+wblistInsertBatch, len(values))]
			var found []WblistRule
			err := active(gdb.Where(o.column()+" = ? AND lower(value) IN ? AND id <> ?", o.key(), chunk, except), now).Find(&found).Error
			if err != nil {
				return translate(err)
			}
			for _, f := range found {
				for i := range rules {
					if OwnerOf(&rules[i]) == o && strings.EqualFold(rules[i].Value, f.Value) && rules[i].Type == f.Type {
						name, _ := ownerName(gdb, o)
						return fault.Fail(fault.Conflict, "", fmt.Sprintf("An identical rule already exists: %s %s for %s.", f.Type, f.Value, name))
					}
				}
			}
		}
	}
	return conflict
}

// FindWblistOwners resolves the owners named in a bulk request: an e-mail
// address names a mailbox, anything else a domain (by its name or one of
// its aliases). Names are compared in lower case; unknown ones are absent
// from the result.
func (s *Store) FindWblistOwners(ctx context.Context, names []string) (map[string]WblistOwner, error) {
	gdb, cancel := s.db(ctx)
	defer cancel()
	var addrs, domains []string
	for _, n := range names {
		n = strings.ToLower(n)
		if strings.Contains(n, "@") {
			addrs = append(addrs, n)
		} else {
			domains = append(domains, n)
		}
	}
	out := map[string]WblistOwner{}
	for start := 0; start < len(addrs); start += wblistInsertBatch {
		var users []User
		chunk := addrs[start:min(start+wblistInsertBatch, len(addrs))]
		if err := gdb.Select("id", "email").Where("lower(email) IN ?", chunk).Find(&users).Error; err != nil {
			return nil, translate(err)
		}
		for _, u := range users {
			out[strings.ToLower(u.Email)] = UserOwner(u.ID)
		}
	}
	for start := 0; start < len(domains); start += wblistInsertBatch {
		var dn []DomainName
		chunk := domains[start:min(start+wblistInsertBatch, len(domains))]
		if err := gdb.Where("name IN ?", chunk).Find(&dn).Error; err != nil {
			return nil, translate(err)
		}
		for _, d := range dn {
			out[d.Name] = DomainOwner(d.DomainID)
		}
	}
	return out, nil
}

// PurgeExpiredWblistRules deletes every rule expired at now, and returns
// how many. Expired rules are ignored everywhere already; this only
// reclaims their space.
func (s *Store) PurgeExpiredWblistRules(ctx context.Context, now int64) (int64, error) {
	var n int64
	err := s.write(ctx, func(gdb *gorm.DB) error {
		res := gdb.Where("expire_at IS NOT NULL AND expire_at <= ?", now).Delete(&WblistRule{})
		n = res.RowsAffected
		return res.Error
	})
	return n, err
}

// WblistMatches returns the active rules of a mailbox and of its domain
// whose value is one of values (the candidates of a sender, in canonical
// form): what Decide needs, in one query on the unique keys.
func (s *Store) WblistMatches(ctx context.Context, userID, domainID int64, values []string) ([]WblistView, error) {
	gdb, cancel := s.db(ctx)
	defer cancel()
	user, err := ownerName(gdb, UserOwner(userID))
	if err != nil {
		return nil, err
	}
	domain, err := ownerName(gdb, DomainOwner(domainID))
	if err != nil {
		return nil, err
	}
	var rows []WblistRule
	err = active(gdb.Where("(wblist_rules.user_id = ? OR wblist_rules.domain_id = ?) AND lower(wblist_rules.value) IN ?", userID, domainID, values), nowMillis()).
		Order("wblist_rules.id").Find(&rows).Error
	if err != nil {
		return nil, translate(err)
	}
	out := make([]WblistView, len(rows))
	for i, r := range rows {
		name := domain
		if r.UserID != nil {
			name = user
		}
		out[i] = WblistView{WblistRule: r, Owner: name}
	}
	return out, nil
}

// Decision is what the sender rules of a mailbox and its domain decide
// for one sender.
type Decision struct {
	// Type is ALLOW or BLOCK, or empty when no rule decides.
	Type string
	// Rule is the deciding rule; nil when none decides.
	Rule *WblistView
	// Overruled is the best rule of the other owner when it disagreed and
	// lost to Rule by the domain's wblistPriority; nil otherwise.
	Overruled *WblistView
	// Agreeing is the best rule of the other owner when it decided the
	// same; nil otherwise.
	Agreeing *WblistView
}

// Decide applies sender rules to a sender. candidates are the values that
// match the sender, most specific first: its address, then its domain,
// then each parent domain. rules are the active rules of the mailbox and
// of its domain (as WblistMatches returns them), priority the domain's
// wblistPriority.
//
// Each owner decides on its own with its most specific matching ALLOW or
// BLOCK rule (BLOCK wins a tie on the same value; PROTECTED rules neither
// allow nor block). When the mailbox and the domain both decide and
// disagree, the priority side wins: USER the mailbox, DOMAIN the domain.
// When they agree, the priority side's rule is the one reported.
func Decide(rules []WblistView, candidates []string, priority string) Decision {
	rank := make(map[string]int, len(candidates))
	for i, c := range candidates {
		if _, ok := rank[c]; !ok {
			rank[c] = i
		}
	}
	best := func(mailbox bool) *WblistView {
		var b *WblistView
		for i := range rules {
			r := &rules[i]
			if (r.UserID != nil) != mailbox || (r.Type != WblistAllow && r.Type != WblistBlock) {
				continue
			}
			k, ok := rank[strings.ToLower(r.Value)]
			if !ok {
				continue
			}
			if b == nil || k < rank[strings.ToLower(b.Value)] ||
				(k == rank[strings.ToLower(b.Value)] && r.Type == WblistBlock && b.Type != WblistBlock) {
				b = r
			}
		}
		return b
	}
	user, domain := best(true), best(false)
	first, second := user, domain
	if priority == PriorityDomain {
		first, second = domain, user
	}
	switch {
	case first == nil && second == nil:
		return Decision{}
	case first == nil:
		return Decision{Type: second.Type, Rule: second}
	case second == nil:
		return Decision{Type: first.Type, Rule: first}
	case first.Type == second.Type:
		return Decision{Type: first.Type, Rule: first, Agreeing: second}
	}
	return Decision{Type: first.Type, Rule: first, Overruled: second}
}
