package db

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	"github.com/cleanmail/cleanmail/pkg/fault"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Domain statuses, as the API spells them.
const (
	StatusEnabled  = "ENABLED"
	StatusDisabled = "DISABLED"
	StatusDeleted  = "DELETED"
	StatusPending  = "PENDING"
)

// DomainView is a domain with everything the API embeds in it.
type DomainView struct {
	Domain
	Policy            *Policy
	Aliases           []DomainAlias
	Customer          *Customer
	Platforms         []Platform
	OutgoingProviders []OutgoingProvider
	PoliciesCount     int
	// ActiveUsersCount counts ENABLED users.
	ActiveUsersCount int64
	// Services offered by at least one of the domain's policies.
	Quarantine, Retention, Archive, Incoming bool
}

// DomainFilter holds the documented filters of the domain list. Ids that
// the API could not decode arrive as 0, which matches nothing.
type DomainFilter struct {
	Name Match
	// Status is one of the statuses, as stored (canonical): compared
	// exactly, which an index serves.
	Status       *string
	ExternalID   Match
	PlatformName Match
	CustomerID   *int64
	PlatformID   *int64
	// Reach limits the list to the domains a caller may read; nil: all.
	Reach *Reach
}

// DomainList declares the domain list's sort fields.
var DomainList = ListSpec{
	Table:       "domains",
	DefaultSort: "name",
	Sorts: map[string]string{
		"id":           "domains.id",
		"name":         "lower(domains.name)",
		"status":       "domains.status",
		"creationDate": "domains.creation_date",
		"externalId":   "lower(domains.external_id)",
	},
	Nullable: []string{"externalId"},
}

// NewDomain is everything a domain is created with.
type NewDomain struct {
	Domain              Domain
	Policy              Policy
	Platforms           []Platform
	OutgoingProviderIDs []int64
}

// CreateDomain stores a domain with its default policy and platforms, in
// one transaction. A name already taken by a domain or a domain alias gives
// ErrConflict, decided by the database's unique key.
func (s *Store) CreateDomain(ctx context.Context, nd *NewDomain) (int64, error) {
	d := nd.Domain
	err := s.tx(ctx, func(tx *gorm.DB) error {
		if d.CustomerID != nil {
			if err := exists(tx, &Customer{}, *d.CustomerID, "customerId", "customer"); err != nil {
				return err
			}
		}
		if err := checkOutgoingProviders(tx, nd.OutgoingProviderIDs); err != nil {
			return err
		}
		d.CreationDate = nowMillis()
		if err := tx.Omit("PolicyID").Create(&d).Error; err != nil {
			return err
		}
		if err := tx.Create(&DomainName{Name: strings.ToLower(d.Name), DomainID: d.ID}).Error; err != nil {
			return err
		}
		p := nd.Policy
		p.DomainID = d.ID
		if err := tx.Create(&p).Error; err != nil {
			return err
		}
		if err := tx.Model(&Domain{}).Where("id = ?", d.ID).Update("policy_id", p.ID).Error; err != nil {
			return err
		}
		if err := replacePlatforms(tx, d.ID, nd.Platforms); err != nil {
			return err
		}
		return replaceOutgoingProviders(tx, d.ID, nd.OutgoingProviderIDs)
	})
	return d.ID, err
}

func exists(tx *gorm.DB, model any, id int64, field, what string) error {
	var n int64
	if err := tx.Model(model).Where("id = ?", id).Count(&n).Error; err != nil {
		return err
	}
	if n == 0 {
		return fault.Fail(fault.Unprocessable, field, "no "+what+" has this id")
	}
	return nil
}

func checkOutgoingProviders(tx *gorm.DB, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	var n int64
	if err := tx.Model(&OutgoingProvider{}).Where("id IN ?", ids).Count(&n).Error; err != nil {
		return err
	}
	if int(n) != len(uniq(ids)) {
		return fault.Fail(fault.Unprocessable, "outgoingProvidersIds", "an outgoing provider id does not exist")
	}
	return nil
}

func uniq(ids []int64) map[int64]bool {
	m := make(map[int64]bool, len(ids))
	for _, id := range ids {
		m[id] = true
	}
	return m
}

func replacePlatforms(tx *gorm.DB, domainID int64, platforms []Platform) error {
	if err := tx.Where("domain_id = ?", domainID).Delete(&Platform{}).Error; err != nil {
		return err
	}
	if len(platforms) == 0 {
		return nil
	}
	for i := range platforms {
		platforms[i].ID = 0
		platforms[i].DomainID = domainID
	}
	return tx.Create(&platforms).Error
}

