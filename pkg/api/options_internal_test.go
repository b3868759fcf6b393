package api

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/cleanmail/cleanmail/db"
)

// TestRestrictedOptionsNeedSysadmin checks the rule every option handler
// applies before writing. Over HTTP, an administrator who is not a
// sysadmin cannot reach a domain's options yet (authorities arrive with
// the access-control issue, and until then the access rules refuse them),
// so the rule is checked here, on the function the handlers call.
func TestRestrictedOptionsNeedSysadmin(t *testing.T) {
	plain := context.WithValue(context.Background(), principalKey{}, &Principal{Admin: &db.Admin{Login: "ned"}})
	sysadmin := context.WithValue(context.Background(), principalKey{}, &Principal{Admin: &db.Admin{Login: "admin", SysAdmin: true}})
	for _, tc := range []struct {
		ctx    context.Context
		name   string
		inPath bool // a delete names the option in its path
		status int  // 0: allowed
	}{
		{plain, "MX_HOST", false, http.StatusForbidden},
		{plain, "MX_HOST", true, http.StatusForbidden},
		{plain, "dkim_selector", false, http.StatusForbidden},
		{plain, "DOMAIN_ADMIN", false, 0},
		{plain, "DOMAIN_ADMIN", true, 0},
		{sysadmin, "MX_HOST", false, 0},
		{sysadmin, "MX_HOST", true, 0},
		// The name and the scope are judged first.
		{plain, "NO_SUCH_OPTION", false, http.StatusBadRequest},
		{plain, "NO_SUCH_OPTION", true, http.StatusNotFound},
		{plain, "USER_OPTION_EXAMPLE", true, http.StatusNotFound},
	} {
		def, err := optionDef(tc.ctx, db.ScopeDomain, tc.name, tc.inPath)
		if tc.status == 0 {
			if err != nil || def == nil {
				t.Errorf("%s (path %v): %v, want allowed", tc.name, tc.inPath, err)
			}
			continue
		}
		p, _ := problemFor(err)
		if err == nil || p.Status != tc.status {
			t.Errorf("%s (path %v): %v, want %d", tc.name, tc.inPath, err, tc.status)
		}
	}
	// An option a domain cannot hold is a 422 when set.
	_, err := optionDef(plain, db.ScopeDomain, "USER_OPTION_EXAMPLE", false)
	if p, _ := problemFor(err); !errors.Is(err, db.ErrUnprocessable) || p.Status != http.StatusUnprocessableEntity {
		t.Errorf("USER_OPTION_EXAMPLE on a domain: %v, want 422", err)
	}
}
