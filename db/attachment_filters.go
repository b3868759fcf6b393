package db

import (
	"context"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// AttachmentFilter is an attachment rule of a domain: it allows or denies
// attachments whose name or content type (or those of the files inside an
// archive) match a regular expression.
type AttachmentFilter struct {
	ID          int64 `gorm:"primaryKey"`
	DomainID    int64
	Action      string
	CheckType   string
	Filter      string
	Description *string
	// Priority numbers the domain's rules in order of creation, from 1.
	Priority  int
	CreatedAt int64 `gorm:"autoCreateTime:false"`
}

// AttachmentFilterView is a rule with its scope: its domain's name.
type AttachmentFilterView struct {
	AttachmentFilter
	Scope string
}

// AttachmentFilterList declares the attachment rule list's sort fields.
var AttachmentFilterList = ListSpec{
	Table:       "attachment_filters",
	DefaultSort: "action",
	Sorts: map[string]string{
		"id":          "attachment_filters.id",
		"action":      "attachment_filters.action",
		"checkType":   "attachment_filters.check_type",
		"priority":    "attachment_filters.priority",
		"createdDate": "attachment_filters.created_at",
	},
}

// nextPriority is the priority of a new rule in a domain whose row the
// transaction has locked: one more than the highest so far.
func nextPriority(tx *gorm.DB, model any, domainID int64) (int, error) {
	var top int
	err := tx.Model(model).Where("domain_id = ?", domainID).Select("COALESCE(MAX(priority), 0)").Scan(&top).Error
	return top + 1, err
}

// lockRow loads the row of id into dest, locked on PostgreSQL until the
// transaction ends.
func (s *Store) lockRow(tx *gorm.DB, dest any, id int64) error {
	q := tx
	if s.dialect == Postgres {
		q = tx.Clauses(clause.Locking{Strength: "UPDATE"})
	}
	return q.First(dest, id).Error
}

// CreateAttachmentFilter stores a new rule in f.DomainID with the next
// priority. A missing domain is ErrNotFound; the same rule twice (action,
// check type and filter) is ErrConflict.
func (s *Store) CreateAttachmentFilter(ctx context.Context, f *AttachmentFilter) (*AttachmentFilterView, error) {
	var out AttachmentFilterView
	err := s.tx(ctx, func(tx *gorm.DB) error {
		// Locking the domain serialises the priorities of concurrent
		// creations.
		scope, err := s.lockOwner(tx, DomainOwner(f.DomainID))
		if err != nil {
			return err
		}
		if f.Priority, err = nextPriority(tx, &AttachmentFilter{}, f.DomainID); err != nil {
			return err
		}
		f.ID, f.CreatedAt = 0, nowMillis()
		if err := tx.Create(f).Error; err != nil {
			return err
		}
		out = AttachmentFilterView{AttachmentFilter: *f, Scope: scope}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

func attachmentFilterQuery(gdb *gorm.DB, domainID int64, action string) *gorm.DB {
	q := gdb.Model(&AttachmentFilter{}).Where("attachment_filters.domain_id = ?", domainID)
	if action != "" {
		return q.Where("attachment_filters.action = ?", action)
	}
	return counted(q, rowCount{table: "attachment_filters", col: "domain_id", val: domainID})
}

// ListAttachmentFilters returns one page of a domain's attachment rules
// (all of them, or those of one action) and the count of all matches. A
// missing domain is ErrNotFound.
func (s *Store) ListAttachmentFilters(ctx context.Context, domainID int64, action string, p Page) ([]AttachmentFilterView, int64, *Cursor, error) {
	gdb, cancel := s.db(ctx)
	defer cancel()
	scope, err := ownerName(gdb, DomainOwner(domainID))
	if err != nil {
		return nil, 0, nil, err
	}
	rows, total, next, err := findPage(ctx, attachmentFilterQuery(gdb, domainID, action), AttachmentFilterList, attachmentFilterColumns, p)
	if err != nil {
		return nil, 0, nil, err
	}
	out := make([]AttachmentFilterView, len(rows))
	for i, r := range rows {
		out[i] = AttachmentFilterView{AttachmentFilter: r, Scope: scope}
	}
	return out, total, next, nil
}

// StreamAttachmentFilters hands every rule of ListAttachmentFilters (no
// paging) to fn, in the sort's order, a batch at a time.
func (s *Store) StreamAttachmentFilters(ctx context.Context, domainID int64, action, sort string, fn func([]AttachmentFilterView) error) error {
	gdb, cancel := s.db(ctx)
	defer cancel()
	scope, err := ownerName(gdb, DomainOwner(domainID))
	if err != nil {
		return err
	}
	views := make([]AttachmentFilterView, 0, StreamBatch)
	return streamAll(ctx, attachmentFilterQuery(gdb, domainID, action), AttachmentFilterList, sort, func(rows []AttachmentFilter) error {
		views = views[:0]
		for _, r := range rows {
			views = append(views, AttachmentFilterView{AttachmentFilter: r, Scope: scope})
		}
		return fn(views)
	})
}

// UpdateAttachmentFilter loads a rule, lets edit change it, and saves it,
// in one transaction. Its domain, priority and creation date stay. A
// missing rule is ErrNotFound; a change that makes it identical to another
// rule is ErrConflict.
func (s *Store) UpdateAttachmentFilter(ctx context.Context, id int64, edit func(f *AttachmentFilter) error) error {
	return s.tx(ctx, func(tx *gorm.DB) error {
		var f AttachmentFilter
		if err := s.lockRow(tx, &f, id); err != nil {
			return err
		}
		if err := edit(&f); err != nil {
			return err
		}
		return tx.Model(&AttachmentFilter{ID: id}).Select("action", "check_type", "filter", "description").Updates(&f).Error
	})
}

// DeleteAttachmentFilter deletes a rule. A missing rule is ErrNotFound.
func (s *Store) DeleteAttachmentFilter(ctx context.Context, id int64) error {
	return s.write(ctx, func(gdb *gorm.DB) error { return deleted(gdb.Delete(&AttachmentFilter{}, id)) })
}
