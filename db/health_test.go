package db

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"gorm.io/gorm"

	"github.com/cleanmail/cleanmail/db/dbtest"
)

// GET /health lists at most MaxFailing entities, domains first, each kind
// by name: with more failing domains than that, the first MaxFailing
// domains by name, and no platform.
func TestListFailingIsBounded(t *testing.T) {
	testStores(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		p, err := s.CreateDomain(ctx, newTestDomain("platforms.example"))
		if err != nil {
			t.Fatal(err)
		}
		d := s.Dialect()
		err = s.write(ctx, func(gdb *gorm.DB) error {
			return gdb.Transaction(func(tx *gorm.DB) error {
				for _, q := range []string{
					fmt.Sprintf(`INSERT INTO domains (name, status, wblist_priority, default_language, auto_provisioning_on, sender_verify_on, outgoing_subnets, creation_date)
						SELECT 'f' || (10000 + i) || '.example', 'ENABLED', 'USER', 'EN', FALSE, TRUE, '[]', 1 FROM %s`, dbtest.Series(d == Postgres, MaxFailing+1)),
					`INSERT INTO domain_health (domain_id, performed_at, status, report) SELECT id, 1, FALSE, '[]' FROM domains`,
					fmt.Sprintf(`INSERT INTO platforms (domain_id, name, transport_dest, transport_type, transport_port, is_default) VALUES (%d, 'relay', '10.0.0.1', 'SMTP', 25, TRUE)`, p),
					`INSERT INTO platform_health (platform_id, performed_at, status, report) SELECT id, 1, FALSE, '[]' FROM platforms`,
				} {
					if err := tx.Exec(q).Error; err != nil {
						return fmt.Errorf("%w\n%s", err, q)
					}
				}
				return nil
			})
		})
		if err != nil {
			t.Fatal(err)
		}
		out, err := s.ListFailing(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(out) != MaxFailing {
			t.Fatalf("%d failing entities, want %d", len(out), MaxFailing)
		}
		names := make([]string, len(out))
		for i, e := range out {
			if e.Kind != ObjectDomain {
				t.Fatalf("entity %d is a %s, want only domains", i, e.Kind)
			}
			names[i] = e.Name
		}
		if !slices.IsSorted(names) || names[0] != "f10001.example" {
			t.Errorf("not the first by name: %s … %s", names[0], names[len(names)-1])
		}
	})
}
