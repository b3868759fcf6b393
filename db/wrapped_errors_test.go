package db

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"gorm.io/gorm"

	"github.com/cleanmail/cleanmail/pkg/fault"
)

// wrapQueryErrors makes every read's error a wrapped one, as a GORM plugin
// (tracing, metrics) or a joined error of GORM's own may leave it: the
// store must still recognise a missing row.
func wrapQueryErrors(t *testing.T, s *Store) {
	wrap := func(tx *gorm.DB) {
		if tx.Error != nil {
			tx.Error = fmt.Errorf("traced: %w", tx.Error)
		}
	}
	for _, g := range []*gorm.DB{s.gdb, s.wdb} {
		if err := g.Callback().Query().After("gorm:query").Register("test:wrap", wrap); err != nil {
			t.Fatal(err)
		}
		if s.wdb == s.gdb {
			break
		}
	}
}

// A missing row is told by errors.Is, not ==, so a wrapped ErrRecordNotFound
// still means "none": the default end-user permissions, a policy of another
// domain refused as such.
func TestWrappedNotFoundIsStillNotFound(t *testing.T) {
	testStores(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		a, err := s.CreateDomain(ctx, newTestDomain("a.example"))
		if err != nil {
			t.Fatal(err)
		}
		b, err := s.CreateDomain(ctx, newTestDomain("b.example"))
		if err != nil {
			t.Fatal(err)
		}
		other := &Policy{DomainID: b, Name: "other"}
		if err := s.CreatePolicy(ctx, other); err != nil {
			t.Fatal(err)
		}
		wrapQueryErrors(t, s)

		def := []string{"FILTER_EDIT"}
		got, err := s.DomainUserPermissions(ctx, a, def)
		if err != nil || !slices.Equal(got, def) {
			t.Errorf("DomainUserPermissions of a domain with none set = %v, %v; want the default %v", got, err, def)
		}

		err = s.UpdateDomain(ctx, a, func(e *DomainEdit) error {
			e.Domain.PolicyID = &other.ID
			return nil
		})
		if f, ok := fault.As(err); !ok || f.Kind != fault.Unprocessable || f.Field != "policyId" {
			t.Errorf("UpdateDomain with another domain's policy = %v; want unprocessable policyId", err)
		}
	})
}
