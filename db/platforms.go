package db

import (
	"context"

	"github.com/cleanmail/cleanmail/pkg/fault"

	"gorm.io/gorm"
)

// GetPlatform loads one platform.
func (s *Store) GetPlatform(ctx context.Context, id int64) (*Platform, error) {
	gdb, cancel := s.db(ctx)
	defer cancel()
	var p Platform
	if err := gdb.First(&p, id).Error; err != nil {
		return nil, translate(err)
	}
	return &p, nil
}

// UpdatePlatform loads a platform, lets edit change it and saves it, in one
// transaction. A domain keeps exactly one default platform: making one the
// default takes the flag from the others; the default cannot just drop it.
func (s *Store) UpdatePlatform(ctx context.Context, id int64, edit func(p *Platform) error) error {
	return s.tx(ctx, func(tx *gorm.DB) error {
		var p Platform
		if err := tx.First(&p, id).Error; err != nil {
			return err
		}
		wasDefault := p.IsDefault
		if err := edit(&p); err != nil {
			return err
		}
		p.ID = id
		switch {
		case wasDefault && !p.IsDefault:
			return fault.Fail(fault.Unprocessable, "default", "a domain needs a default platform: make another one the default instead")
		case !wasDefault && p.IsDefault:
			if err := tx.Model(&Platform{}).Where("domain_id = ? AND id <> ?", p.DomainID, id).Update("is_default", false).Error; err != nil {
				return err
			}
		}
		return tx.Model(&Platform{ID: id}).Select("*").Omit("id", "domain_id").Updates(&p).Error
	})
}
