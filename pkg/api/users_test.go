package api_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// lannister sets up the doc's Lannister domain: its platform "Westeros"
// and its policy as the user examples embed them. It returns the domain's
// id and platform id.
func (e *env) lannister(t *testing.T) (string, string) {
	t.Helper()
	want := responseExample(t, "/users", "post", "201").(map[string]any)
	domain := e.newDomain("lannister.net", map[string]any{"quarantine": true, "retention": true, "archive": true, "defaultLanguage": "FR",
		"platforms": []map[string]any{{"name": "Westeros", "transportDest": "smtp.westeros.com", "transportType": "SMTP", "transportPort": 25, "authType": "local", "default": true}}})
	d := e.do(req{Method: "GET", Path: "/domains/" + domain}).expect(200).json()
	policy := want["policy"].(map[string]any)
	patch := map[string]any{}
	for k, v := range policy {
		if k != "id" && k != "domainId" && k != "name" {
			patch[k] = v
		}
	}
	e.do(req{Method: "PATCH", Path: "/policies/" + d["policy"].(map[string]any)["id"].(string), Body: patch}).expect(204)
	return domain, d["platforms"].([]any)[0].(map[string]any)["id"].(string)
}

func (e *env) newUser(domain, email string, extra ...map[string]any) string {
	e.t.Helper()
	body := map[string]any{"email": email, "status": "ENABLED", "domainId": domain}
	for _, x := range extra {
		for k, v := range x {
			body[k] = v
		}
	}
	return e.do(req{Method: "POST", Path: "/users", Body: body}).expect(201).json()["id"].(string)
}

func TestCreateUserExample(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) {
		domain, platform := e.lannister(t)
		body := requestExample(t, "/users", "post").(map[string]any)
		body["domainId"], body["platformId"] = domain, platform
		r := e.do(req{Method: "POST", Path: "/users", Body: body}).expect(201)
		u := r.json()
		sameAsExample(t, u, responseExample(t, "/users", "post", "201"), "domainPolicyId", "domainPlatformId")
		if u["domainId"] != domain || u["domainPlatformId"] != platform || u["platform"].(map[string]any)["id"] != platform {
			t.Errorf("domainId %v, domainPlatformId %v, platform %v", u["domainId"], u["domainPlatformId"], u["platform"])
		}
		if _, ok := u["password"]; ok {
			t.Error("the response carries the password")
		}
		if loc := r.Header.Get("Location"); loc != "/users/"+u["id"].(string) {
			t.Errorf("Location %q", loc)
		}
		// Stored as a bcrypt hash of the password, never in clear.
		sqlDB, _ := e.store.SQL()
		var hash string
		if err := sqlDB.QueryRow("SELECT password_hash FROM users WHERE email = 'tywin@lannister.net'").Scan(&hash); err != nil {
			t.Fatal(err)
		}
		if bcrypt.CompareHashAndPassword([]byte(hash), []byte("HearMeRoar!")) != nil {
			t.Errorf("stored password is not a bcrypt hash of the password: %q", hash)
		}
		// By id and by address, any case.
		byID := e.do(req{Method: "GET", Path: "/users/" + u["id"].(string)}).expect(200).json()
		sameAsExample(t, byID, u)
		byMail := e.do(req{Method: "GET", Path: "/users/Tywin@Lannister.net"}).expect(200).json()
		sameAsExample(t, byMail, u)
		if d := e.do(req{Method: "GET", Path: "/domains/" + domain}).expect(200).json(); d["activeUsersCount"] != float64(1) {
			t.Errorf("activeUsersCount = %v, want 1", d["activeUsersCount"])
		}
	})
}

