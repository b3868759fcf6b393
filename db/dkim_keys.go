package db

import (
	"context"

	"github.com/cleanmail/cleanmail/pkg/fault"

	"gorm.io/gorm"
)

// DkimKey is a domain's DKIM key. PrivateKey is sealed (pkg/dkim's
// Sealer): the store never sees it in clear. PublicKey is the p= value
// of its DNS record.
type DkimKey struct {
	DomainID   int64 `gorm:"primaryKey;autoIncrement:false"`
	Selector   string
	Algorithm  string
	PrivateKey []byte
	PublicKey  string
	CreatedAt  int64
}

// DkimKeyView is a key with the names it is published under: its
// domain's, then its aliases' by name.
type DkimKeyView struct {
	DkimKey
	Names []string
}

// dkimKeyMissing is the 404 of a domain without a key.
var dkimKeyMissing = fault.NotFoundOf(fault.DkimKey)

// DkimSelector is the DKIM_SELECTOR option as the domain sees it: its own
// value, else the nearest above (customer, platform), else the default.
// An unknown domain is ErrNotFound.
func (s *Store) DkimSelector(ctx context.Context, domainID int64) (string, error) {
	return s.ResolvedOption(ctx, OptionOwner{Scope: ScopeDomain, ID: domainID}, "DKIM_SELECTOR")
}

// ResolvedOption is the value of the option name that applies to the
// owner ("" when it has neither a value nor a default).
func (s *Store) ResolvedOption(ctx context.Context, o OptionOwner, name string) (string, error) {
	if _, ok := LookupOption(name); !ok {
		return "", fault.Fail(fault.Internal, "", "no option "+name+" in the catalog")
	}
	values, err := s.Effective(ctx, o, name)
	return values[name], err
}

// HasDkimKey reports whether the domain has a key.
func (s *Store) HasDkimKey(ctx context.Context, domainID int64) (bool, error) {
	gdb, cancel := s.db(ctx)
	defer cancel()
	var n int64
	err := gdb.Model(&DkimKey{}).Where("domain_id = ?", domainID).Count(&n).Error
	return n > 0, translate(err)
}

// CreateDkimKey stores the domain's first key: ErrConflict when it has
// one, ErrNotFound when the domain does not exist; a DELETED domain is
// read-only (ErrUnprocessable).
func (s *Store) CreateDkimKey(ctx context.Context, k *DkimKey) (*DkimKeyView, error) {
	return s.putDkimKey(ctx, k, false)
}

// PutDkimKey stores the domain's key, replacing the one it had if any.
func (s *Store) PutDkimKey(ctx context.Context, k *DkimKey) (*DkimKeyView, error) {
	return s.putDkimKey(ctx, k, true)
}

func (s *Store) putDkimKey(ctx context.Context, k *DkimKey, replace bool) (*DkimKeyView, error) {
	var out *DkimKeyView
	err := s.tx(ctx, func(tx *gorm.DB) error {
		if err := s.lockWritableDomain(tx, k.DomainID); err != nil {
			return err
		}
		if replace {
			if err := tx.Where("domain_id = ?", k.DomainID).Delete(&DkimKey{}).Error; err != nil {
				return err
			}
		}
		k.CreatedAt = nowMillis()
		if err := tx.Create(k).Error; err != nil {
			if isUniqueViolation(err) || fault.KindOf(translate(err)) == fault.Conflict {
				return fault.Conflictf("The domain has a DKIM key already: replace it with PUT, or DELETE it first.")
			}
			return err
		}
		var err error
		out, err = dkimKeyView(tx, *k)
		return err
	})
	return out, err
}

// lockWritableDomain locks the domain against deletion and status changes
// until the transaction ends: ErrNotFound if it does not exist,
// ErrUnprocessable if it is DELETED.
func (s *Store) lockWritableDomain(tx *gorm.DB, domainID int64) error {
	_, status, err := s.optionChain(tx, OptionOwner{Scope: ScopeDomain, ID: domainID}, true)
	if err != nil {
		return err
	}
	if status == StatusDeleted {
		return fault.Fail(fault.Unprocessable, "", "The domain is deleted: nothing of it can change until it is restored.")
	}
	return nil
}

func dkimKeyView(tx *gorm.DB, k DkimKey) (*DkimKeyView, error) {
	var domain []string
	if err := tx.Model(&Domain{}).Where("id = ?", k.DomainID).Pluck("name", &domain).Error; err != nil {
		return nil, translate(err)
	}
	if len(domain) == 0 {
		return nil, ErrNotFound
	}
	var aliases []string
	if err := tx.Model(&DomainAlias{}).Where("domain_id = ?", k.DomainID).Order("name").Pluck("name", &aliases).Error; err != nil {
		return nil, translate(err)
	}
	return &DkimKeyView{DkimKey: k, Names: append(domain, aliases...)}, nil
}

// GetDkimKey loads the domain's key and the names it is published under;
// a domain without one is a NotFound about fault.DkimKey.
func (s *Store) GetDkimKey(ctx context.Context, domainID int64) (*DkimKeyView, error) {
	gdb, cancel := s.db(ctx)
	defer cancel()
	var k DkimKey
	if err := gdb.Where("domain_id = ?", domainID).Take(&k).Error; err != nil {
		if err = translate(err); fault.KindOf(err) == fault.NotFound {
			return nil, dkimKeyMissing
		}
		return nil, err
	}
	return dkimKeyView(gdb, k)
}

// SigningKey is the domain's key, its private key sealed; nil when the
// domain has none.
func (s *Store) SigningKey(ctx context.Context, domainID int64) (*DkimKey, error) {
	gdb, cancel := s.db(ctx)
	defer cancel()
	var rows []DkimKey
	if err := gdb.Where("domain_id = ?", domainID).Limit(1).Find(&rows).Error; err != nil {
		return nil, translate(err)
	}
	if len(rows) == 0 {
		return nil, nil
	}
	return &rows[0], nil
}

// DeleteDkimKey removes the domain's key; one without is a NotFound about
// fault.DkimKey.
func (s *Store) DeleteDkimKey(ctx context.Context, domainID int64) error {
	return s.tx(ctx, func(tx *gorm.DB) error {
		if err := s.lockWritableDomain(tx, domainID); err != nil {
			return err
		}
		res := tx.Where("domain_id = ?", domainID).Delete(&DkimKey{})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return dkimKeyMissing
		}
		return nil
	})
}
