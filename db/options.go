package db

import (
	"context"
	"strings"

	"github.com/cleanmail/cleanmail/pkg/fault"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// OptionOwner names what option values belong to: the platform (ID 0), a
// customer, a domain or a user.
type OptionOwner struct {
	Scope OptionScope
	ID    int64
}

// OptionValue is one option as its owner sees it.
type OptionValue struct {
	Def *OptionDef
	// Value is the owner's own value; nil when it sets none.
	Value *string
	// Parent is what the owner inherits: the value of the nearest scope
	// above that sets one, else the catalog's default; nil when neither.
	Parent *string
}

// OptionSetting is a stored option value (table option_values). ObjectID
// repeats the owner's id in the column of its scope, the one its foreign
// key cascades from.
type OptionSetting struct {
	ID         int64 `gorm:"primaryKey"`
	Scope      OptionScope
	ObjectID   int64
	CustomerID *int64
	DomainID   *int64
	UserID     *int64
	Name       string
	Value      string
}

// TableName is the table GORM would not guess.
func (OptionSetting) TableName() string { return "option_values" }

func newOptionSetting(o OptionOwner, name, value string) OptionSetting {
	row := OptionSetting{Scope: o.Scope, ObjectID: o.ID, Name: name, Value: value}
	switch o.Scope {
	case ScopeCustomer:
		row.CustomerID = &o.ID
	case ScopeDomain:
		row.DomainID = &o.ID
	case ScopeUser:
		row.UserID = &o.ID
	}
	return row
}

// optionChain returns the owners whose values o sees, from the platform
// down to o itself, and the status of the domain o is or belongs to ("" for
// the platform and customers). A missing owner is ErrNotFound. With lock,
// the rows read are share-locked on PostgreSQL until the transaction ends,
// so the owner cannot be deleted, or its domain's status change, under a
// write (SQLite transactions already run one at a time).
func (s *Store) optionChain(tx *gorm.DB, o OptionOwner, lock bool) ([]OptionOwner, string, error) {
	q := tx
	if lock && s.dialect == Postgres {
		q = tx.Clauses(clause.Locking{Strength: "SHARE"})
	}
	platform := OptionOwner{Scope: ScopePlatform}
	var row struct {
		DomainID   int64
		CustomerID *int64
		Status     string
	}
	var err error
	switch o.Scope {
	case ScopePlatform:
		return []OptionOwner{platform}, "", nil
	case ScopeCustomer:
		var c Customer
		if err := q.Select("id").Take(&c, o.ID).Error; err != nil {
			return nil, "", translate(err)
		}
		return []OptionOwner{platform, o}, "", nil
	case ScopeDomain:
		err = q.Table("domains").Select("id AS domain_id, customer_id, status").Where("id = ?", o.ID).Take(&row).Error
	case ScopeUser:
		err = q.Table("users").Select("users.domain_id, domains.customer_id, domains.status").
			Joins("JOIN domains ON domains.id = users.domain_id").Where("users.id = ?", o.ID).Take(&row).Error
	default:
		return nil, "", fault.Fail(fault.Unprocessable, "scope", "options cannot be set on the "+string(o.Scope)+" scope")
	}
	if err != nil {
		return nil, "", translate(err)
	}
	chain := []OptionOwner{platform}
	if row.CustomerID != nil {
		chain = append(chain, OptionOwner{Scope: ScopeCustomer, ID: *row.CustomerID})
	}
	chain = append(chain, OptionOwner{Scope: ScopeDomain, ID: row.DomainID})
	if o.Scope == ScopeUser {
		chain = append(chain, o)
	}
	return chain, row.Status, nil
}

// optionSettings loads the values stored along chain, of one option or
// (name "") of all.
func optionSettings(tx *gorm.DB, chain []OptionOwner, name string) ([]OptionSetting, error) {
	conds := make([]string, len(chain))
	args := make([]any, 0, 2*len(chain)+1)
	for i, o := range chain {
		conds[i] = "(scope = ? AND object_id = ?)"
		args = append(args, o.Scope, o.ID)
	}
	q := tx.Where("("+strings.Join(conds, " OR ")+")", args...)
	if name != "" {
		q = q.Where("name = ?", name)
	}
	var rows []OptionSetting
	err := q.Find(&rows).Error
	return rows, translate(err)
}

// resolveOptions computes what the last owner of chain sees of each def.
// A value stored at a scope where the catalog no longer enables the option
// is ignored: the catalog decides.
func resolveOptions(chain []OptionOwner, rows []OptionSetting, defs []*OptionDef) []OptionValue {
	stored := map[string]map[OptionScope]string{}
	for _, r := range rows {
		if stored[r.Name] == nil {
			stored[r.Name] = map[OptionScope]string{}
		}
		stored[r.Name][r.Scope] = r.Value
	}
	out := make([]OptionValue, len(defs))
	for i, d := range defs {
		ov := OptionValue{Def: d}
		for j, o := range chain {
			v, ok := stored[d.Name][o.Scope]
			if !ok || !d.Enabled(o.Scope) {
				continue
			}
			if j == len(chain)-1 {
				ov.Value = &v
			} else {
				ov.Parent = &v // scopes come top down: the nearest one wins
			}
		}
		if ov.Parent == nil && d.Default != nil {
			ov.Parent = some(*d.Default)
		}
		out[i] = ov
	}
	return out
}

// ListOptions returns every option of the catalog that can be set at the
// owner's scope, by name, with the owner's value and what it inherits. An
// unknown owner is ErrNotFound.
func (s *Store) ListOptions(ctx context.Context, o OptionOwner) ([]OptionValue, error) {
	return s.resolved(ctx, o, optionDefsFor(o.Scope))
}

// resolved is what o sees of each of defs.
func (s *Store) resolved(ctx context.Context, o OptionOwner, defs []*OptionDef) ([]OptionValue, error) {
	gdb, cancel := s.db(ctx)
	defer cancel()
	chain, _, err := s.optionChain(gdb, o, false)
	if err != nil {
		return nil, err
	}
	rows, err := optionSettings(gdb, chain, "")
	if err != nil {
		return nil, err
	}
	return resolveOptions(chain, rows, defs), nil
}

// SetOption stores the owner's value of def, which the caller has checked
// (def.Enabled for the owner's scope, value from def.Normalize), and
// returns the option as the owner now sees it; created tells a first value
// from a replaced one. An unknown owner is ErrNotFound; a DELETED domain
// (or a user of one) is read-only: ErrUnprocessable.
func (s *Store) SetOption(ctx context.Context, o OptionOwner, def *OptionDef, value string) (ov OptionValue, created bool, err error) {
	err = s.tx(ctx, func(tx *gorm.DB) error {
		chain, status, err := s.optionChain(tx, o, true)
		if err != nil {
			return err
		}
		if status == StatusDeleted {
			return deletedDomainError(o)
		}
		// Insert unless a value exists, then update: concurrent first writes
		// of one option wait for each other on the unique key, and exactly
		// one of them is told it created the value.
		row := newOptionSetting(o, def.Name, value)
		res := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&row)
		if res.Error != nil {
			return res.Error
		}
		created = res.RowsAffected == 1
		if !created {
			err := tx.Model(&OptionSetting{}).Where("scope = ? AND object_id = ? AND name = ?", o.Scope, o.ID, def.Name).
				Update("value", value).Error
			if err != nil {
				return err
			}
		}
		rows, err := optionSettings(tx, chain, def.Name)
		if err != nil {
			return err
		}
		ov = resolveOptions(chain, rows, []*OptionDef{def})[0]
		return nil
	})
	return ov, created, err
}