func TestCreateUserDefaults(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) {
		domain := e.newDomain("stark.net", map[string]any{"defaultLanguage": "DE",
			"platforms": []map[string]any{{"name": "winterfell", "transportDest": "10.0.0.1", "transportType": "SMTP", "transportPort": 25}}})
		id := e.newUser(domain, "Sansa@Stark.net", map[string]any{"firstname": "Sansa"})
		u := e.do(req{Method: "GET", Path: "/users/" + id}).expect(200).json()
		d := e.do(req{Method: "GET", Path: "/domains/" + domain}).expect(200).json()
		if u["email"] != "sansa@stark.net" || u["language"] != "DE" || u["senderVerifyOn"] != true ||
			u["policy"].(map[string]any)["id"] != d["policy"].(map[string]any)["id"] || u["domainPolicyId"] != d["policy"].(map[string]any)["id"] ||
			u["platform"].(map[string]any)["name"] != "winterfell" || u["domainStatus"] != "ENABLED" || u["mfaType"] != nil {
			t.Errorf("defaults not taken from the domain: %v", u)
		}
		// An address in one of the domain's aliases is the domain's too.
		e.do(req{Method: "POST", Path: "/domains/" + domain + "/aliases", Body: []string{"winterfell.net"}}).expect(201)
		e.newUser(domain, "arya@winterfell.net")
	})
}

func TestCreateUserErrors(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) {
		stark := e.newDomain("stark.net")
		other := e.newDomain("lannister.net")
		otherPolicy := e.do(req{Method: "GET", Path: "/domains/" + other}).expect(200).json()["policy"].(map[string]any)["id"]
		e.newUser(stark, "ned@stark.net")
		disabled := e.newDomain("frey.net")
		e.do(req{Method: "PATCH", Path: "/domains/" + disabled, Body: map[string]any{"status": "DISABLED"}}).expect(204)
		deleted := e.newDomain("bolton.net")
		e.do(req{Method: "DELETE", Path: "/domains/" + deleted}).expect(204)
		for _, tc := range []struct {
			name   string
			body   map[string]any
			status int
			want   string
		}{
			{"duplicate, other case", map[string]any{"email": "NED@stark.net", "domainId": stark}, 409, "already used"},
			{"other domain's address", map[string]any{"email": "jaime@lannister.net", "domainId": stark}, 400, "email"},
			{"not an address", map[string]any{"email": "ned", "domainId": stark}, 400, "email"},
			{"unknown domain", map[string]any{"email": "x@stark.net", "domainId": "zzzzzzz"}, 400, "domainId"},
			{"short password", map[string]any{"email": "x@stark.net", "domainId": stark, "password": "short"}, 400, "password"},
			{"bad sign", map[string]any{"email": "x@stark.net", "domainId": stark, "sign": "not base64!"}, 400, "sign"},
			{"policy of another domain", map[string]any{"email": "x@stark.net", "domainId": stark, "policyId": otherPolicy}, 422, "policyId"},
			{"bad status", map[string]any{"email": "x@stark.net", "domainId": stark, "status": "ASLEEP"}, 400, "status"},
			{"disabled domain", map[string]any{"email": "x@frey.net", "domainId": disabled}, 422, "DISABLED"},
			{"deleted domain", map[string]any{"email": "x@bolton.net", "domainId": deleted}, 422, "DELETED"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				e.t = t
				if _, ok := tc.body["status"]; !ok {
					tc.body["status"] = "ENABLED"
				}
				e.do(req{Method: "POST", Path: "/users", Body: tc.body}).problem(tc.status, tc.want)
			})
		}
		e.t = t
		e.do(req{Method: "GET", Path: "/users/nobody@stark.net"}).problem(404, "Unknown user")
		e.do(req{Method: "GET", Path: "/users/zzzzzzz"}).problem(404, "")
	})
}

func TestConcurrentCreateUser(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) {
		domain := e.newDomain("stark.net")
		e.race(t, 6, 201, 409, func(i int) req {
			addr := "bran@stark.net"
			if i%2 == 1 {
				addr = "BRAN@stark.net" // case-insensitive uniqueness
			}
			return req{Method: "POST", Path: "/users", Body: map[string]any{"email": addr, "status": "ENABLED", "domainId": domain}}
		})
	})
}

