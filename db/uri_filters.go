package db

import (
	"context"

	"gorm.io/gorm"
)

// UriFilter is a URI rule of a domain (the doc's URI-BL filter): links to
// a host or domain name in a message are skipped by the URI blocklist
// checks, count for it, or count against it.
type UriFilter struct {
	ID       int64 `gorm:"primaryKey"`
	DomainID int64
	Action   string
	// Filter is a host or domain name, in canonical (lower-case) form.
	Filter      string
	Description *string
	// Priority numbers the domain's rules in order of creation, from 1.
	Priority  int
	CreatedAt int64 `gorm:"autoCreateTime:false"`
}

// UriFilterView is a URI rule with its scope: its domain's name.
type UriFilterView struct {
	UriFilter
	Scope string
}

// UriFilterList declares the URI rule list's sort fields.
var UriFilterList = ListSpec{
	Table:       "uri_filters",
	DefaultSort: "action",
	Sorts: map[string]string{
		"id":          "uri_filters.id",
		"action":      "uri_filters.action",
		"filter":      "lower(uri_filters.filter)",
		"priority":    "uri_filters.priority",
		"createdDate": "uri_filters.created_at",
	},
}

// CreateUriFilter stores a new rule in f.DomainID with the next
// priority. A missing domain is ErrNotFound; the same rule twice (action
// and filter) is ErrConflict.
func (s *Store) CreateUriFilter(ctx context.Context, f *UriFilter) (*UriFilterView, error) {
	var out UriFilterView
	err := s.tx(ctx, func(tx *gorm.DB) error {
		// Locking the domain serialises the priorities of concurrent
		// creations.
		scope, err := s.lockOwner(tx, DomainOwner(f.DomainID))
		if err != nil {
			return err
		}
		if f.Priority, err = nextPriority(tx, &UriFilter{}, f.DomainID); err != nil {
			return err
		}
		f.ID, f.CreatedAt = 0, nowMillis()
		if err := tx.Create(f).Error; err != nil {
			return err
		}
		out = UriFilterView{UriFilter: *f, Scope: scope}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

func uriFilterQuery(gdb *gorm.DB, domainID int64, action string) *gorm.DB {
	q := gdb.Model(&UriFilter{}).Where("uri_filters.domain_id = ?", domainID)
	if action != "" {
		return q.Where("uri_filters.action = ?", action)
	}
	return counted(q, rowCount{table: "uri_filters", col: "domain_id", val: domainID})
}

// ListUriFilters returns one page of a domain's URI rules
// (all of them, or those of one action) and the count of all matches. A
// missing domain is ErrNotFound.
func (s *Store) ListUriFilters(ctx context.Context, domainID int64, action string, p Page) ([]UriFilterView, int64, *Cursor, error) {
	gdb, cancel := s.db(ctx)
	defer cancel()
	scope, err := ownerName(gdb, DomainOwner(domainID))
	if err != nil {
		return nil, 0, nil, err
	}
	rows, total, next, err := findPage(ctx, uriFilterQuery(gdb, domainID, action), UriFilterList, uriFilterColumns, p)
	if err != nil {
		return nil, 0, nil, err
	}
	out := make([]UriFilterView, len(rows))
	for i, r := range rows {
		out[i] = UriFilterView{UriFilter: r, Scope: scope}
	}
	return out, total, next, nil
}

// StreamUriFilters hands every rule of ListUriFilters (no
// paging) to fn, in the sort's order, a batch at a time.
func (s *Store) StreamUriFilters(ctx context.Context, domainID int64, action, sort string, fn func([]UriFilterView) error) error {
	gdb, cancel := s.db(ctx)
	defer cancel()
	scope, err := ownerName(gdb, DomainOwner(domainID))
	if err != nil {
		return err
	}
	views := make([]UriFilterView, 0, StreamBatch)
	return streamAll(ctx, uriFilterQuery(gdb, domainID, action), UriFilterList, sort, func(rows []UriFilter) error {
		views = views[:0]
		for _, r := range rows {
			views = append(views, UriFilterView{UriFilter: r, Scope: scope})
		}
		return fn(views)
	})
}

// UpdateUriFilter loads a rule, lets edit change it, and saves it,
// in one transaction. Its domain, priority and creation date stay. A
// missing rule is ErrNotFound; a change that makes it identical to another
// rule is ErrConflict.
func (s *Store) UpdateUriFilter(ctx context.Context, id int64, edit func(f *UriFilter) error) error {
	return s.tx(ctx, func(tx *gorm.DB) error {
		var f UriFilter
		if err := s.lockRow(tx, &f, id); err != nil {
			return err
		}
		if err := edit(&f); err != nil {
			return err
		}
		return tx.Model(&UriFilter{ID: id}).Select("action", "filter", "description").Updates(&f).Error
	})
}

// DeleteUriFilter deletes a rule. A missing rule is ErrNotFound.
func (s *Store) DeleteUriFilter(ctx context.Context, id int64) error {
	return s.write(ctx, func(gdb *gorm.DB) error { return deleted(gdb.Delete(&UriFilter{}, id)) })
}
