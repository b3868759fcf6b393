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
// most this many: domains first, each kind by name).
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

// ClaimDue claims at most batch entities of kind (ObjectDomain or
// ObjectPlatform; deleted domains and their platforms left out) whose last
// diagnostic is older than cutoff (epoch seconds) or that never had one,
// the stalest first, and that no replica holds a live claim on; a claim
// lasts until lease (epoch seconds). Two replicas claiming at once get
// disjoint sets: each entity is checked once per round.
func (s *Store) ClaimDue(ctx context.Context, kind ObjectKind, now, cutoff, lease int64, batch int) ([]int64, error) {
	q := "SELECT d.id FROM domains d"
	join := " LEFT JOIN domain_health h ON h.domain_id = d.id"
	if kind == ObjectPlatform {
		q = "SELECT d.id FROM platforms d JOIN domains dom ON dom.id = d.domain_id"
		join = " LEFT JOIN platform_health h ON h.platform_id = d.id"
	}
	where := " WHERE (h.performed_at IS NULL OR h.performed_at <= ?) AND (c.until IS NULL OR c.until < ?)"
	if kind == ObjectPlatform {
		where += " AND dom.status <> ?"
	} else {
		where += " AND d.status <> ?"
	}
	sql := q + join + " LEFT JOIN health_claims c ON c.kind = ? AND c.entity_id = d.id" + where +
		" ORDER BY COALESCE(h.performed_at, 0), d.id LIMIT ?"
	var claimed []int64
	err := s.write(ctx, func(gdb *gorm.DB) error {
		var candidates []int64
		if err := gdb.Raw(sql, string(kind), cutoff, now, StatusDeleted, batch).Scan(&candidates).Error; err != nil {
			return err
		}
		for _, id := range candidates {
			res := gdb.Exec(`INSERT INTO health_claims (kind, entity_id, until) VALUES (?, ?, ?)
				ON CONFLICT (kind, entity_id) DO UPDATE SET until = excluded.until WHERE health_claims.until < ?`,
				string(kind), id, lease, now)
			if res.Error != nil {
				return res.Error
			}
			if res.RowsAffected == 1 {
				claimed = append(claimed, id)
			}
		}
		return nil
	})
	return claimed, err
}

// CountChecked counts the entities the periodic re-check goes through: the
// domains not deleted, and their platforms.
func (s *Store) CountChecked(ctx context.Context) (int64, error) {
	gdb, cancel := s.db(ctx)
	defer cancel()
	var domains, platforms int64
	if err := gdb.Model(&Domain{}).Where("status <> ?", StatusDeleted).Count(&domains).Error; err != nil {
		return 0, translate(err)
	}
	if err := gdb.Model(&Platform{}).Joins("JOIN domains ON domains.id = platforms.domain_id").
		Where("domains.status <> ?", StatusDeleted).Count(&platforms).Error; err != nil {
		return 0, translate(err)
	}
	return domains + platforms, nil
}