func replaceOutgoingProviders(tx *gorm.DB, domainID int64, ids []int64) error {
	if err := tx.Where("domain_id = ?", domainID).Delete(&DomainOutgoingProvider{}).Error; err != nil {
		return err
	}
	links := make([]DomainOutgoingProvider, 0, len(ids))
	for id := range uniq(ids) {
		links = append(links, DomainOutgoingProvider{DomainID: domainID, OutgoingProviderID: id})
	}
	if len(links) == 0 {
		return nil
	}
	return tx.Create(&links).Error
}

// GetDomain loads one domain with everything embedded in it.
func (s *Store) GetDomain(ctx context.Context, id int64) (*DomainView, error) {
	d, err := s.DomainRow(ctx, id)
	if err != nil {
		return nil, err
	}
	return s.DomainView(ctx, d)
}

// DomainView embeds in a domain's row, as DomainRow or DomainLineage read
// it, what GetDomain embeds.
func (s *Store) DomainView(ctx context.Context, d *Domain) (*DomainView, error) {
	r, cancel := s.reads(ctx)
	defer cancel()
	views, err := loadDomainViews(r, []Domain{*d})
	if err != nil {
		return nil, err
	}
	return &views[0], nil
}

// DomainRow loads a domain's own row alone (its name, status…), one query,
// for callers that need none of what GetDomain embeds.
func (s *Store) DomainRow(ctx context.Context, id int64) (*Domain, error) {
	r, cancel := s.reads(ctx)
	defer cancel()
	rows, err := queryAll(r, domainColumns, domainRowSQL, id)
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, ErrNotFound
	}
	return &rows[0], nil
}

