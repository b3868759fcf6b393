package api_test

import (
	"strings"
	"testing"
)

// The domain routes to an administrator apply the same rule as
// /security/admins/{id}: a GRANT holder cannot read, strip or delete an
// administrator holding a permission it lacks.
func TestGrantCannotReachAMorePowerfulAdminThroughTheDomain(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) {
		stark := e.newDomain("stark.net")
		_, ned := e.domainAdmin(stark, "ned", "DOMAIN_READ", "GRANT")
		arya, _ := e.domainAdmin(stark, "arya", "DOMAIN_READ", "DOMAIN_EDIT")
		jon, _ := e.domainAdmin(stark, "jon", "DOMAIN_READ")
		path := "/domains/" + stark + "/admins/"

		e.do(req{Method: "GET", Path: path + arya, Token: ned}).problem(403, "beyond")
		e.do(req{Method: "PUT", Path: path + arya + "/authorities", Token: ned, Body: []string{"DOMAIN_READ"}}).problem(403, "beyond")
		e.do(req{Method: "DELETE", Path: path + arya, Token: ned}).problem(403, "beyond")
		got := e.do(req{Method: "GET", Path: "/security/admins/" + arya}).expect(200).json()
		if perms := got["authorities"].([]any)[0].(map[string]any)["permissions"]; len(perms.([]any)) != 2 {
			t.Errorf("arya's permissions after ned's attempts: %v", perms)
		}

		// Within its reach, Ned still manages.
		e.do(req{Method: "GET", Path: path + jon, Token: ned}).expect(200)
		e.do(req{Method: "PUT", Path: path + jon + "/authorities", Token: ned, Body: []string{"DOMAIN_READ"}}).expect(204)
		e.do(req{Method: "DELETE", Path: path + jon, Token: ned}).expect(204)
	})
}

// An administrator shared with another tenant shows, to a GRANT holder
// of one tenant, nothing of the other: neither its id nor its name.
func TestSharedAdminShowsOnlyAuthoritiesInReach(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) {
		stark := e.newDomain("stark.net")
		lannister := e.newDomain("lannister.net")
		_, ned := e.domainAdmin(stark, "ned", "DOMAIN_READ", "GRANT")
		sam, _ := e.domainAdmin(stark, "sam", "DOMAIN_READ")
		e.do(req{Method: "POST", Path: "/domains/" + lannister + "/admins", Body: map[string]any{"id": sam, "permissions": []string{"DOMAIN_READ"}}}).expect(200)

		for _, path := range []string{"/domains/" + stark + "/admins", "/security/admins", "/security/admins?search=sam"} {
			body := e.do(req{Method: "GET", Path: path, Token: ned}).expect(200)
			if s := string(body.Body); strings.Contains(s, "lannister") {
				t.Errorf("GET %s shows the other tenant: %s", path, s)
			}
			found := false
			for _, a := range body.list() {
				for _, au := range a["authorities"].([]any) {
					if au.(map[string]any)["objectId"] == lannister {
						t.Errorf("GET %s shows the other tenant's id: %v", path, a)
					}
				}
				if a["id"] == sam {
					found = true
					if a["authoritiesCount"] != float64(1) || len(a["authorities"].([]any)) != 1 {
						t.Errorf("GET %s: sam shows %v authorities: %v", path, a["authoritiesCount"], a["authorities"])
					}
				}
			}
			if !found {
				t.Errorf("GET %s: sam is not listed: %s", path, body.Body)
			}
		}
		// Sam holds access beyond Ned's: Ned may not manage it.
		r := e.do(req{Method: "GET", Path: "/security/admins/" + sam, Token: ned})
		r.problem(403, "")
		if strings.Contains(string(r.Body), "lannister") {
			t.Errorf("the 403 names the other tenant: %s", r.Body)
		}
		// Sam itself, and the sysadmin, see both.
		if a := e.do(req{Method: "GET", Path: "/security/admins/" + sam}).expect(200).json(); a["authoritiesCount"] != float64(2) {
			t.Errorf("the sysadmin sees %v of sam's authorities", a["authoritiesCount"])
		}
	})
}

