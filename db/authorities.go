package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"slices"

	"github.com/cleanmail/cleanmail/pkg/fault"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// ObjectKind names a kind of object of the API, as the API spells the
// kinds authorities are given on (BROKER, CUSTOMER, DOMAIN). The kinds
// below a domain are resolved to it by ObjectDomain.
type ObjectKind string

// The kinds of objects. Authorities are given on the first three.
const (
	ObjectBroker           ObjectKind = "BROKER"
	ObjectCustomer         ObjectKind = "CUSTOMER"
	ObjectDomain           ObjectKind = "DOMAIN"
	ObjectUser             ObjectKind = "USER"
	ObjectPolicy           ObjectKind = "POLICY"
	ObjectPlatform         ObjectKind = "PLATFORM"
	ObjectEmailAlias       ObjectKind = "EMAIL_ALIAS"
	ObjectAttachmentFilter ObjectKind = "ATTACHMENT_FILTER"
	ObjectUriFilter        ObjectKind = "URI_FILTER"
	ObjectAdmin            ObjectKind = "ADMIN"
	ObjectOutgoingProvider ObjectKind = "OUTGOING_PROVIDER"
)

// Lineage is where a domain sits in the hierarchy: an authority on any of
// these objects covers the domain.
type Lineage struct {
	DomainID   int64
	CustomerID *int64
	BrokerID   *int64
	// Domain is the domain's own row (DomainLineage only), read with its
	// lineage: the access layer reads it once for a request on the domain
	// or an object of it, and a handler that answers the domain itself
	// embeds it (DomainView) without reading it again.
	Domain *Domain
}

// domainLineageSQL reads a domain's row and its customer's broker.
var domainLineageSQL = "SELECT " + domainColumns.of("d") + `, c.broker_id
	FROM domains AS d LEFT JOIN customers AS c ON c.id = d.customer_id
	WHERE d.id = ?`

// DomainLineage returns a domain's row, and the customer and broker above
// it, in one statement.
func (s *Store) DomainLineage(ctx context.Context, domainID int64) (*Lineage, error) {
	r, cancel := s.reads(ctx)
	defer cancel()
	var l *Lineage
	err := query(r, func(rows *sql.Rows) error {
		var d Domain
		var broker *int64
		if err := rows.Scan(append(domainColumns.fields(&d), &broker)...); err != nil {
			return err
		}
		l = &Lineage{DomainID: d.ID, CustomerID: d.CustomerID, BrokerID: broker, Domain: &d}
		return nil
	}, domainLineageSQL, domainID)
	if err != nil {
		return nil, err
	}
	if l == nil {
		return nil, ErrNotFound
	}
	return l, nil
}

// CustomerLineage returns the broker above a customer.
func (s *Store) CustomerLineage(ctx context.Context, customerID int64) (*Lineage, error) {
	c, err := s.GetCustomer(ctx, customerID)
	if err != nil {
		return nil, err
	}
	return &Lineage{CustomerID: &c.ID, BrokerID: c.BrokerID}, nil
}

// objectDomainSQL finds the domain an object of a kind belongs to. Each
// resource whose operations are checked against its domain adds a line.
var objectDomainSQL = map[ObjectKind]string{
	ObjectPolicy:           "SELECT domain_id FROM policies WHERE id = ?",
	ObjectPlatform:         "SELECT domain_id FROM platforms WHERE id = ?",
	ObjectUser:             "SELECT domain_id FROM users WHERE id = ?",
	ObjectEmailAlias:       "SELECT domain_id FROM email_aliases WHERE id = ?",
	ObjectAttachmentFilter: "SELECT domain_id FROM attachment_filters WHERE id = ?",
	ObjectUriFilter:        "SELECT domain_id FROM uri_filters WHERE id = ?",
}

