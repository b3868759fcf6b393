package api_test

import (
	"strings"
	"testing"
	"time"
)

// domainAdmin creates, as the sysadmin, an administrator of a domain with
// perms, and returns its id and a personal token.
func (e *env) domainAdmin(domain, login string, perms ...string) (string, string) {
	e.t.Helper()
	a := e.do(req{Method: "POST", Path: "/domains/" + domain + "/admins", Body: map[string]any{"login": login, "permissions": perms}}).expect(200).json()
	id := a["id"].(string)
	tok := e.do(req{Method: "POST", Path: "/admins/" + id + "/tokens", Body: map[string]any{"name": "t"}}).expect(201).json()["value"].(string)
	return id, tok
}

func TestDomainAdministrators(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) {
		stark := e.newDomain("stark.net")
		lannister := e.newDomain("lannister.net")
		e.newUser(stark, "arya@stark.net")
		nedID, ned := e.domainAdmin(stark, "ned", "DOMAIN_READ", "USER_READ", "GRANT")

		// Ned sees its domain, not the other one; lists count only that.
		r := e.do(req{Method: "GET", Path: "/domains", Token: ned}).expect(200)
		if ls := r.list(); len(ls) != 1 || ls[0]["name"] != "stark.net" || r.Header.Get("X-Total-Count") != "1" {
			t.Errorf("ned's domains: %s (total %s)", r.Body, r.Header.Get("X-Total-Count"))
		}
		e.do(req{Method: "GET", Path: "/domains/" + lannister, Token: ned}).problem(404, "")
		if ls := e.do(req{Method: "GET", Path: "/users", Token: ned}).expect(200).list(); len(ls) != 1 {
			t.Errorf("ned's users: %d", len(ls))
		}
		e.do(req{Method: "PATCH", Path: "/domains/" + stark, Token: ned, Body: map[string]any{"description": "x"}}).problem(403, "DOMAIN_EDIT")

		a := e.do(req{Method: "GET", Path: "/security/admins/" + nedID, Token: ned}).expect(200).json()
		auths := a["authorities"].([]any)
		if a["authoritiesCount"] != float64(1) || auths[0].(map[string]any)["objectName"] != "stark.net" || auths[0].(map[string]any)["objectType"] != "DOMAIN" {
			t.Errorf("ned's authorities: %v", a)
		}
		perms := e.do(req{Method: "GET", Path: "/security/permissions?scope=DOMAIN&id=" + stark, Token: ned}).expect(200).list()
		if len(perms) != 3 || perms[0]["editable"] != true {
			t.Errorf("ned's permissions on stark: %v", perms)
		}
		e.do(req{Method: "GET", Path: "/security/permissions?scope=DOMAIN&id=" + lannister, Token: ned}).problem(404, "")

		// GRANT: Ned creates Jon with part of what it holds, never more.
		jon := e.do(req{Method: "POST", Path: "/domains/" + stark + "/admins", Token: ned, Body: map[string]any{"login": "jon", "password": "ghost-and-wall", "permissions": []string{"DOMAIN_READ"}}}).expect(200).json()
		jonID := jon["id"].(string)
		e.do(req{Method: "POST", Path: "/domains/" + stark + "/admins", Token: ned, Body: map[string]any{"login": "robb", "permissions": []string{"DOMAIN_EDIT"}}}).problem(403, "DOMAIN_EDIT")
		e.do(req{Method: "PUT", Path: "/domains/" + stark + "/admins/" + jonID + "/authorities", Token: ned, Body: []string{"DOMAIN_READ", "IMPERSONATE"}}).problem(403, "IMPERSONATE")
		e.do(req{Method: "PUT", Path: "/domains/" + stark + "/admins/" + nedID + "/authorities", Token: ned, Body: []string{"DOMAIN_READ", "USER_READ", "GRANT", "DOMAIN_EDIT"}}).problem(403, "own")
		e.do(req{Method: "POST", Path: "/domains/" + stark + "/admins", Token: ned, Body: map[string]any{"login": "JON", "permissions": []string{}}}).problem(409, "")
		e.do(req{Method: "POST", Path: "/domains/" + stark + "/admins", Token: ned, Body: map[string]any{"login": "x", "permissions": []string{"FLY"}}}).problem(400, "permissions.0")
		e.do(req{Method: "PUT", Path: "/domains/" + stark + "/admins/" + jonID + "/authorities", Token: ned, Body: []string{"DOMAIN_READ", "USER_READ"}}).expect(204)
		l := e.do(req{Method: "GET", Path: "/domains/" + stark + "/admins", Token: ned}).expect(200).list()
		if len(l) != 2 {
			t.Errorf("stark's admins: %v", l)
		}
		// Ned manages Jon, lists it, and may not touch the sysadmin or another tenant.
		if ls := e.do(req{Method: "GET", Path: "/security/admins", Token: ned}).expect(200).list(); len(ls) != 2 {
			t.Errorf("ned's admins: %v", ls)
		}
		e.do(req{Method: "PATCH", Path: "/security/admins/" + jonID, Token: ned, Body: map[string]any{"displayName": "Jon Snow"}}).expect(200)
		e.do(req{Method: "GET", Path: "/security/admins/" + e.adminID("admin"), Token: ned}).problem(404, "")
		_, tywin := e.domainAdmin(lannister, "tywin", "DOMAIN_READ", "GRANT")
		e.do(req{Method: "GET", Path: "/security/admins/" + jonID, Token: tywin}).problem(404, "")
		e.do(req{Method: "GET", Path: "/admins/" + jonID + "/tokens", Token: tywin}).problem(403, "")
		e.do(req{Method: "GET", Path: "/domains/" + stark + "/admins/" + jonID, Token: tywin}).problem(404, "")

		// An account holding a permission Ned lacks is beyond Ned's reach.
		ariaID, _ := e.domainAdmin(stark, "arya", "DOMAIN_READ", "DOMAIN_EDIT")
		e.do(req{Method: "PATCH", Path: "/security/admins/" + ariaID, Token: ned, Body: map[string]any{"password": "needle-and-sword"}}).problem(403, "beyond")
		e.do(req{Method: "DELETE", Path: "/security/admins/" + ariaID, Token: ned}).problem(403, "")

		// Jon's token works until Ned disables him, then stops at once.
		jonTok := e.do(req{Method: "POST", Path: "/admins/" + jonID + "/tokens", Body: map[string]any{"name": "t"}}).expect(201).json()["value"].(string)
		e.do(req{Method: "GET", Path: "/domains/" + stark, Token: jonTok}).expect(200)
		e.do(req{Method: "PATCH", Path: "/security/admins/" + jonID, Token: ned, Body: map[string]any{"enabled": false}}).expect(200)
		e.do(req{Method: "GET", Path: "/domains/" + stark, Token: jonTok}).problem(401, "")
		e.do(req{Method: "PATCH", Path: "/security/admins/" + jonID, Token: ned, Body: map[string]any{"totp": true}}).problem(400, "totp")

		// Revoking Jon's only access deletes the account.
		e.do(req{Method: "DELETE", Path: "/domains/" + stark + "/admins/" + jonID, Token: ned}).expect(204)
		e.do(req{Method: "GET", Path: "/security/admins/" + jonID}).problem(404, "")
		e.do(req{Method: "DELETE", Path: "/domains/" + stark + "/admins/" + nedID, Token: ned}).problem(403, "own")

		// The last sysadmin stays.
		e.do(req{Method: "DELETE", Path: "/security/admins/" + e.adminID("admin")}).problem(422, "last")
	})
}