func TestListUsers(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) {
		stark := e.newDomain("stark.net", map[string]any{"platforms": []map[string]any{{"name": "winterfell", "transportDest": "10.0.0.1", "transportType": "SMTP", "transportPort": 25}}})
		lannister := e.newDomain("lannister.net", map[string]any{"platforms": []map[string]any{{"name": "casterly", "transportDest": "10.0.0.2", "transportType": "SMTP", "transportPort": 25}}})
		for _, a := range []string{"sansa", "arya", "bran", "rickon"} {
			e.newUser(stark, a+"@stark.net")
		}
		for _, a := range []string{"cersei", "jaime"} {
			e.newUser(lannister, a+"@lannister.net")
		}
		emails := func(path string, total int) string {
			t.Helper()
			r := e.do(req{Method: "GET", Path: path}).expect(200)
			if r.Header.Get("X-Total-Count") != fmt.Sprint(total) {
				t.Errorf("GET %s: X-Total-Count %s, want %d", path, r.Header.Get("X-Total-Count"), total)
			}
			var out []string
			for _, u := range r.list() {
				out = append(out, strings.Split(u["email"].(string), "@")[0])
			}
			return strings.Join(out, " ")
		}
		for path, want := range map[string]struct {
			names string
			total int
		}{
			"/users":                                    {"arya bran cersei jaime rickon sansa", 6},
			"/users?sort=-email&pageSize=2":             {"sansa rickon", 6},
			"/users?email=*@lannister.net":              {"cersei jaime", 2},
			"/users?email=S*":                           {"sansa", 1},
			"/users?platformName=casterly":              {"cersei jaime", 2},
			"/domains/" + stark + "/users":              {"arya bran rickon sansa", 4},
			"/domains/" + stark + "/users?email=*a@*":   {"arya sansa", 2},
			"/domains/" + stark + "/users?offset=3":     {"sansa", 4},
			"/domains/" + lannister + "/users?sort=-id": {"jaime cersei", 2},
		} {
			if got := emails(path, want.total); got != want.names {
				t.Errorf("GET %s: %q, want %q", path, got, want.names)
			}
		}
		e.do(req{Method: "GET", Path: "/users?sort=password"}).problem(400, "sort")
		e.do(req{Method: "GET", Path: "/domains/zzzzzzz/users"}).problem(404, "")
	})
}

func TestUpdateDeleteUser(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) {
		stark := e.newDomain("stark.net")
		id := e.newUser(stark, "robb@stark.net", map[string]any{"firstname": "Robb", "lastname": "Snow", "language": "EN"})
		e.newUser(stark, "jon@stark.net")
		before := e.do(req{Method: "GET", Path: "/users/" + id}).expect(200).json()
		e.do(req{Method: "PATCH", Path: "/users/" + id, Body: requestExample(t, "/users/{userId}", "patch")}).expect(204)
		after := e.do(req{Method: "GET", Path: "/users/" + id}).expect(200).json()
		if after["lastname"] != "Stark" || after["language"] != "DE" {
			t.Errorf("after the doc's PATCH: lastname %v, language %v", after["lastname"], after["language"])
		}
		after["lastname"], after["language"] = before["lastname"], before["language"]
		sameAsExample(t, after, before)

		e.do(req{Method: "PATCH", Path: "/users/robb@stark.net", Body: map[string]any{"email": "jon@stark.net"}}).problem(409, "")
		e.do(req{Method: "PATCH", Path: "/users/" + id, Body: map[string]any{"email": "robb@lannister.net"}}).problem(400, "email")
		e.do(req{Method: "PATCH", Path: "/users/" + id, Body: map[string]any{"password": "1234567"}}).problem(400, "password")
		// A user stays in its domain: domainId is not a field of UserUpdate,
		// and is ignored like any other unknown property.
		e.do(req{Method: "PATCH", Path: "/users/" + id, Body: map[string]any{"domainId": "zzzzzzz"}}).expect(204)
		if got := e.do(req{Method: "GET", Path: "/users/" + id}).expect(200).json()["domainId"]; got != before["domainId"] {
			t.Errorf("domainId after a PATCH naming another: %v, want %v", got, before["domainId"])
		}
		e.do(req{Method: "PATCH", Path: "/users/" + id, Body: map[string]any{"email": "king@stark.net", "status": "DISABLED", "mfaType": "TOTP"}}).expect(204)
		u := e.do(req{Method: "GET", Path: "/users/king@stark.net"}).expect(200).json()
		if u["status"] != "DISABLED" || u["mfaType"] != "TOTP" {
			t.Errorf("after PATCH: %v %v", u["status"], u["mfaType"])
		}
		if d := e.do(req{Method: "GET", Path: "/domains/" + stark}).expect(200).json(); d["activeUsersCount"] != float64(1) {
			t.Errorf("activeUsersCount = %v, want 1 (one user disabled)", d["activeUsersCount"])
		}
		// The old address is free again.
		e.newUser(stark, "robb@stark.net")

		e.do(req{Method: "DELETE", Path: "/users/king@stark.net"}).expect(204)
		e.do(req{Method: "GET", Path: "/users/" + id}).problem(404, "")
		e.do(req{Method: "DELETE", Path: "/users/" + id}).problem(404, "")
		e.newUser(stark, "king@stark.net")
	})
}

