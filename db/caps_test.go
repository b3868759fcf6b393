package db

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

func numbered(n int, format string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf(format, i)
	}
	return out
}

// The counts that API lists answer whole are capped: past the cap, a
// write is ErrUnprocessable and changes nothing.
func TestCountsAreCapped(t *testing.T) {
	testStores(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		d, err := s.CreateDomain(ctx, newTestDomain("stark.net"))
		if err != nil {
			t.Fatal(err)
		}

		// Domain aliases, added in several requests.
		if _, err := s.AddDomainAliases(ctx, d, numbered(MaxDomainAliases-1, "a%d.stark.net")); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AddDomainAliases(ctx, d, []string{"last.stark.net"}); err != nil {
			t.Fatalf("the %dth alias: %v", MaxDomainAliases, err)
		}
		if _, err := s.AddDomainAliases(ctx, d, []string{"one-too-many.stark.net"}); !errors.Is(err, ErrUnprocessable) {
			t.Errorf("alias %d: err = %v, want ErrUnprocessable", MaxDomainAliases+1, err)
		}
		if _, total, _, _ := s.ListDomainAliases(ctx, d, Page{PageSize: 1}); total != MaxDomainAliases {
			t.Errorf("%d aliases stored, want %d", total, MaxDomainAliases)
		}

		// Recipients of an e-mail alias, added in several requests.
		a, err := s.CreateEmailAlias(ctx, d, "all@stark.net", numbered(MaxAliasRecipients, "r%d@example.org"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.AddEmailAliasRecipients(ctx, d, a.ID, []string{"r1@example.org"}); err != nil {
			t.Errorf("a recipient already listed: %v", err)
		}
		if _, err := s.AddEmailAliasRecipients(ctx, d, a.ID, []string{"extra@example.org"}); !errors.Is(err, ErrUnprocessable) {
			t.Errorf("recipient %d: err = %v, want ErrUnprocessable", MaxAliasRecipients+1, err)
		}

		// Personal tokens of an account.
		admin := &Admin{Login: "ned", Enabled: true}
		if err := s.CreateAdmin(ctx, admin); err != nil {
			t.Fatal(err)
		}
		for i := range MaxTokens {
			if err := s.CreateToken(ctx, &PersonalToken{AdminID: admin.ID, Name: fmt.Sprint(i)}, NewTokenValue()); err != nil {
				t.Fatalf("token %d: %v", i+1, err)
			}
		}
		if err := s.CreateToken(ctx, &PersonalToken{AdminID: admin.ID, Name: "extra"}, NewTokenValue()); !errors.Is(err, ErrUnprocessable) {
			t.Errorf("token %d: err = %v, want ErrUnprocessable", MaxTokens+1, err)
		}
		if tokens, _ := s.ListTokens(ctx, admin.ID); len(tokens) != MaxTokens {
			t.Errorf("%d tokens stored, want %d", len(tokens), MaxTokens)
		}
	})
}

// Authorities: one per domain, so the cap needs that many domains,
// stored in one statement.
func TestAuthoritiesAreCapped(t *testing.T) {
	testStores(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		sqlDB, err := s.SQL()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sqlDB.Exec(fmt.Sprintf(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %d)
			INSERT INTO domains (name, status, wblist_priority, default_language, sender_verify_on, outgoing_subnets, auto_provisioning_on, creation_date)
			SELECT 'd' || i || '.example', 'ENABLED', 'USER', 'EN', TRUE, '[]', FALSE, 0 FROM n`, MaxAuthorities+1)); err != nil {
			t.Fatal(err)
		}
		admin := &Admin{Login: "ned", Enabled: true}
		if err := s.CreateAdmin(ctx, admin); err != nil {
			t.Fatal(err)
		}
		if _, err := sqlDB.Exec(`INSERT INTO authorities (admin_id, domain_id, permissions)
			SELECT ` + fmt.Sprint(admin.ID) + `, id, '["DOMAIN_READ"]' FROM domains WHERE name <> 'd1.example'`); err != nil {
			t.Fatal(err)
		}
		var last int64
		if err := sqlDB.QueryRow(`SELECT id FROM domains WHERE name = 'd1.example'`).Scan(&last); err != nil {
			t.Fatal(err)
		}
		if err := s.SetDomainAuthority(ctx, admin.ID, last, []string{"DOMAIN_READ"}); !errors.Is(err, ErrUnprocessable) {
			t.Errorf("authority %d: err = %v, want ErrUnprocessable", MaxAuthorities+1, err)
		}
		if err := s.SetAuthority(ctx, admin.ID, ObjectDomain, last, []string{"DOMAIN_READ"}); !errors.Is(err, ErrUnprocessable) {
			t.Errorf("authority %d (SetAuthority): err = %v, want ErrUnprocessable", MaxAuthorities+1, err)
		}
		// Replacing one it holds is no new authority.
		var held int64
		if err := sqlDB.QueryRow(`SELECT domain_id FROM authorities WHERE admin_id = ` + fmt.Sprint(admin.ID) + ` LIMIT 1`).Scan(&held); err != nil {
			t.Fatal(err)
		}
		if err := s.SetDomainAuthority(ctx, admin.ID, held, []string{"DOMAIN_READ", "USER_READ"}); err != nil {
			t.Errorf("replacing an authority at the cap: %v", err)
		}
	})
}