func TestCustomerAndBrokerAuthorities(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) {
		// Over HTTP: a reseller's admin, given GRANT on its broker, reaches
		// every domain of its customers and nothing else.
		b := e.do(req{Method: "POST", Path: "/brokers", Body: map[string]any{"name": "Westeros Hosting"}}).expect(201).json()["id"].(string)
		c := e.do(req{Method: "POST", Path: "/customers", Body: map[string]any{"name": "Stark", "brokerId": b}}).expect(201).json()["id"].(string)
		stark := e.newDomain("stark.net", map[string]any{"customerId": c})
		e.newDomain("lannister.net")
		id, tok := e.domainAdmin(stark, "varys", "DOMAIN_READ")
		winterfell := e.newDomain("winterfell.net", map[string]any{"customerId": c})
		e.do(req{Method: "GET", Path: "/domains/" + winterfell, Token: tok}).problem(404, "")
		e.do(req{Method: "PUT", Path: "/brokers/" + b + "/admins/" + id + "/authorities", Body: []string{"domain_read", "GRANT"}}).expect(204)
		e.do(req{Method: "GET", Path: "/domains/" + winterfell, Token: tok}).expect(200)
		if n := len(e.do(req{Method: "GET", Path: "/domains", Token: tok}).expect(200).list()); n != 2 {
			t.Errorf("the broker's admin lists %d domains, want 2", n)
		}
		a := e.do(req{Method: "GET", Path: "/security/admins/" + id, Token: tok}).expect(200).json()
		if a["authoritiesCount"] != float64(2) {
			t.Errorf("authorities: %v", a["authorities"])
		}
		e.do(req{Method: "PUT", Path: "/brokers/" + b + "/admins/" + id + "/authorities", Token: tok, Body: []string{"DOMAIN_READ"}}).problem(403, "sysadmin")
		e.do(req{Method: "PUT", Path: "/customers/" + c + "/admins/" + id + "/authorities", Body: []string{"FLY"}}).problem(400, "0")
		e.do(req{Method: "PUT", Path: "/customers/zzzzzzz/admins/" + id + "/authorities", Body: []string{}}).problem(404, "")
		e.do(req{Method: "PUT", Path: "/customers/" + c + "/admins/" + e.adminID("admin") + "/authorities", Body: []string{}}).problem(400, "sysadmin")
		e.do(req{Method: "PUT", Path: "/brokers/" + b + "/admins/" + id + "/authorities", Body: []string{}}).expect(204)
		e.do(req{Method: "GET", Path: "/domains/" + winterfell, Token: tok}).problem(404, "")

		w := e.newWorld(t, "reach")
		for _, caller := range []string{"viaCustomer", "viaBroker"} {
			r := e.do(req{Method: "GET", Path: "/domains", Token: w.tokens[caller]}).expect(200)
			if ls := r.list(); len(ls) != 1 || ls[0]["id"] != w.domain {
				t.Errorf("%s sees %s", caller, r.Body)
			}
			e.do(req{Method: "GET", Path: "/domains/" + w.otherDomain, Token: w.tokens[caller]}).problem(404, "")
		}
	})
}

