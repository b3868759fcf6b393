package db

import (
	"context"

	"github.com/cleanmail/cleanmail/pkg/fault"

	"gorm.io/gorm"
)

// PolicyList declares the policy list's sort fields.
var PolicyList = ListSpec{
	Table:       "policies",
	DefaultSort: "name",
	Sorts: map[string]string{
		"id":   "policies.id",
		"name": "lower(policies.name)",
	},
}

// PolicyFilter holds the filters of a domain's policy list.
type PolicyFilter struct {
	Name Match
}

// CreatePolicy adds a policy to an existing domain. A name the domain
// already uses gives ErrConflict (unique key on domain and lower(name)).
func (s *Store) CreatePolicy(ctx context.Context, p *Policy) error {
	return s.tx(ctx, func(tx *gorm.DB) error {
		if err := exists(tx, &Domain{}, p.DomainID, "domainId", "domain"); err != nil {
			return err
		}
		p.ID = 0
		return tx.Create(p).Error
	})
}

// GetPolicy loads one policy.
func (s *Store) GetPolicy(ctx context.Context, id int64) (*Policy, error) {
	gdb, cancel := s.db(ctx)
	defer cancel()
	var p Policy
	if err := gdb.First(&p, id).Error; err != nil {
		return nil, translate(err)
	}
	return &p, nil
}

// ListPolicies returns one page of a domain's policies.
func (s *Store) ListPolicies(ctx context.Context, domainID int64, f PolicyFilter, p Page) ([]Policy, int64, *Cursor, error) {
	gdb, cancel := s.db(ctx)
	defer cancel()
	q := gdb.Model(&Policy{}).Where("domain_id = ?", domainID)
	q = where(q, f.Name, "policies.name")
	return findPage(ctx, q, PolicyList, policyColumns, p)
}

// UpdatePolicy loads a policy, lets edit change it, and saves it in one
// transaction.
func (s *Store) UpdatePolicy(ctx context.Context, id int64, edit func(p *Policy) error) (*Policy, error) {
	var out Policy
	err := s.tx(ctx, func(tx *gorm.DB) error {
		if err := tx.First(&out, id).Error; err != nil {
			return err
		}
		domainID := out.DomainID
		if err := edit(&out); err != nil {
			return err
		}
		out.ID, out.DomainID = id, domainID
		return savePolicy(tx, &out)
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

func savePolicy(tx *gorm.DB, p *Policy) error {
	return tx.Model(&Policy{ID: p.ID}).Select("*").Omit("id").Updates(p).Error
}

// DeletePolicy deletes a policy that no domain and no user uses.
func (s *Store) DeletePolicy(ctx context.Context, id int64) error {
	return s.tx(ctx, func(tx *gorm.DB) error {
		var p Policy
		if err := tx.First(&p, id).Error; err != nil {
			return err
		}
		var n int64
		if err := tx.Model(&Domain{}).Where("policy_id = ?", id).Count(&n).Error; err != nil {
			return err
		}
		if n > 0 {
			return fault.Fail(fault.Invalid, "policyId", "the policy is the default policy of a domain: assign another one first")
		}
		if err := tx.Model(&User{}).Where("policy_id = ?", id).Count(&n).Error; err != nil {
			return err
		}
		if n > 0 {
			return fault.Fail(fault.Invalid, "policyId", "the policy is assigned to users: assign them another one first")
		}
		return tx.Delete(&Policy{}, id).Error
	})
}
