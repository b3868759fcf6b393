package db

import (
	"context"
	"strings"

	"gorm.io/gorm"
)

// DomainAliasList declares the alias list's sort fields.
var DomainAliasList = ListSpec{
	Table:       "domain_aliases",
	DefaultSort: "name",
	Sorts: map[string]string{
		"id":   "domain_aliases.id",
		"name": "lower(domain_aliases.name)",
	},
}

// AddDomainAliases reserves names for the domain, all or nothing. A name
// already taken by any domain or alias gives ErrConflict; more than
// MaxDomainAliases in all, ErrUnprocessable.
func (s *Store) AddDomainAliases(ctx context.Context, domainID int64, names []string) ([]DomainAlias, error) {
	var out []DomainAlias
	err := s.tx(ctx, func(tx *gorm.DB) error {
		if _, err := s.lockOwner(tx, DomainOwner(domainID)); err != nil {
			return err
		}
		seen := map[string]bool{}
		for _, n := range names {
			n = strings.ToLower(n)
			if seen[n] {
				continue
			}
			seen[n] = true
			a := DomainAlias{DomainID: domainID, Name: n}
			if err := insertAlias(tx, &a); err != nil {
				return err
			}
			out = append(out, a)
		}
		return atMost(tx, &DomainAlias{}, MaxDomainAliases, "a domain's aliases", "domain_id = ?", domainID)
	})
	return out, err
}

func domainMustExist(tx *gorm.DB, id int64) error {
	var d Domain
	return tx.Select("id").First(&d, id).Error
}

func insertAlias(tx *gorm.DB, a *DomainAlias) error {
	if err := tx.Create(&DomainName{Name: a.Name, DomainID: a.DomainID}).Error; err != nil {
		return err
	}
	return tx.Create(a).Error
}

// DeleteDomainAlias removes an alias of the domain.
func (s *Store) DeleteDomainAlias(ctx context.Context, domainID, aliasID int64) error {
	return s.tx(ctx, func(tx *gorm.DB) error {
		var a DomainAlias
		if err := tx.Where("id = ? AND domain_id = ?", aliasID, domainID).First(&a).Error; err != nil {
			return err
		}
		// Deleting the reserved name cascades to the alias row.
		return tx.Where("name = ? AND domain_id = ?", a.Name, domainID).Delete(&DomainName{}).Error
	})
}

// ListDomainAliases returns one page of a domain's aliases.
func (s *Store) ListDomainAliases(ctx context.Context, domainID int64, p Page) ([]DomainAlias, int64, *Cursor, error) {
	gdb, cancel := s.db(ctx)
	defer cancel()
	if err := domainMustExist(gdb, domainID); err != nil {
		return nil, 0, nil, translate(err)
	}
	q := gdb.Model(&DomainAlias{}).Where("domain_id = ?", domainID)
	return findPage(ctx, q, DomainAliasList, domainAliasColumns, p)
}

// SetDomainAliases replaces the domain's aliases with names, all or
// nothing. Aliases kept by name keep their id. The domain's row is locked
// first: concurrent replacements apply one after the other, each seeing
// what the previous one left (identical ones all succeed).
func (s *Store) SetDomainAliases(ctx context.Context, domainID int64, names []string) ([]DomainAlias, error) {
	want := map[string]bool{}
	for _, n := range names {
		want[strings.ToLower(n)] = true
	}
	var out []DomainAlias
	err := s.tx(ctx, func(tx *gorm.DB) error {
		if _, err := s.lockOwner(tx, DomainOwner(domainID)); err != nil {
			return err
		}
		var current []DomainAlias
		if err := tx.Where("domain_id = ?", domainID).Find(&current).Error; err != nil {
			return err
		}
		have := map[string]bool{}
		for _, a := range current {
			have[a.Name] = true
			if !want[a.Name] {
				if err := tx.Where("name = ?", a.Name).Delete(&DomainName{}).Error; err != nil {
					return err
				}
			}
		}
		for n := range want {
			if have[n] {
				continue
			}
			if err := insertAlias(tx, &DomainAlias{DomainID: domainID, Name: n}); err != nil {
				return err
			}
		}
		return tx.Where("domain_id = ?", domainID).Order("name, id").Find(&out).Error
	})
	return out, err
}
