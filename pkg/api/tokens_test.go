package api_test

import (
	"context"
	"fmt"
	"regexp"
	"testing"
	"time"

	"github.com/cleanmail/cleanmail/db"
)

func (e *env) adminID(login string) string {
	e.t.Helper()
	a, err := e.store.GetAdminByLogin(context.Background(), login)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.ids.Encode(a.ID)
}

func TestTokens(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) {
		admin := e.adminID("admin")
		path := "/admins/" + admin + "/tokens"
		r := e.do(req{Method: "POST", Path: path, Body: requestExample(t, "/admins/{adminId}/tokens", "post")}).expect(201)
		tok := r.json()
		sameAsExample(t, tok, responseExample(t, "/admins/{adminId}/tokens", "post", "201"))
		value, _ := tok["value"].(string)
		if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(value) {
			t.Fatalf("token value %q, want 32 hex characters", value)
		}
		// The new token works, and its use is recorded.
		e.do(req{Method: "GET", Path: "/domains", Token: value}).expect(200)
		list := e.do(req{Method: "POST", Path: path, Body: map[string]any{"name": "mytoken2"}}).expect(201)
		_ = list
		l := e.do(req{Method: "GET", Path: path}).expect(200)
		tokens := l.list()
		if len(tokens) != 3 || l.Header.Get("X-Total-Count") != "3" {
			t.Fatalf("%d tokens (total %s), want 3 (bootstrap, mytoken, mytoken2)", len(tokens), l.Header.Get("X-Total-Count"))
		}
		for _, x := range tokens {
			if _, ok := x["value"]; ok {
				t.Errorf("a listed token shows its value: %v", x)
			}
			if x["name"] == "mytoken" && x["lastUse"] == nil {
				t.Errorf("mytoken was used but has no lastUse: %v", x)
			}
			if x["name"] == "mytoken2" && x["expiration"] != nil {
				t.Errorf("mytoken2 has no expiration but shows %v", x["expiration"])
			}
		}

		e.do(req{Method: "DELETE", Path: path + "/" + tok["id"].(string)}).expect(204)
		e.do(req{Method: "GET", Path: "/domains", Token: value}).problem(401, "")
		e.do(req{Method: "DELETE", Path: path + "/" + tok["id"].(string)}).problem(404, "")

		e.do(req{Method: "POST", Path: path, Body: map[string]any{"name": "old", "expiration": time.Now().Add(-time.Hour).UnixMilli()}}).problem(400, "expiration")
		e.do(req{Method: "POST", Path: path, Body: map[string]any{"expiration": 1}}).problem(400, "name")
		e.do(req{Method: "POST", Path: "/admins/zzzzzz/tokens", Body: map[string]any{"name": "x"}}).problem(404, "")
		e.do(req{Method: "GET", Path: "/admins/zzzzzz/tokens"}).problem(404, "")
	})
}