// ObjectDomain returns the domain that the object key of kind belongs to.
func (s *Store) ObjectDomain(ctx context.Context, kind ObjectKind, key int64) (int64, error) {
	q, ok := objectDomainSQL[kind]
	if !ok {
		return 0, ErrNotFound
	}
	gdb, cancel := s.db(ctx)
	defer cancel()
	var ids []int64
	if err := gdb.Raw(q, key).Scan(&ids).Error; err != nil {
		return 0, translate(err)
	}
	if len(ids) == 0 {
		return 0, ErrNotFound
	}
	return ids[0], nil
}

// Covers reports whether the authority applies to the lineage's domain.
func (a *Authority) Covers(l *Lineage) bool {
	switch {
	case a.DomainID != nil:
		return l.DomainID != 0 && *a.DomainID == l.DomainID
	case a.CustomerID != nil:
		return l.CustomerID != nil && *a.CustomerID == *l.CustomerID
	case a.BrokerID != nil:
		return l.BrokerID != nil && *a.BrokerID == *l.BrokerID
	}
	return false
}

// ObjectType tells which kind of object the authority is on.
func (a *Authority) ObjectType() ObjectKind {
	switch {
	case a.BrokerID != nil:
		return ObjectBroker
	case a.CustomerID != nil:
		return ObjectCustomer
	}
	return ObjectDomain
}

// ObjectID is the key of the authority's object.
func (a *Authority) ObjectID() int64 {
	switch {
	case a.BrokerID != nil:
		return *a.BrokerID
	case a.CustomerID != nil:
		return *a.CustomerID
	case a.DomainID != nil:
		return *a.DomainID
	}
	return 0
}

// Has reports whether the authority grants perm.
func (a *Authority) Has(perm string) bool { return slices.Contains(a.Permissions, perm) }

// AuthorityView is an authority with its object's name and where its
// object sits in the hierarchy, for the API.
type AuthorityView struct {
	Authority
	ObjectName string
	// Object is the lineage of the authority's object: a domain with its
	// customer and broker, a customer with its broker, or a broker.
	Object Lineage
}

// authoritiesOfSQL is AuthoritiesOf's statement; IN ? is the admins' keys.
var authoritiesOfSQL = "SELECT " + authorityColumns.of("authorities") + `,
		COALESCE(domains.name, customers.name, brokers.name, ''),
		COALESCE(authorities.customer_id, domains.customer_id),
		COALESCE(authorities.broker_id, customers.broker_id, domain_customers.broker_id)
	FROM authorities
	LEFT JOIN domains ON domains.id = authorities.domain_id
	LEFT JOIN customers ON customers.id = authorities.customer_id
	LEFT JOIN customers AS domain_customers ON domain_customers.id = domains.customer_id
	LEFT JOIN brokers ON brokers.id = authorities.broker_id
	WHERE authorities.admin_id IN ? ORDER BY authorities.id`

