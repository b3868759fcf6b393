package db

import (
	"context"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// DomainHealth is the last diagnostic of a domain: when it ran (epoch
// seconds), its status, and its report as the API shows it (JSON).
type DomainHealth struct {
	DomainID    int64 `gorm:"primaryKey;autoIncrement:false"`
	PerformedAt int64
	Status      bool
	Report      string
}

// TableName is the table's name (GORM would say domain_healths).
func (DomainHealth) TableName() string { return "domain_health" }

// SaveDomainHealth stores h as the domain's last diagnostic, replacing the
// one before. A domain that no longer exists is ErrNotFound.
func (s *Store) SaveDomainHealth(ctx context.Context, h *DomainHealth) error {
	return s.tx(ctx, func(tx *gorm.DB) error {
		var n int64
		if err := tx.Model(&Domain{}).Where("id = ?", h.DomainID).Count(&n).Error; err != nil {
			return err
		}
		if n == 0 {
			return ErrNotFound
		}
		return tx.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "domain_id"}}, UpdateAll: true}).Create(h).Error
	})
}

// GetDomainHealth returns the domain's last diagnostic; ErrNotFound when
// it never ran.
func (s *Store) GetDomainHealth(ctx context.Context, domainID int64) (*DomainHealth, error) {
	gdb, cancel := s.db(ctx)
	defer cancel()
	var h DomainHealth
	if err := gdb.Take(&h, "domain_id = ?", domainID).Error; err != nil {
		return nil, translate(err)
	}
	return &h, nil
}

// PlatformHealth is the last diagnostic of a platform, as DomainHealth.
type PlatformHealth struct {
	PlatformID  int64 `gorm:"primaryKey;autoIncrement:false"`
	PerformedAt int64
	Status      bool
	Report      string
}

// TableName is the table's name.
func (PlatformHealth) TableName() string { return "platform_health" }

// SavePlatformHealth stores h as the platform's last diagnostic. A
// platform that no longer exists is ErrNotFound.
func (s *Store) SavePlatformHealth(ctx context.Context, h *PlatformHealth) error {
	return s.tx(ctx, func(tx *gorm.DB) error {
		var n int64
		if err := tx.Model(&Platform{}).Where("id = ?", h.PlatformID).Count(&n).Error; err != nil {
			return err
		}
		if n == 0 {
			return ErrNotFound
		}
		return tx.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "platform_id"}}, UpdateAll: true}).Create(h).Error
	})
}

// GetPlatformHealth returns the platform's last diagnostic; ErrNotFound
// when it never ran.
func (s *Store) GetPlatformHealth(ctx context.Context, platformID int64) (*PlatformHealth, error) {
	gdb, cancel := s.db(ctx)
	defer cancel()
	var h PlatformHealth
	if err := gdb.Take(&h, "platform_id = ?", platformID).Error; err != nil {
		return nil, translate(err)
	}
	return &h, nil
}

// FailingEntity is a domain or a platform whose last diagnostic failed.
type FailingEntity struct {
	Kind        ObjectKind // ObjectDomain or ObjectPlatform
	ID          int64
	Name        string
	PerformedAt int64
	Status      bool
	Report      string
}

// MaxFailing bounds the list of failing entities (GET /health answers at
// most this many, the oldest failures first).
const MaxFailing = 1000

// ListFailing returns the domains and platforms within reach (nil: all)
// whose last diagnostic failed, domains first, each kind by name. Deleted
// domains, and their platforms, are left out.
func (s *Store) ListFailing(ctx context.Context, reach *Reach) ([]FailingEntity, error) {
	gdb, cancel := s.db(ctx)
	defer cancel()
	var out []FailingEntity
	q := gdb.Table("domain_health").
		Select("'DOMAIN' AS kind, domains.id AS id, domains.name AS name, domain_health.performed_at, domain_health.status, domain_health.report").
		Joins("JOIN domains ON domains.id = domain_health.domain_id").
		Where("NOT domain_health.status AND domains.status <> ?", StatusDeleted)
	q = reach.domainsWhere(q, "domains.id", "domains.customer_id")
	if err := q.Order("domains.name, domains.id").Limit(MaxFailing).Scan(&out).Error; err != nil {
		return nil, translate(err)
	}
	var platforms []FailingEntity
	q = gdb.Table("platform_health").
		Select("'PLATFORM' AS kind, platforms.id AS id, platforms.name AS name, platform_health.performed_at, platform_health.status, platform_health.report").
		Joins("JOIN platforms ON platforms.id = platform_health.platform_id").
		Joins("JOIN domains ON domains.id = platforms.domain_id").
		Where("NOT platform_health.status AND domains.status <> ?", StatusDeleted)
	q = reach.domainsWhere(q, "domains.id", "domains.customer_id")
	if err := q.Order("platforms.name, platforms.id").Limit(MaxFailing - len(out)).Scan(&platforms).Error; err != nil {
		return nil, translate(err)
	}
	return append(out, platforms...), nil
}
