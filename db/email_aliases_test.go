package db

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"

	"gorm.io/gorm"
)

// countQueries counts the statements that read, from now on.
func countQueries(t *testing.T, s *Store) *atomic.Int64 {
	var n atomic.Int64
	count := func(tx *gorm.DB) {
		// A subquery is built by a dry run, part of the query that runs.
		if !tx.DryRun {
			n.Add(1)
		}
	}
	cb := s.gdb.Callback()
	for _, err := range []error{
		cb.Query().Before("gorm:query").Register("test:count", count),
		cb.Row().Before("gorm:row").Register("test:count", count),
		cb.Raw().Before("gorm:raw").Register("test:count", count),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	return &n
}

func testUser(t *testing.T, s *Store, domainID int64, email, first string) int64 {
	u := User{DomainID: domainID, Email: email, Firstname: &first, Status: StatusEnabled, Language: "EN", SenderVerifyOn: true, CreationDate: nowMillis()}
	err := s.tx(context.Background(), func(tx *gorm.DB) error {
		if err := tx.Create(&MailAddress{Address: email, DomainID: domainID}).Error; err != nil {
			return err
		}
		return tx.Create(&u).Error
	})
	if err != nil {
		t.Fatal(err)
	}
	return u.ID
}

// A page of aliases costs the same number of queries whatever its length
// and whatever its aliases list.
func TestListEmailAliasesQueries(t *testing.T) {
	testStores(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		sizes := map[string]int{"small.example": 2, "large.example": 30}
		domains := map[string]int64{}
		for name, n := range sizes {
			d, err := s.CreateDomain(ctx, newTestDomain(name))
			if err != nil {
				t.Fatal(err)
			}
			domains[name] = d
			for i := range n {
				testUser(t, s, d, fmt.Sprintf("user%d@%s", i, name), "U")
				recipients := []string{fmt.Sprintf("user%d@%s", i, name), fmt.Sprintf("ext%d@example.com", i)}
				if i > 0 {
					recipients = append(recipients, fmt.Sprintf("alias%d@%s", i-1, name))
				}
				if _, err := s.CreateEmailAlias(ctx, d, fmt.Sprintf("alias%d@%s", i, name), recipients); err != nil {
					t.Fatal(err)
				}
			}
		}
		n := countQueries(t, s)
		queries := map[string]int64{}
		for name, d := range domains {
			n.Store(0)
			views, total, _, err := s.ListEmailAliases(ctx, d, EmailAliasFilter{Recipient: "*@*"}, Page{PageSize: 40})
			if err != nil {
				t.Fatal(err)
			}
			if int(total) != sizes[name] || len(views) != sizes[name] {
				t.Fatalf("%s: %d aliases of %d, want %d", name, len(views), total, sizes[name])
			}
			if got := len(views[1].Recipients); got != 3 {
				t.Errorf("%s: second alias has %d recipients, want 3", name, got)
			}
			queries[name] = n.Load()
		}
		t.Logf("queries per page: %v", queries)
		if queries["small.example"] != queries["large.example"] || queries["large.example"] > 4 {
			t.Errorf("queries per page: %v; want the same small number", queries)
		}
	})
}

// claimRecipients is what creating a mailbox calls, so that the aliases
// of its domain which already list its address list the mailbox.
func TestClaimRecipientsForNewUser(t *testing.T) {
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
		own, err := s.CreateEmailAlias(ctx, a, "team@a.example", []string{"late@a.example"})
		if err != nil {
			t.Fatal(err)
		}
		other, err := s.CreateEmailAlias(ctx, b, "team@b.example", []string{"late@a.example"})
		if err != nil {
			t.Fatal(err)
		}
		uid := testUser(t, s, a, "late@a.example", "Late")
		if err := s.tx(ctx, func(tx *gorm.DB) error { return claimRecipients(tx, "late@a.example") }); err != nil {
			t.Fatal(err)
		}
		v, err := s.GetEmailAlias(ctx, a, own.ID)
		if err != nil {
			t.Fatal(err)
		}
		if r := v.Recipients[0]; r.Type != RecipientUser || r.Firstname == nil || *r.Firstname != "Late" {
			t.Errorf("own domain's alias lists %+v, want the user", r)
		}
		// A mailbox of another domain is an external address there.
		if v, err = s.GetEmailAlias(ctx, b, other.ID); err != nil || v.Recipients[0].Type != RecipientExternal {
			t.Errorf("other domain's alias lists %+v (%v), want an external address", v.Recipients, err)
		}
		if err := s.write(ctx, func(gdb *gorm.DB) error { return gdb.Delete(&User{}, uid).Error }); err != nil {
			t.Fatal(err)
		}
		if v, err = s.GetEmailAlias(ctx, a, own.ID); err != nil || len(v.Recipients) != 0 {
			t.Errorf("after deleting the user, the alias lists %+v (%v)", v.Recipients, err)
		}
	})
}

func TestEmailAliasStoreErrors(t *testing.T) {
	testStores(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		if _, err := s.CreateEmailAlias(ctx, 999, "x@a.example", nil); !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown domain: %v, want ErrNotFound", err)
		}
		a, err := s.CreateDomain(ctx, newTestDomain("a.example"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.CreateEmailAlias(ctx, a, "x@b.example", nil); !errors.Is(err, ErrInvalid) {
			t.Errorf("address of another domain: %v, want ErrInvalid", err)
		}
		if _, err := s.CreateEmailAlias(ctx, a, "x@a.example", []string{"x@a.example"}); !errors.Is(err, ErrUnprocessable) {
			t.Errorf("alias listing itself: %v, want ErrUnprocessable", err)
		}
		if err := s.UpdateEmailAlias(ctx, a, 999, nil, nil); !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown alias: %v, want ErrNotFound", err)
		}
		if err := s.DeleteEmailAlias(ctx, 999); !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown alias: %v, want ErrNotFound", err)
		}
	})
}