// DeleteOption removes the owner's value of def, so that the inherited
// one applies again. An unknown owner is ErrNotFound; a value the owner
// does not set is an Error of kind ErrNotFound; a DELETED domain (or a
// user of one) is read-only: ErrUnprocessable.
func (s *Store) DeleteOption(ctx context.Context, o OptionOwner, def *OptionDef) error {
	return s.tx(ctx, func(tx *gorm.DB) error {
		_, status, err := s.optionChain(tx, o, true)
		if err != nil {
			return err
		}
		if status == StatusDeleted {
			return deletedDomainError(o)
		}
		res := tx.Where("scope = ? AND object_id = ? AND name = ?", o.Scope, o.ID, def.Name).Delete(&OptionSetting{})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return fault.Fail(fault.NotFound, "", def.Name+" is not set on this "+strings.ToLower(string(o.Scope))+": it already inherits its value")
		}
		return nil
	})
}

func deletedDomainError(o OptionOwner) error {
	what := "The domain"
	if o.Scope == ScopeUser {
		what = "The user's domain"
	}
	return fault.Fail(fault.Unprocessable, "", what+" is DELETED: its options are read-only until it is restored")
}

// Effective returns the values that o sees of the named options: its own,
// else the nearest scope's above, else the catalog's default; an option
// with none of them is absent from the map. An unknown owner is
// ErrNotFound.
func (s *Store) Effective(ctx context.Context, o OptionOwner, names ...string) (map[string]string, error) {
	var defs []*OptionDef
	for _, n := range names {
		if d, ok := LookupOption(n); ok {
			defs = append(defs, d)
		}
	}
	values, err := s.resolved(ctx, o, defs)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, ov := range values {
		switch {
		case ov.Value != nil:
			out[ov.Def.Name] = *ov.Value
		case ov.Parent != nil:
			out[ov.Def.Name] = *ov.Parent
		}
	}
	return out, nil
}
