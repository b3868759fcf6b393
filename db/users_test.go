package db

import (
	"context"
	"testing"
	"time"

	"github.com/cleanmail/cleanmail/pkg/fault"
)

// The domain's status is decided in the transaction that adds the user: a
// user asked for while the domain is being disabled waits for that, and is
// refused, never stored in a disabled domain.
func TestCreateUserSeesTheDomainStatusOfItsTransaction(t *testing.T) {
	testStores(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		d, err := s.CreateDomain(ctx, newTestDomain("winterfell.example"))
		if err != nil {
			t.Fatal(err)
		}
		created := make(chan error, 1)
		err = s.UpdateDomain(ctx, d, func(e *DomainEdit) error {
			e.Domain.Status = StatusDisabled
			go func() {
				created <- s.CreateUser(context.Background(), &User{DomainID: d, Email: "arya@winterfell.example",
					Status: UserEnabled, Language: "EN", SenderVerifyOn: true})
			}()
			select {
			case err := <-created:
				t.Errorf("CreateUser returned (%v) while the domain was being disabled", err)
				created <- err
			case <-time.After(300 * time.Millisecond): // it waits, as it should
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := <-created; fault.KindOf(err) != fault.Unprocessable {
			t.Errorf("CreateUser in a domain disabled meanwhile = %v, want unprocessable", err)
		}
	})
}