func TestTokensOnlySelfOrSysadmin(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) {
		ned := e.plainAdmin("ned")
		e.plainAdmin("cat")
		nedID, catID, admin := e.adminID("ned"), e.adminID("cat"), e.adminID("admin")
		// Itself: yes.
		created := e.do(req{Method: "POST", Path: "/admins/" + nedID + "/tokens", Token: ned, Body: map[string]any{"name": "mine"}}).expect(201).json()
		e.do(req{Method: "GET", Path: "/admins/" + nedID + "/tokens", Token: ned}).expect(200)
		// Another admin's tokens, even the sysadmin's: no.
		for _, other := range []string{catID, admin, "zzzzzz"} {
			e.do(req{Method: "GET", Path: "/admins/" + other + "/tokens", Token: ned}).problem(403, "Only sysadmin or target user")
			e.do(req{Method: "POST", Path: "/admins/" + other + "/tokens", Token: ned, Body: map[string]any{"name": "x"}}).problem(403, "")
			e.do(req{Method: "DELETE", Path: "/admins/" + other + "/tokens/" + created["id"].(string), Token: ned}).problem(403, "")
		}
		// The sysadmin: yes, for anyone.
		e.do(req{Method: "GET", Path: "/admins/" + nedID + "/tokens"}).expect(200)
		e.do(req{Method: "DELETE", Path: "/admins/" + nedID + "/tokens/" + created["id"].(string)}).expect(204)
	})
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		past := time.Now().Add(-time.Minute).UnixMilli()
		expired := db.NewTokenValue()
		a, _ := e.store.GetAdminByLogin(ctx, "admin")
		if err := e.store.CreateToken(ctx, &db.PersonalToken{AdminID: a.ID, Name: "expired", Expiration: &past}, expired); err != nil {
			t.Fatal(err)
		}
		for name, token := range map[string]string{
			"none":    "-",
			"unknown": "ffffffffffffffffffffffffffffffff",
			"expired": expired,
			"garbage": "not a token at all",
		} {
			r := e.do(req{Method: "GET", Path: "/domains", Token: token})
			r.problem(401, "")
			if r.Header.Get("WWW-Authenticate") == "" {
				t.Errorf("%s: 401 without WWW-Authenticate", name)
			}
		}
		// Basic instead of Bearer.
		e.do(req{Method: "GET", Path: "/domains", Token: "-", Header: map[string]string{"Authorization": "Basic YWRtaW46YWRtaW4="}}).problem(401, "")

		// A disabled account's tokens stop at once.
		ned := e.plainAdmin("ned")
		e.do(req{Method: "GET", Path: "/domains", Token: ned}).expect(200)
		sqlDB, _ := e.store.SQL()
		if _, err := sqlDB.Exec("UPDATE admins SET enabled = FALSE WHERE login = 'ned'"); err != nil {
			t.Fatal(err)
		}
		e.do(req{Method: "GET", Path: "/domains", Token: ned}).problem(401, "")
	})
}

func TestAdminsReadSide(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) {
		e.plainAdmin("ned.stark")
		l := e.do(req{Method: "GET", Path: "/security/admins"}).expect(200)
		if len(l.list()) != 2 || l.list()[0]["login"] != "admin" || l.Header.Get("X-Total-Count") != "2" {
			t.Errorf("admins: %s", l.Body)
		}
		s := e.do(req{Method: "GET", Path: "/security/admins?search=*stark*"}).expect(200).list()
		if len(s) != 1 || s[0]["login"] != "ned.stark" {
			t.Errorf("search=*stark*: %v", s)
		}
		if l := e.do(req{Method: "GET", Path: "/security/admins?sort=-login"}).expect(200).list(); l[0]["login"] != "ned.stark" {
			t.Errorf("sort=-login: first is %v", l[0]["login"])
		}
		admin := e.adminID("admin")
		a := e.do(req{Method: "GET", Path: "/security/admins/" + admin}).expect(200).json()
		if a["login"] != "admin" || a["sysAdmin"] != true || a["id"] != admin {
			t.Errorf("admin: %v", a)
		}
		e.do(req{Method: "GET", Path: "/security/admins/zzzzzz"}).problem(404, "")
		e.do(req{Method: "GET", Path: "/security/admins?sort=password"}).problem(400, "sort")
	})
}

// An account holds at most 100 personal tokens, so that their list (which
// has no paging) stays bounded: the 101st is a 422.
func TestTokensPerAccountAreCapped(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) { tokensCapped(t, e) })
}

func tokensCapped(t *testing.T, e *env) {
	stark := e.newDomain("stark.net")
	id, _ := e.domainAdmin(stark, "ned", "DOMAIN_READ") // its first token
	for i := 1; i < db.MaxTokens; i++ {
		e.do(req{Method: "POST", Path: "/admins/" + id + "/tokens", Body: map[string]any{"name": fmt.Sprint(i)}}).expect(201)
	}
	e.do(req{Method: "POST", Path: "/admins/" + id + "/tokens", Body: map[string]any{"name": "extra"}}).problem(422, "at most 100")
	if n := len(e.do(req{Method: "GET", Path: "/admins/" + id + "/tokens"}).expect(200).list()); n != db.MaxTokens {
		t.Errorf("%d tokens listed, want %d", n, db.MaxTokens)
	}
}