// AuthoritiesOf loads the authorities of several administrators at once,
// with their objects' names and lineages: one query whatever the number
// of admins, scanned by hand (scan.go; every administrator page makes it).
func (s *Store) AuthoritiesOf(ctx context.Context, adminIDs []int64) (map[int64][]AuthorityView, error) {
	out := map[int64][]AuthorityView{}
	if len(adminIDs) == 0 {
		return out, nil
	}
	r, cancel := s.reads(ctx)
	defer cancel()
	err := query(r, func(rows *sql.Rows) error {
		var v AuthorityView
		var customerID, brokerID *int64
		if err := rows.Scan(append(authorityColumns.fields(&v.Authority), &v.ObjectName, &customerID, &brokerID)...); err != nil {
			return err
		}
		v.Object = Lineage{CustomerID: customerID, BrokerID: brokerID}
		if v.DomainID != nil {
			v.Object.DomainID = *v.DomainID
		}
		out[v.AdminID] = append(out[v.AdminID], v)
		return nil
	}, authoritiesOfSQL, adminIDs)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Reach is the set of objects on which a caller holds a permission; a nil
// *Reach means everything (a sysadmin).
type Reach struct {
	DomainIDs, CustomerIDs, BrokerIDs []int64
}

// ReachOf computes where the authorities grant perm.
func ReachOf(auths []Authority, perm string) *Reach {
	r := &Reach{DomainIDs: []int64{}, CustomerIDs: []int64{}, BrokerIDs: []int64{}}
	for _, a := range auths {
		if !a.Has(perm) {
			continue
		}
		switch {
		case a.DomainID != nil:
			r.DomainIDs = append(r.DomainIDs, *a.DomainID)
		case a.CustomerID != nil:
			r.CustomerIDs = append(r.CustomerIDs, *a.CustomerID)
		case a.BrokerID != nil:
			r.BrokerIDs = append(r.BrokerIDs, *a.BrokerID)
		}
	}
	return r
}

// domainsWhere restricts q to the domains (whose id and customer id are the
// given columns) within the reach.
func (r *Reach) domainsWhere(q *gorm.DB, idCol, customerCol string) *gorm.DB {
	if r == nil {
		return q
	}
	// -1 never matches: empty IN lists are not valid SQL everywhere.
	brokers := inSubquery(dialectOf(q), customerCol, "SELECT id FROM customers WHERE broker_id IN ?")
	return q.Where("("+idCol+" IN ? OR "+customerCol+" IN ? OR "+brokers+")",
		orNone(r.DomainIDs), orNone(r.CustomerIDs), orNone(r.BrokerIDs))
}

func orNone(ids []int64) []int64 {
	if len(ids) == 0 {
		return []int64{-1}
	}
	return ids
}

// lockAdmin locks an account's row, on PostgreSQL, until the transaction
// ends: the changes to one account's authorities, each deciding from what
// it reads (replace, create, delete the account with its last access),
// then apply one after the other instead of racing under READ COMMITTED
// (SQLite transactions are serial already). A missing account is
// ErrNotFound.
func (s *Store) lockAdmin(tx *gorm.DB, id int64) error {
	q := tx
	if s.dialect == Postgres {
		q = tx.Clauses(clause.Locking{Strength: "NO KEY UPDATE"})
	}
	var a Admin
	return q.Select("id").Take(&a, id).Error
}

// SetDomainAuthority gives an administrator exactly perms on a domain,
// creating or replacing its authority there; an unknown domain is
// ErrNotFound.
func (s *Store) SetDomainAuthority(ctx context.Context, adminID, domainID int64, perms []string) error {
	return s.tx(ctx, func(tx *gorm.DB) error {
		if err := domainMustExist(tx, domainID); err != nil {
			return err
		}
		return s.setDomainAuthority(tx, adminID, domainID, perms)
	})
}

func (s *Store) setDomainAuthority(tx *gorm.DB, adminID, domainID int64, perms []string) error {
	if err := s.lockAdmin(tx, adminID); err != nil {
		return err
	}
	res := tx.Model(&Authority{}).Where("admin_id = ? AND domain_id = ?", adminID, domainID).
		Update("permissions", Authority{Permissions: perms}.permissionsJSON())
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected > 0 {
		return nil
	}
	if err := tx.Create(&Authority{AdminID: adminID, DomainID: &domainID, Permissions: perms}).Error; err != nil {
		return err
	}
	return atMost(tx, &Authority{}, MaxAuthorities, "an account's authorities", "admin_id = ?", adminID)
}

// CreateDomainAdmin creates an account and its authority on a domain in
// one transaction (a login already used gives ErrConflict).
func (s *Store) CreateDomainAdmin(ctx context.Context, a *Admin, domainID int64, perms []string) error {
	a.CreatedAt = nowMillis()
	return s.tx(ctx, func(tx *gorm.DB) error {
		if err := domainMustExist(tx, domainID); err != nil {
			return err
		}
		if err := tx.Create(a).Error; err != nil {
			return err
		}
		return s.setDomainAuthority(tx, a.ID, domainID, perms)
	})
}

// RevokeDomainAuthority removes an administrator's authority on a domain;
// an account left without any access (and not a sysadmin) is deleted with
// its tokens. It returns whether the account was deleted.
func (s *Store) RevokeDomainAuthority(ctx context.Context, adminID, domainID int64) (bool, error) {
	deleted := false
	err := s.tx(ctx, func(tx *gorm.DB) error {
		if err := s.lockAdmin(tx, adminID); err != nil {
			return err
		}
		res := tx.Where("admin_id = ? AND domain_id = ?", adminID, domainID).Delete(&Authority{})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return ErrNotFound
		}
		var left int64
		if err := tx.Model(&Authority{}).Where("admin_id = ?", adminID).Count(&left).Error; err != nil {
			return err
		}
		if left > 0 {
			return nil
		}
		res = tx.Where("id = ? AND NOT sys_admin", adminID).Delete(&Admin{})
		deleted = res.RowsAffected == 1
		return res.Error
	})
	return deleted, err
}

