package db

import (
	"context"
	"database/sql"
	"slices"
	"strings"

	"github.com/cleanmail/cleanmail/pkg/fault"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// User statuses, as the API spells them.
const (
	UserEnabled  = "ENABLED"
	UserDisabled = "DISABLED"
	UserPending  = "PENDING"
)

// UserView is a user with what the API embeds in it: its effective policy
// and platform (its own, or its domain's) and its domain's state.
type UserView struct {
	User
	Policy           *Policy
	Platform         *Platform
	DomainStatus     string
	DomainPolicyID   *int64
	DomainPlatformID *int64
}

// UserFilter holds the filters of the user lists. DomainID restricts the
// list to one domain.
type UserFilter struct {
	DomainID     *int64
	Email        Match
	PlatformName Match
	// Reach limits the list to the users of domains a caller may read;
	// nil: all.
	Reach *Reach
}

// UserList declares the user lists' sort fields.
var UserList = ListSpec{
	Table:       "users",
	DefaultSort: "email",
	Sorts: map[string]string{
		"id":           "users.id",
		"email":        "lower(users.email)",
		"firstname":    "lower(users.firstname)",
		"lastname":     "lower(users.lastname)",
		"status":       "users.status",
		"creationDate": "users.creation_date",
	},
	Nullable: []string{"firstname", "lastname"},
}

// UserDomain is what creating or editing a user needs to know of its
// domain.
type UserDomain struct {
	Domain
	Aliases         []string
	DefaultPlatform *int64
}

// GetUserDomain loads a domain, its alias names and its default platform.
func (s *Store) GetUserDomain(ctx context.Context, id int64) (*UserDomain, error) {
	gdb, cancel := s.db(ctx)
	defer cancel()
	return userDomain(gdb, id)
}

func userDomain(tx *gorm.DB, id int64) (*UserDomain, error) {
	var d Domain
	if err := tx.First(&d, id).Error; err != nil {
		return nil, translate(err)
	}
	out := &UserDomain{Domain: d}
	if err := tx.Model(&DomainAlias{}).Where("domain_id = ?", id).Pluck("name", &out.Aliases).Error; err != nil {
		return nil, translate(err)
	}
	var ids []int64
	if err := tx.Model(&Platform{}).Where("domain_id = ? AND is_default", id).Order("id").Limit(1).Pluck("id", &ids).Error; err != nil {
		return nil, translate(err)
	}
	if len(ids) == 1 {
		out.DefaultPlatform = &ids[0]
	}
	return out, nil
}

// checkUserRefs verifies that a user's policy and platform belong to its
// domain.
func checkUserRefs(tx *gorm.DB, u *User) error {
	if u.PolicyID != nil {
		var n int64
		if err := tx.Model(&Policy{}).Where("id = ? AND domain_id = ?", *u.PolicyID, u.DomainID).Count(&n).Error; err != nil {
			return err
		}
		if n == 0 {
			return fault.Fail(fault.Unprocessable, "policyId", "no policy of the user's domain has this id")
		}
	}
	if u.PlatformID != nil {
		var n int64
		if err := tx.Model(&Platform{}).Where("id = ? AND domain_id = ?", *u.PlatformID, u.DomainID).Count(&n).Error; err != nil {
			return err
		}
		if n == 0 {
			return fault.Fail(fault.Unprocessable, "platformId", "no platform of the user's domain has this id")
		}
	}
	return nil
}

// CreateUser stores a user and reserves its address. An address already
// used by a user or an e-mail alias gives ErrConflict, decided by the
// database's key.
func (s *Store) CreateUser(ctx context.Context, u *User) error {
	u.Email = strings.ToLower(u.Email)
	u.CreationDate = nowMillis()
	return s.tx(ctx, func(tx *gorm.DB) error {
		// The domain takes users while it is active, decided in the
		// transaction that adds one (its row locked against a concurrent
		// disable or delete on PostgreSQL).
		q := tx
		if s.dialect == Postgres {
			q = tx.Clauses(clause.Locking{Strength: "SHARE"})
		}
		var d Domain
		if err := q.Select("id, name, status").Take(&d, u.DomainID).Error; err != nil {
			return err
		}
		if d.Status == StatusDeleted || d.Status == StatusDisabled {
			return fault.Unprocessablef("", "The domain %s is %s: no user can be created in it.", d.Name, d.Status)
		}
		if err := checkUserRefs(tx, u); err != nil {
			return err
		}
		if err := tx.Create(&MailAddress{Address: u.Email, DomainID: u.DomainID}).Error; err != nil {
			return err
		}
		if err := tx.Create(u).Error; err != nil {
			return err
		}
		// Aliases that already list the address now name a mailbox.
		return claimRecipients(tx, u.Email)
	})
}

// FindUser resolves the API's "id or e-mail address" of a user: key when
// ok, otherwise the address.
func (s *Store) FindUser(ctx context.Context, key int64, email string) (*User, error) {
	gdb, cancel := s.db(ctx)
	defer cancel()
	var u User
	q := gdb
	if email != "" {
		q = q.Where("lower(email) = ?", strings.ToLower(email))
	} else {
		q = q.Where("id = ?", key)
	}
	if err := q.First(&u).Error; err != nil {
		return nil, translate(err)
	}
	return &u, nil
}

// GetUser loads one user with its embedded policy, platform and domain.
func (s *Store) GetUser(ctx context.Context, id int64) (*UserView, error) {
	gdb, cancel := s.db(ctx)
	defer cancel()
	var u User
	if err := gdb.First(&u, id).Error; err != nil {
		return nil, translate(err)
	}
	views, err := loadUserViews(readerOf(gdb), []User{u})
	if err != nil {
		return nil, err
	}
	return &views[0], nil
}

// ListUsers returns one page of users and the count of all matches.
func (s *Store) ListUsers(ctx context.Context, f UserFilter, p Page) ([]UserView, int64, *Cursor, error) {
	gdb, cancel := s.db(ctx)
	defer cancel()
	rows, total, next, err := findPage(ctx, userQuery(gdb, f), UserList, userColumns, p)
	if err != nil {
		return nil, 0, nil, err
	}
	views, err := loadUserViews(readerOf(gdb), rows)
	return views, total, next, err
}

// StreamUsers hands every user of ListUsers (no paging) to fn, in the
// sort's order, a batch at a time, each with what the API embeds.
func (s *Store) StreamUsers(ctx context.Context, f UserFilter, sort string, fn func([]UserView) error) error {
	gdb, cancel := s.db(ctx)
	defer cancel()
	return streamAll(ctx, userQuery(gdb, f), UserList, sort, func(rows []User) error {
		views, err := loadUserViews(readerOf(gdb), rows)
		if err != nil {
			return err
		}
		return fn(views)
	})
}

// withoutDomain is f less its domain.
func (f UserFilter) withoutDomain() UserFilter {
	f.DomainID = nil
	return f
}

// userQuery applies the filters of the user lists.
func userQuery(gdb *gorm.DB, f UserFilter) *gorm.DB {
	q := gdb.Model(&User{})
	if f.DomainID != nil {
		q = q.Where("users.domain_id = ?", *f.DomainID)
	}
	q = where(q, f.Email, "users.email")
	if f.Reach != nil {
		q = q.Where("users.domain_id IN (?)", f.Reach.domainsWhere(q.Session(&gorm.Session{NewDB: true}).Table("domains").Select("domains.id"), "domains.id", "domains.customer_id"))
	}
	// Every user, or a domain's: a kept count.
	if f.withoutDomain() == (UserFilter{}) {
		c := rowCount{table: "users"}
		if f.DomainID != nil {
			c.col, c.val = "domain_id", *f.DomainID
		}
		q = counted(q, c)
	}
	if f.PlatformName != "" {
		// The user's platform, or its domain's default when it has none:
		// the users of the matching platforms, by platform_id, and the
		// users without one of the domains whose default matches, by
		// domain_id, each from its index.
		d := dialectOf(q)
		cond, args := matchClause(d, f.PlatformName, "platforms.name")
		own := inSubquery(d, "users.platform_id", "SELECT platforms.id FROM platforms WHERE "+cond)
		byDefault := inSubquery(d, "users.domain_id", "SELECT platforms.domain_id FROM platforms WHERE platforms.is_default AND "+cond)
		q = anchor(q, f.PlatformName).Where("("+own+" OR (users.platform_id IS NULL AND "+byDefault+"))", slices.Concat(args, args)...)
	}
	return q
}

// The statements of loadUserViews; IN ? is a page's keys. Of a user's
// domain it needs the status and policy, of a domain's default platform
// the key.
var (
	userDomainsSQL      = "SELECT domains.id, domains.status, domains.policy_id FROM domains WHERE domains.id IN ?"
	defaultPlatformsSQL = "SELECT platforms.domain_id, platforms.id FROM platforms" +
		" WHERE platforms.domain_id IN ? AND platforms.is_default ORDER BY platforms.id"
	platformsByIDSQL = "SELECT " + platformColumns.of("platforms") + " FROM platforms WHERE platforms.id IN ?"
)

// loadUserViews embeds policies, platforms and domain state in a page of
// users with a fixed number of queries, scanned by hand (scan.go).
func loadUserViews(r reader, users []User) ([]UserView, error) {
	views := make([]UserView, len(users))
	if len(users) == 0 {
		return views, nil
	}
	domainIDs := map[int64]bool{}
	for _, u := range users {
		domainIDs[u.DomainID] = true
	}
	domains := keys(domainIDs)
	type domainState struct {
		status   string
		policyID *int64
	}
	byDomain := make(map[int64]domainState, len(domains))
	err := query(r, func(rows *sql.Rows) error {
		var id int64
		var d domainState
		if err := rows.Scan(&id, &d.status, &d.policyID); err != nil {
			return err
		}
		byDomain[id] = d
		return nil
	}, userDomainsSQL, domains)
	if err != nil {
		return nil, err
	}
	// A domain's first default platform, should it have several.
	defaultPlatform := map[int64]int64{}
	err = query(r, func(rows *sql.Rows) error {
		var domainID, id int64
		if err := rows.Scan(&domainID, &id); err != nil {
			return err
		}
		if _, ok := defaultPlatform[domainID]; !ok {
			defaultPlatform[domainID] = id
		}
		return nil
	}, defaultPlatformsSQL, domains)
	if err != nil {
		return nil, err
	}
	policyIDs, platformIDs := map[int64]bool{}, map[int64]bool{}
	for i, u := range users {
		v := UserView{User: u}
		if d, ok := byDomain[u.DomainID]; ok {
			v.DomainStatus = d.status
			v.DomainPolicyID = d.policyID
		}
		if id, ok := defaultPlatform[u.DomainID]; ok {
			v.DomainPlatformID = &id
		}
		if pid := firstNonNil(u.PolicyID, v.DomainPolicyID); pid != nil {
			policyIDs[*pid] = true
		}
		if pid := firstNonNil(u.PlatformID, v.DomainPlatformID); pid != nil {
			platformIDs[*pid] = true
		}
		views[i] = v
	}
	var policies []Policy
	if len(policyIDs) > 0 {
		if policies, err = queryAll(r, policyColumns, policiesSQL, keys(policyIDs)); err != nil {
			return nil, err
		}
	}
	var platforms []Platform
	if len(platformIDs) > 0 {
		if platforms, err = queryAll(r, platformColumns, platformsByIDSQL, keys(platformIDs)); err != nil {
			return nil, err
		}
	}
	pol := make(map[int64]*Policy, len(policies))
	for i := range policies {
		pol[policies[i].ID] = &policies[i]
	}
	plat := make(map[int64]*Platform, len(platforms))
	for i := range platforms {
		plat[platforms[i].ID] = &platforms[i]
	}
	for i := range views {
		if pid := firstNonNil(views[i].PolicyID, views[i].DomainPolicyID); pid != nil {
			views[i].Policy = pol[*pid]
		}
		if pid := firstNonNil(views[i].PlatformID, views[i].DomainPlatformID); pid != nil {
			views[i].Platform = plat[*pid]
		}
	}
	return views, nil
}

func keys(m map[int64]bool) []int64 {
	out := make([]int64, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func firstNonNil(ps ...*int64) *int64 {
	for _, p := range ps {
		if p != nil {
			return p
		}
	}
	return nil
}

// UpdateUser loads a user, lets edit change it, and saves it in one
// transaction; a changed address moves its reservation.
func (s *Store) UpdateUser(ctx context.Context, id int64, edit func(u *User) error) error {
	return s.tx(ctx, func(tx *gorm.DB) error {
		var u User
		q := tx
		if s.dialect == Postgres {
			q = tx.Clauses(clause.Locking{Strength: "UPDATE"})
		}
		if err := q.First(&u, id).Error; err != nil {
			return err
		}
		old := u
		if err := edit(&u); err != nil {
			return err
		}
		u.ID, u.DomainID, u.CreationDate = id, old.DomainID, old.CreationDate
		u.Email = strings.ToLower(u.Email)
		if err := checkUserRefs(tx, &u); err != nil {
			return err
		}
		if u.Email != old.Email {
			if err := tx.Create(&MailAddress{Address: u.Email, DomainID: u.DomainID}).Error; err != nil {
				return err
			}
			if err := tx.Where("address = ?", old.Email).Delete(&MailAddress{}).Error; err != nil {
				return err
			}
		}
		if err := tx.Model(&User{ID: id}).Select("*").Omit("id", "domain_id", "creation_date").Updates(&u).Error; err != nil {
			return err
		}
		if u.Email != old.Email {
			return claimRecipients(tx, u.Email)
		}
		return nil
	})
}

// DeleteUser removes a user, and with it (by the foreign keys' cascades)
// everything that belongs only to it: options, sender rules, alias
// memberships; its address is released. One transaction.
func (s *Store) DeleteUser(ctx context.Context, id int64) error {
	return s.tx(ctx, func(tx *gorm.DB) error {
		var u User
		if err := tx.First(&u, id).Error; err != nil {
			return err
		}
		if err := tx.Delete(&User{}, id).Error; err != nil {
			return err
		}
		if err := dropCounts(tx, "user_id", []int64{id}); err != nil {
			return err
		}
		return tx.Where("address = ?", u.Email).Delete(&MailAddress{}).Error
	})
}
