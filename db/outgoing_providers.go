package db

import (
	"context"

	"gorm.io/gorm"
)

// OutgoingProviderList declares the provider list's sort fields.
var OutgoingProviderList = ListSpec{
	Table:       "outgoing_providers",
	DefaultSort: "name",
	Sorts:       map[string]string{"id": "outgoing_providers.id", "name": "lower(outgoing_providers.name)"},
}

// CreateOutgoingProvider stores a provider; a name already used gives
// ErrConflict.
func (s *Store) CreateOutgoingProvider(ctx context.Context, p *OutgoingProvider) error {
	return s.write(ctx, func(gdb *gorm.DB) error { return gdb.Create(p).Error })
}

// ListOutgoingProviders returns one page of providers.
func (s *Store) ListOutgoingProviders(ctx context.Context, name Match, p Page) ([]OutgoingProvider, int64, *Cursor, error) {
	gdb, cancel := s.db(ctx)
	defer cancel()
	q := where(gdb.Model(&OutgoingProvider{}), name, "outgoing_providers.name")
	return findPage(ctx, q, OutgoingProviderList, outgoingProviderColumns, p)
}

// GetOutgoingProvider loads one provider.
func (s *Store) GetOutgoingProvider(ctx context.Context, id int64) (*OutgoingProvider, error) {
	gdb, cancel := s.db(ctx)
	defer cancel()
	var p OutgoingProvider
	if err := gdb.First(&p, id).Error; err != nil {
		return nil, translate(err)
	}
	return &p, nil
}
