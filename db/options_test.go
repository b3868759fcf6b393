package db

import (
	"context"
	"errors"
	"testing"

	"gorm.io/gorm"
)

// TestOptionValuesGoWithTheirOwner: deleting a customer, a domain or a
// user deletes its option values in the same statement (foreign keys),
// and a domain's deletion takes its users' values along.
func TestOptionValuesGoWithTheirOwner(t *testing.T) {
	testStores(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		c := &Customer{Name: "Alinto"}
		if err := s.CreateCustomer(ctx, c); err != nil {
			t.Fatal(err)
		}
		nd := newTestDomain("stark.example")
		nd.Domain.CustomerID = &c.ID
		domainID, err := s.CreateDomain(ctx, nd)
		if err != nil {
			t.Fatal(err)
		}
		gdb := s.wdb.WithContext(ctx) // writes outside the writer's queue: the test runs alone
		users := []User{
			{DomainID: domainID, Email: "arya@stark.example", Status: "ENABLED", Language: "EN"},
			{DomainID: domainID, Email: "bran@stark.example", Status: "ENABLED", Language: "EN"},
		}
		if err := gdb.Create(&users).Error; err != nil {
			t.Fatal(err)
		}
		tz, _ := LookupOption("TIMEZONE")
		owners := []OptionOwner{
			{Scope: ScopePlatform},
			{Scope: ScopeCustomer, ID: c.ID},
			{Scope: ScopeDomain, ID: domainID},
			{Scope: ScopeUser, ID: users[0].ID},
			{Scope: ScopeUser, ID: users[1].ID},
		}
		for _, o := range owners {
			if _, created, err := s.SetOption(ctx, o, tz, "Europe/Paris"); err != nil || !created {
				t.Fatalf("SetOption(%v) = %v, %v", o, created, err)
			}
		}
		count := func(scope OptionScope) int64 {
			var n int64
			if err := gdb.Model(&OptionSetting{}).Where("scope = ?", scope).Count(&n).Error; err != nil {
				t.Fatal(err)
			}
			return n
		}

		if err := gdb.Delete(&User{}, users[1].ID).Error; err != nil {
			t.Fatal(err)
		}
		if n := count(ScopeUser); n != 1 {
			t.Errorf("after deleting a user: %d user values, want 1", n)
		}
		if err := gdb.Delete(&Domain{}, domainID).Error; err != nil {
			t.Fatal(err)
		}
		if n, m := count(ScopeDomain), count(ScopeUser); n != 0 || m != 0 {
			t.Errorf("after deleting the domain: %d domain and %d user values, want none", n, m)
		}
		if err := gdb.Delete(&Customer{}, c.ID).Error; err != nil {
			t.Fatal(err)
		}
		if n := count(ScopeCustomer); n != 0 {
			t.Errorf("after deleting the customer: %d customer values, want none", n)
		}
		if n := count(ScopePlatform); n != 1 {
			t.Errorf("%d platform values, want 1", n)
		}
		// The owner is gone: its options are not found any more.
		if _, err := s.ListOptions(ctx, owners[2]); !errors.Is(err, ErrNotFound) {
			t.Errorf("ListOptions of a deleted domain: %v, want ErrNotFound", err)
		}
	})
}

// TestOptionValueOwnerCheck: the table refuses a row whose scope and
// owner columns disagree, whatever code writes it.
func TestOptionValueOwnerCheck(t *testing.T) {
	testStores(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		domainID, err := s.CreateDomain(ctx, newTestDomain("check.example"))
		if err != nil {
			t.Fatal(err)
		}
		for _, row := range []OptionSetting{
			{Scope: ScopePlatform, ObjectID: 1, Name: "TIMEZONE", Value: "UTC"},
			{Scope: ScopeDomain, ObjectID: domainID, Name: "TIMEZONE", Value: "UTC"},                          // no domain_id
			{Scope: ScopeDomain, ObjectID: domainID + 1, DomainID: &domainID, Name: "TIMEZONE", Value: "UTC"}, // ids disagree
			{Scope: "GALAXY", ObjectID: 0, Name: "TIMEZONE", Value: "UTC"},
		} {
			if err := s.write(ctx, func(gdb *gorm.DB) error { return gdb.Create(&row).Error }); err == nil {
				t.Errorf("stored %+v", row)
			}
		}
	})
}