func (a Authority) permissionsJSON() string {
	b, _ := json.Marshal(a.Permissions) // a []string always marshals
	return string(b)
}

// DomainUserPermissions returns the end-user permissions of a domain, or
// def when none were set.
func (s *Store) DomainUserPermissions(ctx context.Context, domainID int64, def []string) ([]string, error) {
	gdb, cancel := s.db(ctx)
	defer cancel()
	var acc DomainUserAccess
	err := gdb.First(&acc, "domain_id = ?", domainID).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return def, nil
	}
	if err != nil {
		return nil, translate(err)
	}
	return acc.Permissions, nil
}

// SetDomainUserPermissions replaces the end-user permissions of a domain.
// The domain's row is locked first: concurrent replacements apply one
// after the other (each then sees the row the previous one inserted).
func (s *Store) SetDomainUserPermissions(ctx context.Context, domainID int64, perms []string) error {
	return s.tx(ctx, func(tx *gorm.DB) error {
		if _, err := s.lockOwner(tx, DomainOwner(domainID)); err != nil {
			return err
		}
		if err := tx.Where("domain_id = ?", domainID).Delete(&DomainUserAccess{}).Error; err != nil {
			return err
		}
		return tx.Create(&DomainUserAccess{DomainID: domainID, Permissions: perms}).Error
	})
}

// SetAuthority gives an administrator exactly perms on one broker, customer
// or domain (objectType), creating or replacing its authority there; no
// permission at all removes it. The account is locked first (lockAdmin):
// identical concurrent calls all succeed, with one authority.
func (s *Store) SetAuthority(ctx context.Context, adminID int64, objectType ObjectKind, objectID int64, perms []string) error {
	return s.tx(ctx, func(tx *gorm.DB) error {
		col := map[ObjectKind]string{ObjectBroker: "broker_id", ObjectCustomer: "customer_id", ObjectDomain: "domain_id"}[objectType]
		if col == "" {
			return fault.Fail(fault.Invalid, "objectType", "must be BROKER, CUSTOMER or DOMAIN")
		}
		if err := s.lockAdmin(tx, adminID); err != nil {
			return err
		}
		if err := tx.Where("admin_id = ? AND "+col+" = ?", adminID, objectID).Delete(&Authority{}).Error; err != nil {
			return err
		}
		if len(perms) == 0 {
			return nil // no permission: no authority
		}
		a := Authority{AdminID: adminID, Permissions: perms}
		switch objectType {
		case ObjectBroker:
			a.BrokerID = &objectID
		case ObjectCustomer:
			a.CustomerID = &objectID
		default:
			a.DomainID = &objectID
		}
		if err := tx.Create(&a).Error; err != nil {
			return err
		}
		return atMost(tx, &Authority{}, MaxAuthorities, "an account's authorities", "admin_id = ?", adminID)
	})
}
