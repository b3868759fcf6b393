package db

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
)

// TestLastSysadminUnderConcurrency: of two enabled sysadmins, disabling
// (or deleting) both at once leaves one: the check that refuses to lose
// the last one must see the other's change. A fresh pair each round.
func TestLastSysadminUnderConcurrency(t *testing.T) {
	testStores(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		enabled := func() int64 {
			gdb, cancel := s.db(ctx)
			defer cancel()
			var n int64
			if err := gdb.Model(&Admin{}).Where("sys_admin AND enabled").Count(&n).Error; err != nil {
				t.Fatal(err)
			}
			return n
		}
		var survivor int64
		for round := range 30 {
			pair := [2]*Admin{}
			for k := range pair {
				pair[k] = &Admin{Login: fmt.Sprintf("root%d-%d", round, k), Enabled: true, SysAdmin: true}
				if err := s.CreateAdmin(ctx, pair[k]); err != nil {
					t.Fatal(err)
				}
			}
			if survivor != 0 {
				if _, err := s.UpdateAdmin(ctx, survivor, func(a *Admin) error { a.Enabled = false; return nil }); err != nil {
					t.Fatal(err)
				}
			}
			// Even rounds disable both, odd rounds delete one and disable
			// the other.
			var wg sync.WaitGroup
			start := make(chan struct{})
			errs := [2]error{}
			for k, a := range pair {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					if round%2 == 1 && k == 0 {
						errs[k] = s.DeleteAdmin(ctx, a.ID)
						return
					}
					_, errs[k] = s.UpdateAdmin(ctx, a.ID, func(a *Admin) error { a.Enabled = false; return nil })
				}()
			}
			close(start)
			wg.Wait()
			if n := enabled(); n != 1 {
				t.Fatalf("round %d: %d enabled sysadmins left (errors %v), want 1", round, n, errs)
			}
			ok := 0
			for k, err := range errs {
				switch {
				case err == nil:
					ok++
				case errors.Is(err, ErrUnprocessable):
					survivor = pair[k].ID
				default:
					t.Fatalf("round %d: %v", round, err)
				}
			}
			if ok != 1 {
				t.Fatalf("round %d: %d changes succeeded (%v), want exactly 1", round, ok, errs)
			}
		}
	})
}

// TestGetAdminByLoginIsExact: a login names one account, compared without
// case and nothing else: `*`, `%` and `_` are characters like any other.
func TestGetAdminByLoginIsExact(t *testing.T) {
	testStores(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		for _, login := range []string{"admin", "a_min", "ad%in", "Ned"} {
			if err := s.CreateAdmin(ctx, &Admin{Login: login, Enabled: true, SysAdmin: login == "admin"}); err != nil {
				t.Fatal(err)
			}
		}
		for _, tc := range []struct{ login, want string }{
			{"admin", "admin"},
			{"ADMIN", "admin"},
			{"a_min", "a_min"},
			{"A_MIN", "a_min"},
			{"ad%in", "ad%in"},
			{"ned", "Ned"},
			{"*", ""},
			{"a*", ""},
			{"*min", ""},
			{"%", ""},
			{"ad%", ""},
			{"_dmin", ""},
			{"a_", ""},
			{"admin ", ""},
			{"", ""},
		} {
			a, err := s.GetAdminByLogin(ctx, tc.login)
			switch {
			case tc.want == "" && !errors.Is(err, ErrNotFound):
				t.Errorf("GetAdminByLogin(%q) = %v, %v; want ErrNotFound", tc.login, a, err)
			case tc.want != "" && (err != nil || a.Login != tc.want):
				t.Errorf("GetAdminByLogin(%q) = %v, %v; want %s", tc.login, a, err, tc.want)
			}
		}
	})
}
