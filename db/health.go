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