// DomainExists tells whether a domain with this id exists.
func (s *Store) DomainExists(ctx context.Context, id int64) error {
	gdb, cancel := s.db(ctx)
	defer cancel()
	var n int64
	if err := gdb.Model(&Domain{}).Where("id = ?", id).Count(&n).Error; err != nil {
		return translate(err)
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

// ListDomains returns one page of domains and the count of all matches.
func (s *Store) ListDomains(ctx context.Context, f DomainFilter, p Page) ([]DomainView, int64, *Cursor, error) {
	gdb, cancel := s.db(ctx)
	defer cancel()
	q := gdb.Model(&Domain{})
	q = where(q, f.Name, "domains.name")
	if f.Status != nil {
		q = q.Where("domains.status = ?", *f.Status)
	}
	q = where(q, f.ExternalID, "domains.external_id")
	q = f.Reach.domainsWhere(q, "domains.id", "domains.customer_id")
	if f.CustomerID != nil {
		q = q.Where("domains.customer_id = ?", *f.CustomerID)
	}
	// The domains of the matching platforms, rather than a test of each
	// domain's platforms: SQLite then finds the platforms by their index
	// and their domains by key, instead of going through every domain.
	// On PostgreSQL as = ANY (ARRAY(...)) (inSubquery): as a join, the
	// planner sometimes hashed every domain against a few hundred
	// matching platforms (TestExplainLists caught it on one run in
	// several, as its statistics' sample varied).
	d := dialectOf(q)
	if f.PlatformID != nil {
		q = q.Where(inSubquery(d, "domains.id", "SELECT platforms.domain_id FROM platforms WHERE platforms.id = ?"), *f.PlatformID)
	}
	if f.PlatformName != "" {
		cond, args := matchClause(d, f.PlatformName, "platforms.name")
		q = anchor(q, f.PlatformName).Where(inSubquery(d, "domains.id", "SELECT platforms.domain_id FROM platforms WHERE "+cond), args...)
	}
	if f == (DomainFilter{}) {
		q = counted(q, rowCount{table: "domains"})
	}
	rows, total, next, err := findPage(ctx, q, DomainList, domainColumns, p)
	if err != nil {
		return nil, 0, nil, err
	}
	views, err := loadDomainViews(readerOf(gdb), rows)
	return views, total, next, err
}

// The statements of DomainRow and loadDomainViews; IN ? is a page's keys.
var (
	domainRowSQL = "SELECT " + domainColumns.of("domains") + " FROM domains WHERE domains.id = ?"
	policiesSQL  = "SELECT " + policyColumns.of("policies") + " FROM policies WHERE policies.id IN ?"
	// A domain's count of policies and the services any of them has on.
	policyStatsSQL = `SELECT domain_id, COUNT(*),
			MAX(CASE WHEN quarantine THEN 1 ELSE 0 END), MAX(CASE WHEN retention THEN 1 ELSE 0 END),
			MAX(CASE WHEN archive THEN 1 ELSE 0 END), MAX(CASE WHEN incoming THEN 1 ELSE 0 END)
		FROM policies WHERE domain_id IN ? GROUP BY domain_id`
	activeUsersSQL = "SELECT val, SUM(n) FROM row_counts WHERE tbl = 'users' AND col = 'domain_id:enabled' AND val IN ? GROUP BY val"
	aliasesSQL     = "SELECT " + domainAliasColumns.of("domain_aliases") +
		" FROM domain_aliases WHERE domain_aliases.domain_id IN ? ORDER BY domain_aliases.name, domain_aliases.id"
	platformsSQL = "SELECT " + platformColumns.of("platforms") +
		" FROM platforms WHERE platforms.domain_id IN ? ORDER BY platforms.id"
	customersSQL = "SELECT " + customerColumns.of("customers") + " FROM customers WHERE customers.id IN ?"
	providersSQL = "SELECT " + outgoingProviderColumns.of("outgoing_providers") + `, domain_outgoing_providers.domain_id
		FROM outgoing_providers
		JOIN domain_outgoing_providers ON domain_outgoing_providers.outgoing_provider_id = outgoing_providers.id
		WHERE domain_outgoing_providers.domain_id IN ?
		ORDER BY outgoing_providers.name, outgoing_providers.id`
)

// loadDomainViews embeds policies, aliases, customers, platforms and
// providers in a page of domains with a fixed number of queries.
func loadDomainViews(r reader, domains []Domain) ([]DomainView, error) {
	views := make([]DomainView, len(domains))
	if len(domains) == 0 {
		return views, nil
	}
	ids := make([]int64, len(domains))
	byID := make(map[int64]*DomainView, len(domains))
	var policyIDs, customerIDs []int64
	for i, d := range domains {
		views[i] = DomainView{Domain: d, Aliases: []DomainAlias{}, Platforms: []Platform{}, OutgoingProviders: []OutgoingProvider{}}
		ids[i] = d.ID
		byID[d.ID] = &views[i]
		if d.PolicyID != nil {
			policyIDs = append(policyIDs, *d.PolicyID)
		}
		if d.CustomerID != nil {
			customerIDs = append(customerIDs, *d.CustomerID)
		}
	}

	if len(policyIDs) > 0 {
		policies, err := queryAll(r, policyColumns, policiesSQL, policyIDs)
		if err != nil {
			return nil, err
		}
		for i := range policies {
			if v := byID[policies[i].DomainID]; v != nil && v.PolicyID != nil && *v.PolicyID == policies[i].ID {
				v.Policy = &policies[i]
			}
		}
	}

	err := query(r, func(rows *sql.Rows) error {
		var id int64
		var n, quarantine, retention, archive, incoming int
		if err := rows.Scan(&id, &n, &quarantine, &retention, &archive, &incoming); err != nil {
			return err
		}
		v := byID[id]
		v.PoliciesCount = n
		v.Quarantine, v.Retention, v.Archive, v.Incoming = quarantine == 1, retention == 1, archive == 1, incoming == 1
		return nil
	}, policyStatsSQL, ids)
	if err != nil {
		return nil, err
	}

	// The enabled users' kept count: a key lookup, not a count of a
	// large domain's users.
	err = query(r, func(rows *sql.Rows) error {
		var id, n int64
		if err := rows.Scan(&id, &n); err != nil {
			return err
		}
		byID[id].ActiveUsersCount = n
		return nil
	}, activeUsersSQL, ids)
	if err != nil {
		return nil, err
	}

	aliases, err := queryAll(r, domainAliasColumns, aliasesSQL, ids)
	if err != nil {
		return nil, err
	}
	for _, a := range aliases {
		v := byID[a.DomainID]
		v.Aliases = append(v.Aliases, a)
	}

	platforms, err := queryAll(r, platformColumns, platformsSQL, ids)
	if err != nil {
		return nil, err
	}
	for _, p := range platforms {
		v := byID[p.DomainID]
		v.Platforms = append(v.Platforms, p)
	}

	if len(customerIDs) > 0 {
		customers, err := queryAll(r, customerColumns, customersSQL, customerIDs)
		if err != nil {
			return nil, err
		}
		cs := make(map[int64]*Customer, len(customers))
		for i := range customers {
			cs[customers[i].ID] = &customers[i]
		}
		for i := range views {
			if views[i].CustomerID != nil {
				views[i].Customer = cs[*views[i].CustomerID]
			}
		}
	}

	err = query(r, func(rows *sql.Rows) error {
		var p OutgoingProvider
		var id int64
		if err := rows.Scan(append(outgoingProviderColumns.fields(&p), &id)...); err != nil {
			return err
		}
		v := byID[id]
		v.OutgoingProviders = append(v.OutgoingProviders, p)
		return nil
	}, providersSQL, ids)
	if err != nil {
		return nil, err
	}
	return views, nil
}

// DomainEdit is what an update may change: the domain row, its default
// policy, and (when non-nil) the whole list of platforms or providers.
type DomainEdit struct {
	Domain              Domain
	Policy              *Policy
	Platforms           *[]Platform
	OutgoingProviderIDs *[]int64
}

// UpdateDomain loads a domain and its default policy, lets edit change
// them, and saves the result, all in one transaction (the row is locked
// on PostgreSQL, so concurrent edits apply one after the other).
func (s *Store) UpdateDomain(ctx context.Context, id int64, edit func(e *DomainEdit) error) error {
	return s.tx(ctx, func(tx *gorm.DB) error {
		var d Domain
		q := tx
		if s.dialect == Postgres {
			q = tx.Clauses(clause.Locking{Strength: "UPDATE"})
		}
		if err := q.First(&d, id).Error; err != nil {
			return err
		}
		e := &DomainEdit{Domain: d}
		if d.PolicyID != nil {
			var p Policy
			if err := tx.First(&p, *d.PolicyID).Error; err == nil {
				e.Policy = &p
			} else if !errors.Is(err, gorm.ErrRecordNotFound) {
				return err
			}
		}
		if err := edit(e); err != nil {
			return err
		}
		nd := e.Domain
		nd.ID = id
		if e.Domain.PolicyID != nil && (d.PolicyID == nil || *d.PolicyID != *nd.PolicyID) {
			var p Policy
			if err := tx.Where("id = ? AND domain_id = ?", *nd.PolicyID, id).First(&p).Error; err != nil {
				if errors.Is(err, gorm.ErrRecordNotFound) {
					return fault.Fail(fault.Unprocessable, "policyId", "the policy does not belong to this domain")
				}
				return err
			}
		}
		if nd.CustomerID != nil && (d.CustomerID == nil || *d.CustomerID != *nd.CustomerID) {
			if err := exists(tx, &Customer{}, *nd.CustomerID, "customerId", "customer"); err != nil {
				return err
			}
		}
		if lower := strings.ToLower(nd.Name); lower != strings.ToLower(d.Name) {
			// The new name must be free; the alias rows point at names,
			// so the old reservation goes only after the new one holds.
			if err := tx.Create(&DomainName{Name: lower, DomainID: id}).Error; err != nil {
				return err
			}
			if err := tx.Where("name = ?", strings.ToLower(d.Name)).Delete(&DomainName{}).Error; err != nil {
				return err
			}
		}
		if err := tx.Model(&Domain{ID: id}).Select("*").Omit("id", "creation_date").Updates(&nd).Error; err != nil {
			return err
		}
		if e.Policy != nil {
			if err := savePolicy(tx, e.Policy); err != nil {
				return err
			}
		}
		if e.Platforms != nil {
			if err := replacePlatforms(tx, id, *e.Platforms); err != nil {
				return err
			}
		}
		if e.OutgoingProviderIDs != nil {
			if err := checkOutgoingProviders(tx, *e.OutgoingProviderIDs); err != nil {
				return err
			}
			if err := replaceOutgoingProviders(tx, id, *e.OutgoingProviderIDs); err != nil {
				return err
			}
		}
		return nil
	})
}

// PurgeDomains deletes for good the domains whose purge date has passed,
// with everything they own (the foreign keys cascade) and their row
// counts, a batch at a time. It returns how many.
func (s *Store) PurgeDomains(ctx context.Context, now int64) (int64, error) {
	var n int64
	for {
		var batch int64
		err := s.tx(ctx, func(tx *gorm.DB) error {
			var ids, users []int64
			err := tx.Model(&Domain{}).Where("status = ? AND purge_date IS NOT NULL AND purge_date <= ?", StatusDeleted, now).
				Order("id").Limit(purgeBatch).Pluck("id", &ids).Error
			if err != nil || len(ids) == 0 {
				return err
			}
			if err := tx.Model(&User{}).Where("domain_id IN ?", ids).Pluck("id", &users).Error; err != nil {
				return err
			}
			res := tx.Where("id IN ?", ids).Delete(&Domain{})
			if res.Error != nil {
				return res.Error
			}
			batch = res.RowsAffected
			if err := dropCounts(tx, "domain_id", ids); err != nil {
				return err
			}
			return dropCounts(tx, "user_id", users)
		})
		n += batch
		if err != nil || batch < purgeBatch {
			return n, err
		}
	}
}

// purgeBatch is how many domains one transaction of PurgeDomains deletes.
const purgeBatch = 500
