package db

import (
	"fmt"

	"github.com/cleanmail/cleanmail/pkg/fault"

	"gorm.io/gorm"
)

// Counts the store keeps bounded, so that every list the API answers
// whole (without paging) stays within the maxItems that openapi.yaml
// declares for it. Going past one is ErrUnprocessable (422).
const (
	MaxDomainAliases   = 1000 // domain aliases of one domain
	MaxAliasRecipients = 1000 // recipients of one e-mail alias
	MaxTokens          = 100  // personal tokens of one account
	MaxAuthorities     = 1000 // authorities of one account
)

// atMost fails with ErrUnprocessable when more than max rows of model
// match the condition: what a write just made, checked in its
// transaction after the write (the owner's row is locked first, so that
// concurrent writes count one after the other).
func atMost(tx *gorm.DB, model any, max int64, what string, cond string, args ...any) error {
	var n int64
	if err := tx.Model(model).Where(cond, args...).Count(&n).Error; err != nil {
		return err
	}
	if n > max {
		return fault.Fail(fault.Unprocessable, "", fmt.Sprintf("%s: at most %d (this would make %d)", what, max, n))
	}
	return nil
}