func TestUsersOfDeletedDomain(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) {
		stark := e.newDomain("stark.net", map[string]any{"quarantine": true})
		id := e.newUser(stark, "ned@stark.net")
		policy := e.do(req{Method: "GET", Path: "/users/" + id}).expect(200).json()["policy"].(map[string]any)["id"].(string)
		// A policy used by a user cannot go (the domain's own too).
		p2 := e.do(req{Method: "POST", Path: "/domains/" + stark + "/policies", Body: map[string]any{"name": "P2", "quarantine": true, "retention": false, "incoming": true}}).expect(201).json()["id"].(string)
		e.do(req{Method: "PATCH", Path: "/users/" + id, Body: map[string]any{"policyId": p2}}).expect(204)
		e.do(req{Method: "DELETE", Path: "/policies/" + p2}).problem(400, "assigned to users")
		_ = policy

		e.do(req{Method: "DELETE", Path: "/domains/" + stark}).expect(204)
		// Suspended: still there for a sysadmin, with its domain's status.
		if u := e.do(req{Method: "GET", Path: "/users/" + id}).expect(200).json(); u["domainStatus"] != "DELETED" {
			t.Errorf("domainStatus %v", u["domainStatus"])
		}
		if _, err := e.store.PurgeDomains(context.Background(), 1<<62); err != nil {
			t.Fatal(err)
		}
		e.do(req{Method: "GET", Path: "/users/" + id}).problem(404, "")
		// The purge released the address.
		d := e.newDomain("stark.net")
		e.newUser(d, "ned@stark.net")
	})
}

func TestUserSign(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) {
		stark := e.newDomain("stark.net", map[string]any{"quarantine": true})
		id := e.newUser(stark, "robert@stark.net")
		path := "/users/" + id + "/sign"
		e.do(req{Method: "GET", Path: path}).problem(422, "no signature")
		want := responseExample(t, "/users/{userId}/sign", "get", "200")
		set := e.do(req{Method: "PUT", Path: path, Body: want}).expect(200).json()
		sameAsExample(t, set, want)
		got := e.do(req{Method: "GET", Path: path}).expect(200).json()
		sameAsExample(t, got, want)
		e.do(req{Method: "PUT", Path: path, Body: map[string]any{"sign": "%%%"}}).problem(400, "sign")
		e.do(req{Method: "DELETE", Path: path}).expect(204)
		e.do(req{Method: "GET", Path: path}).problem(422, "")
		e.do(req{Method: "GET", Path: "/users/zzzzzzz/sign"}).problem(404, "Unknown user")

		// No quarantine, retention or archive: no signature.
		plain := e.newDomain("lannister.net")
		uid := e.newUser(plain, "tyrion@lannister.net")
		e.do(req{Method: "PUT", Path: "/users/" + uid + "/sign", Body: want}).problem(400, "quarantine or retention or archive")
		e.do(req{Method: "GET", Path: "/users/" + uid + "/sign"}).problem(400, "")
	})
}

func TestUsersNeedPermission(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) {
		stark := e.newDomain("stark.net")
		id := e.newUser(stark, "ned@stark.net")
		token := e.plainAdmin("varys")
		e.do(req{Method: "POST", Path: "/users", Token: token, Body: map[string]any{"email": "x@stark.net", "status": "ENABLED", "domainId": stark}}).problem(400, "domainId")
		e.do(req{Method: "GET", Path: "/users/" + id, Token: token}).problem(404, "")
		e.do(req{Method: "DELETE", Path: "/users/" + id, Token: token}).problem(404, "")
		if r := e.do(req{Method: "GET", Path: "/users", Token: token}).expect(200); len(r.list()) != 0 {
			t.Errorf("a domain-less admin lists %s", r.Body)
		}
	})
}