func TestTemporaryTokens(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) {
		stark := e.newDomain("stark.net", map[string]any{"quarantine": true})
		plain := e.newDomain("lannister.net")
		arya := e.newUser(stark, "arya@stark.net")
		e.newUser(stark, "sansa@stark.net")
		e.newUser(plain, "tyrion@lannister.net")

		start := time.Now()
		tok := e.do(req{Method: "GET", Path: "/token?username=arya@stark.net"}).expect(202).json()
		exp := time.UnixMilli(int64(tok["expireAt"].(float64)))
		if d := exp.Sub(start); d < 4*time.Hour-time.Minute || d > 4*time.Hour+time.Minute {
			t.Errorf("expireAt in %v, want 4h (the default validity)", d)
		}
		jwt := tok["token"].(string)
		if parts := strings.Split(jwt, "."); len(parts) != 3 || !strings.HasPrefix(jwt, "eyJhbGciOiJIUzUxMiI") {
			t.Errorf("not an HS512 JWT: %s", jwt)
		}
		if url, ok := tok["url"]; !ok || url != nil {
			t.Errorf("url without APP_URL: %v (present %v), want null", url, ok)
		}
		// The application's URL comes from the APP_URL option.
		e.do(req{Method: "POST", Path: "/options/platform", Body: map[string]any{"name": "APP_URL", "value": "protect.winterfell.net"}}).expect(201)
		long := e.do(req{Method: "GET", Path: "/token?username=arya@stark.net&validity=48"}).expect(202).json()
		if u, _ := long["url"].(string); !strings.HasPrefix(u, "https://protect.winterfell.net/?token=ey") {
			t.Errorf("url %q, want one on APP_URL with the token", u)
		}
		if d := time.UnixMilli(int64(long["expireAt"].(float64))).Sub(start); d < 47*time.Hour {
			t.Errorf("validity=48 gave %v", d)
		}

		// The token is Arya, on her own mailbox, with her domain's end-user permissions.
		e.do(req{Method: "GET", Path: "/users/arya@stark.net", Token: jwt}).expect(200)
		e.do(req{Method: "GET", Path: "/users/" + arya, Token: jwt}).expect(200)
		e.do(req{Method: "GET", Path: "/users/sansa@stark.net", Token: jwt}).problem(404, "")
		e.do(req{Method: "GET", Path: "/domains/" + stark, Token: jwt}).problem(404, "")
		e.do(req{Method: "DELETE", Path: "/users/" + arya, Token: jwt}).problem(403, "USER_EDIT")
		if ls := e.do(req{Method: "GET", Path: "/domains", Token: jwt}).expect(200).list(); len(ls) != 0 {
			t.Errorf("an end user lists domains: %v", ls)
		}
		e.do(req{Method: "GET", Path: "/token", Token: jwt}).expect(202)
		e.do(req{Method: "GET", Path: "/token?username=sansa@stark.net", Token: jwt}).problem(404, "")

		// The domain's end-user permissions decide, at every request.
		acl := e.do(req{Method: "GET", Path: "/domains/" + stark + "/access"}).expect(200).list()
		if len(acl) == 0 {
			t.Fatal("no end-user permissions listed")
		}
		e.do(req{Method: "PUT", Path: "/domains/" + stark + "/access", Body: []string{"QUARANTINE_READ"}}).expect(200)
		e.do(req{Method: "GET", Path: "/users/arya@stark.net", Token: jwt}).problem(403, "USER_READ")
		e.do(req{Method: "PUT", Path: "/domains/" + stark + "/access", Body: []string{"GRANT"}}).problem(400, "0")
		e.do(req{Method: "PUT", Path: "/domains/" + stark + "/access", Body: []string{"USER_READ"}}).expect(200)
		e.do(req{Method: "GET", Path: "/users/arya@stark.net", Token: jwt}).expect(200)

		// Disabling the account revokes its tokens.
		e.do(req{Method: "PATCH", Path: "/users/" + arya, Body: map[string]any{"status": "DISABLED"}}).expect(204)
		e.do(req{Method: "GET", Path: "/users/arya@stark.net", Token: jwt}).problem(401, "")

		e.do(req{Method: "GET", Path: "/token?username=nobody@stark.net"}).problem(404, "")
		e.do(req{Method: "GET", Path: "/token?username=tyrion@lannister.net"}).problem(400, "quarantine or retention or archive")
		e.do(req{Method: "GET", Path: "/token?username=arya@stark.net&validity=0"}).problem(400, "validity")
		e.do(req{Method: "GET", Path: "/token"}).problem(400, "username")
		e.do(req{Method: "GET", Path: "/users/arya@stark.net", Token: jwt[:len(jwt)-4] + "AAAA"}).problem(401, "")

		// IMPERSONATE on the domain, and only that, lets an admin get one.
		_, imp := e.domainAdmin(stark, "littlefinger", "IMPERSONATE")
		_, reader := e.domainAdmin(stark, "maester", "USER_READ")
		e.do(req{Method: "GET", Path: "/token?username=sansa@stark.net", Token: imp}).expect(202)
		e.do(req{Method: "GET", Path: "/token?username=sansa@stark.net", Token: reader}).problem(403, "IMPERSONATE")
	})
}