// Moving a domain to another customer needs DOMAIN_EDIT through an
// authority over both customers, or the sysadmin: a domain
// administrator cannot take its domain from its customer's own
// administrators.
func TestMovingADomainNeedsBothCustomers(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) {
		winterfell := e.do(req{Method: "POST", Path: "/customers", Body: map[string]any{"name": "Winterfell"}}).expect(201).json()["id"].(string)
		casterly := e.do(req{Method: "POST", Path: "/customers", Body: map[string]any{"name": "Casterly Rock"}}).expect(201).json()["id"].(string)
		stark := e.newDomain("stark.net", map[string]any{"customerId": winterfell})
		customerOf := func() any {
			c, _ := e.do(req{Method: "GET", Path: "/domains/" + stark}).expect(200).json()["customer"].(map[string]any)
			return c["id"]
		}
		move := func(token, to string) *resp {
			return e.do(req{Method: "PATCH", Path: "/domains/" + stark, Token: token, Body: map[string]any{"customerId": to}})
		}

		_, ned := e.domainAdmin(stark, "ned", "DOMAIN_READ", "DOMAIN_EDIT")
		move(ned, casterly).problem(403, "both customers")
		move(ned, e.ids.Encode(9999)).problem(403, "both customers") // an unknown customer says nothing more
		move(ned, winterfell).expect(204)                            // no move: its own customer
		if c := customerOf(); c != winterfell {
			t.Fatalf("the domain moved to %v", c)
		}

		// On the first customer only: not enough either.
		cat, catTok := e.domainAdmin(stark, "catelyn", "DOMAIN_READ")
		e.do(req{Method: "PUT", Path: "/customers/" + winterfell + "/admins/" + cat + "/authorities", Body: []string{"DOMAIN_READ", "DOMAIN_EDIT"}}).expect(204)
		move(catTok, casterly).problem(403, "both customers")

		// On both: the move is its to make.
		e.do(req{Method: "PUT", Path: "/customers/" + casterly + "/admins/" + cat + "/authorities", Body: []string{"DOMAIN_READ", "DOMAIN_EDIT"}}).expect(204)
		move(catTok, casterly).expect(204)
		if c := customerOf(); c != casterly {
			t.Errorf("after the move: customer %v, want %s", c, casterly)
		}
		move(e.token, winterfell).expect(204) // and the sysadmin's
	})
}

// A temporary token is bound to its account: it stops working when the
// account is renamed, its password changes, or it is deleted and another
// account takes its address.
func TestTemporaryTokenFollowsTheAccount(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) {
		stark := e.newDomain("stark.net", map[string]any{"quarantine": true})
		whoami := func(tok string) *resp { return e.do(req{Method: "GET", Path: "/token", Token: tok}) }

		// Renamed.
		arya := e.newUser(stark, "arya@stark.net")
		tok := e.tempToken(t, "arya@stark.net")
		whoami(tok).expect(202)
		e.do(req{Method: "PATCH", Path: "/users/" + arya, Body: map[string]any{"email": "no-one@stark.net"}}).expect(204)
		whoami(tok).problem(401, "")
		// And another account takes the old address.
		e.newUser(stark, "arya@stark.net")
		whoami(tok).problem(401, "")

		// Password changed.
		sansa := e.newUser(stark, "sansa@stark.net", map[string]any{"password": "lemon-cakes"})
		tok = e.tempToken(t, "sansa@stark.net")
		whoami(tok).expect(202)
		e.do(req{Method: "PATCH", Path: "/users/" + sansa, Body: map[string]any{"password": "queen-in-the-north"}}).expect(204)
		whoami(tok).problem(401, "password")

		// Deleted, then the address taken again.
		bran := e.newUser(stark, "bran@stark.net")
		tok = e.tempToken(t, "bran@stark.net")
		e.do(req{Method: "DELETE", Path: "/users/" + bran}).expect(204)
		e.newUser(stark, "bran@stark.net")
		whoami(tok).problem(401, "")
		// A token of the new account works.
		whoami(e.tempToken(t, "bran@stark.net")).expect(202)
	})
}

// Giving an existing account access to a domain that does not exist is
// a 404, as for a new account (it was a 500: the authority's foreign key).
func TestExistingAdminOnUnknownDomainIs404(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) {
		stark := e.newDomain("stark.net")
		ned, _ := e.domainAdmin(stark, "ned", "DOMAIN_READ")
		e.do(req{Method: "POST", Path: "/domains/" + e.ids.Encode(9999) + "/admins",
			Body: map[string]any{"id": ned, "permissions": []string{"DOMAIN_READ"}}}).problem(404, "Domain")
	})
}
