package db

import (
	"context"
	"errors"

	"gorm.io/gorm"

	"github.com/cleanmail/cleanmail/pkg/fault"
)

// Delivery is how mail reaches a mailbox: the platform (the customer's
// mail server) that receives the domain's clean mail, and the spam tag
// that the mailbox's policy prefixes to the subject of spam.
type Delivery struct {
	Platform   Platform
	PrefixSpam string
}

// DeliveryOf is the delivery of u: its own platform and policy when it has
// them, its domain's default ones otherwise. A domain without a platform
// is a fault.Unprocessable: its mail cannot be delivered.
func (s *Store) DeliveryOf(ctx context.Context, u *User) (*Delivery, error) {
	gdb, cancel := s.db(ctx)
	defer cancel()
	var d Delivery
	q := gdb.Where("domain_id = ?", u.DomainID)
	if u.PlatformID != nil {
		q = gdb.Where("id = ?", *u.PlatformID)
	}
	if err := q.Order("is_default DESC, id").Take(&d.Platform).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return nil, fault.Fail(fault.Unprocessable, "", "The domain has no platform to deliver its mail to.")
		}
		return nil, translate(err)
	}
	policyID := u.PolicyID
	if policyID == nil {
		var dom Domain
		if err := gdb.Select("id, policy_id").Take(&dom, u.DomainID).Error; err != nil {
			return nil, translate(err)
		}
		policyID = dom.PolicyID
	}
	if policyID != nil {
		var p Policy
		if err := gdb.Take(&p, *policyID).Error; err != nil && !errors.Is(err, gorm.ErrRecordNotFound) {
			return nil, translate(err)
		} else if err == nil && p.RelayProps != nil && p.RelayProps.PrefixSpam != nil {
			d.PrefixSpam = *p.RelayProps.PrefixSpam
		}
	}
	return &d, nil
}
