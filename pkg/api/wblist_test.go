package api_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// The doc's examples expire in May 2026, which has passed: a rule that
// expires in the past is refused (422), so the tests move every expireAt
// of an example a year ahead and compare the rest.
var future = time.Now().AddDate(1, 0, 0).UnixMilli()

func withFutureExpiry(v any) any {
	switch x := v.(type) {
	case []any:
		for _, item := range x {
			withFutureExpiry(item)
		}
	case map[string]any:
		if _, ok := x["expireAt"]; ok && x["expireAt"] != nil {
			x["expireAt"] = future
		}
	}
	return v
}

// values lists the value of each rule of a list response.
func values(r *resp) string {
	var out []string
	for _, x := range r.list() {
		out = append(out, fmt.Sprint(x["type"], " ", x["value"]))
	}
	return strings.Join(out, ", ")
}

// checkRules compares a rule list with an example: the example's fields,
// its values in order (the comparison ignores "value" elsewhere), and
// expireAt moved ahead.
func checkRules(t *testing.T, got *resp, example any) {
	t.Helper()
	list := got.list()
	want := example.([]any)
	sameAsExample(t, jsonify(list), example, "createdDate", "expireAt")
	for i := range min(len(list), len(want)) {
		w := want[i].(map[string]any)
		if list[i]["value"] != w["value"] {
			t.Errorf("[%d].value = %v, want %v", i, list[i]["value"], w["value"])
		}
		if (w["expireAt"] == nil) != (list[i]["expireAt"] == nil) || (w["expireAt"] != nil && list[i]["expireAt"] != float64(future)) {
			t.Errorf("[%d].expireAt = %v, want %v", i, list[i]["expireAt"], w["expireAt"])
		}
		if c, ok := list[i]["createdDate"].(float64); !ok || c < float64(time.Now().Add(-time.Hour).UnixMilli()) {
			t.Errorf("[%d].createdDate = %v", i, list[i]["createdDate"])
		}
	}
}

func TestDomainWblistExamples(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) {
		domain := e.newDomain("alive.net")
		path := "/domains/" + domain + "/wblist"

		r := e.do(req{Method: "POST", Path: path, Body: withFutureExpiry(requestExample(t, "/domains/{domainId}/wblist", "post"))}).expect(201)
		checkRules(t, r, withFutureExpiry(responseExample(t, "/domains/{domainId}/wblist", "post", "201")))
		if loc := r.Header.Get("Location"); loc != path {
			t.Errorf("Location %q", loc)
		}
		l := e.do(req{Method: "GET", Path: path}).expect(200)
		if got := values(l); got != "ALLOW daenerys@goodguys.fr, BLOCK baelish@badguys.fr" || l.Header.Get("X-Total-Count") != "2" {
			t.Errorf("list %s (total %s)", got, l.Header.Get("X-Total-Count"))
		}

		// PUT of the whole list replaces it.
		r = e.do(req{Method: "PUT", Path: path, Body: withFutureExpiry(requestExample(t, "/domains/{domainId}/wblist", "put"))}).expect(200)
		checkRules(t, r, withFutureExpiry(responseExample(t, "/domains/{domainId}/wblist", "put", "200")))
		l = e.do(req{Method: "GET", Path: path}).expect(200)
		if got := values(l); got != "ALLOW rickon@stark.net, BLOCK tywin.net" {
			t.Errorf("after PUT: %s", got)
		}
		rickon := l.list()[0]["id"].(string)

		// PUT of one rule replaces it and keeps its id and creation date.
		one := e.do(req{Method: "PUT", Path: path + "/" + rickon, Body: requestExample(t, "/domains/{domainId}/wblist/{wbItemId}", "put")}).expect(200).json()
		sameAsExample(t, one, responseExample(t, "/domains/{domainId}/wblist/{wbItemId}", "put", "200"), "createdDate")
		if one["id"] != rickon || one["value"] != "rickon@stark.net" || one["createdDate"] != l.list()[0]["createdDate"] {
			t.Errorf("replaced rule %v, want id %s and the old creation date", one, rickon)
		}

		e.do(req{Method: "DELETE", Path: path + "/" + rickon}).expect(204)
		e.do(req{Method: "DELETE", Path: path + "/" + rickon}).problem(404, "")
		if got := values(e.do(req{Method: "GET", Path: path}).expect(200)); got != "BLOCK tywin.net" {
			t.Errorf("after DELETE: %s", got)
		}

		// The list example: five rules, listed in the default order (owner, then id).
		want := responseExample(t, "/domains/{domainId}/wblist", "get", "200").([]any)
		var body []map[string]any
		for _, x := range want {
			m := x.(map[string]any)
			item := map[string]any{"value": m["value"], "type": m["type"]}
			for _, k := range []string{"description", "spfOn", "expireAt"} {
				if m[k] != nil {
					item[k] = m[k]
				}
			}
			body = append(body, item)
		}
		e.do(req{Method: "PUT", Path: path, Body: withFutureExpiry(jsonify(body))}).expect(200)
		checkRules(t, e.do(req{Method: "GET", Path: path}).expect(200), withFutureExpiry(want))
	})
}

func TestUserWblistExamples(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) {
		domain := e.newDomain("iswittercoming.net")
		user := e.newUser(domain, "notyet@iswittercoming.net")
		// The user is named by its id or by its address, any case.
		path := "/users/NotYet@IsWitterComing.net/wblist"

		r := e.do(req{Method: "POST", Path: path, Body: withFutureExpiry(requestExample(t, "/users/{userId}/wblist", "post"))}).expect(201)
		checkRules(t, r, withFutureExpiry(responseExample(t, "/users/{userId}/wblist", "post", "201")))
		if loc := r.Header.Get("Location"); loc != "/users/"+user+"/wblist" {
			t.Errorf("Location %q", loc)
		}

		r = e.do(req{Method: "PUT", Path: "/users/" + user + "/wblist", Body: requestExample(t, "/users/{userId}/wblist", "put")}).expect(200)
		checkRules(t, r, responseExample(t, "/users/{userId}/wblist", "put", "200"))
		rickon := r.list()[0]["id"].(string)
		one := e.do(req{Method: "PUT", Path: path + "/" + rickon, Body: requestExample(t, "/users/{userId}/wblist/{wbItemId}", "put")}).expect(200).json()
		sameAsExample(t, one, responseExample(t, "/users/{userId}/wblist/{wbItemId}", "put", "200"), "createdDate")
		if one["id"] != rickon || one["value"] != "done@stark.net" {
			t.Errorf("replaced rule %v", one)
		}
		e.do(req{Method: "DELETE", Path: path + "/" + rickon}).expect(204)
		e.do(req{Method: "DELETE", Path: path + "/" + rickon}).problem(404, "")

		// The list example: ALLOW rules created without spfOn have it false.
		want := responseExample(t, "/users/{userId}/wblist", "get", "200").([]any)
		var body []map[string]any
		for _, x := range want {
			m := x.(map[string]any)
			item := map[string]any{"value": m["value"], "type": m["type"]}
			if m["expireAt"] != nil {
				item["expireAt"] = m["expireAt"]
			}
			body = append(body, item)
		}
		e.do(req{Method: "PUT", Path: path, Body: withFutureExpiry(jsonify(body))}).expect(200)
		checkRules(t, e.do(req{Method: "GET", Path: "/users/" + user + "/wblist"}).expect(200), withFutureExpiry(want))
	})
}

func TestBulkWblistExample(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) {
		domain := e.newDomain("iswittercoming.net")
		user := e.newUser(domain, "notyet@iswittercoming.net")
		r := e.do(req{Method: "POST", Path: "/wblist", Body: withFutureExpiry(requestExample(t, "/wblist", "post"))}).expect(201)
		checkRules(t, r, withFutureExpiry(responseExample(t, "/wblist", "post", "201")))
		if loc, ok := r.Header["Location"]; ok {
			t.Errorf("Location %q for two owners, whose rules no one URL lists", loc)
		}
		if got := values(e.do(req{Method: "GET", Path: "/domains/" + domain + "/wblist"}).expect(200)); got != "ALLOW daenerys@goodguys.fr" {
			t.Errorf("domain rules: %s", got)
		}
		if got := values(e.do(req{Method: "GET", Path: "/users/" + user + "/wblist"}).expect(200)); got != "BLOCK baelish@badguys.fr" {
			t.Errorf("mailbox rules: %s", got)
		}
		// One owner: Location is its list. A domain alias names its domain.
		e.do(req{Method: "POST", Path: "/domains/" + domain + "/aliases", Body: []string{"winter.net"}}).expect(201)
		r = e.do(req{Method: "POST", Path: "/wblist", Body: []map[string]any{{"value": "jon@wall.net", "owner": "Winter.net", "type": "allow"}}}).expect(201)
		if loc := r.Header.Get("Location"); loc != "/domains/"+domain+"/wblist" {
			t.Errorf("Location %q", loc)
		}
		if got := r.list()[0]; got["owner"] != "iswittercoming.net" || got["type"] != "ALLOW" || got["spfOn"] != false {
			t.Errorf("rule via an alias: %v", got)
		}
	})
}

func TestWblistErrors(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) {
		stark := e.newDomain("stark.net")
		lannister := e.newDomain("lannister.net")
		ned := e.newUser(stark, "ned@stark.net")
		dpath, upath := "/domains/"+stark+"/wblist", "/users/"+ned+"/wblist"
		existing := e.do(req{Method: "POST", Path: dpath, Body: []map[string]any{{"value": "joffrey@lannister.net", "type": "BLOCK"}}}).expect(201).list()[0]["id"].(string)
		other := e.do(req{Method: "POST", Path: "/domains/" + lannister + "/wblist", Body: []map[string]any{{"value": "ned@stark.net", "type": "BLOCK"}}}).expect(201).list()[0]["id"].(string)
		mine := e.do(req{Method: "POST", Path: upath, Body: []map[string]any{{"value": "cersei@lannister.net", "type": "BLOCK"}}}).expect(201).list()[0]["id"].(string)
		past := time.Now().Add(-time.Minute).UnixMilli()
		for _, path := range []string{dpath, upath} {
			for _, method := range []string{"POST", "PUT"} {
				for _, tc := range []struct {
					name   string
					body   any
					status int
					want   string
				}{
					{"not an address nor a domain", []map[string]any{{"value": "joffrey", "type": "BLOCK"}}, 400, "0.value"},
					{"bad address", []map[string]any{{"value": "a@b@c.net", "type": "BLOCK"}}, 400, "value"},
					{"bad second item", []map[string]any{{"value": "ok.net", "type": "BLOCK"}, {"value": "-x-", "type": "BLOCK"}}, 400, "1.value"},
					{"bad type", []map[string]any{{"value": "ok.net", "type": "MAYBE"}}, 400, "type"},
					{"not a list", map[string]any{"value": "ok.net", "type": "BLOCK"}, 400, ""},
					{"expired", []map[string]any{{"value": "ok.net", "type": "BLOCK", "expireAt": past}}, 422, "0.expireAt"},
					{"same rule twice", []map[string]any{{"value": "Ok.net", "type": "BLOCK"}, {"value": "ok.NET", "type": "BLOCK"}}, 409, "Items 0 and 1"},
				} {
					t.Run(method+" "+path[1:6]+" "+tc.name, func(t *testing.T) {
						e.t = t
						e.do(req{Method: method, Path: path, Body: tc.body}).problem(tc.status, tc.want)
					})
				}
			}
		}
		e.t = t
		// An identical rule (any case) exists already: 409 naming it; the
		// same value with another type is another rule.
		e.do(req{Method: "POST", Path: dpath, Body: []map[string]any{{"value": "JOFFREY@lannister.net", "type": "BLOCK"}}}).problem(409, "BLOCK joffrey@lannister.net for stark.net")
		e.do(req{Method: "POST", Path: dpath, Body: []map[string]any{{"value": "joffrey@lannister.net", "type": "PROTECTED"}}}).expect(201)
		// PUT of one rule: identical to another, expired, bad, unknown.
		e.do(req{Method: "PUT", Path: dpath + "/" + existing, Body: map[string]any{"value": "joffrey@lannister.net", "type": "PROTECTED"}}).problem(409, "PROTECTED joffrey@lannister.net")
		e.do(req{Method: "PUT", Path: dpath + "/" + existing, Body: map[string]any{"value": "x.net", "type": "BLOCK", "expireAt": past}}).problem(422, "expireAt")
		e.do(req{Method: "PUT", Path: dpath + "/" + existing, Body: map[string]any{"value": "x", "type": "BLOCK"}}).problem(400, "value")
		e.do(req{Method: "PUT", Path: dpath + "/" + existing, Body: map[string]any{"value": "joffrey@lannister.net", "type": "BLOCK"}}).expect(200)
		for _, path := range []string{
			dpath + "/" + other, // another domain's rule
			dpath + "/" + mine,  // the mailbox's rule, not the domain's
			upath + "/" + existing,
			dpath + "/zzzzzzz",
			"/domains/zzzzzzz/wblist/" + existing,
		} {
			e.do(req{Method: "PUT", Path: path, Body: map[string]any{"value": "x.net", "type": "BLOCK"}}).problem(404, "")
			e.do(req{Method: "DELETE", Path: path}).problem(404, "")
		}
		for _, method := range []string{"GET", "POST", "PUT"} {
			body := any(nil)
			if method != "GET" {
				body = []map[string]any{}
			}
			e.do(req{Method: method, Path: "/domains/zzzzzzz/wblist", Body: body}).problem(404, "")
			e.do(req{Method: method, Path: "/users/nobody@stark.net/wblist", Body: body}).problem(404, "Unknown user")
		}
		e.do(req{Method: "GET", Path: dpath + "?sort=color"}).problem(400, "sort")
		e.do(req{Method: "GET", Path: dpath + "?type=MAYBE"}).problem(400, "type")

		// Bulk: a bad owner, an unknown owner, an identical rule; nothing
		// is stored when any item fails.
		before := values(e.do(req{Method: "GET", Path: dpath}).expect(200))
		ok := map[string]any{"value": "tyrion@lannister.net", "owner": "stark.net", "type": "ALLOW"}
		for _, tc := range []struct {
			item   map[string]any
			status int
			want   string
		}{
			{map[string]any{"value": "x.net", "owner": "not a name", "type": "BLOCK"}, 400, "1.owner"},
			{map[string]any{"value": "x.net", "owner": "stark.net", "type": "BLOCK", "expireAt": past}, 422, "1.expireAt"},
			{map[string]any{"value": "x.net", "owner": "winterfell.net", "type": "BLOCK"}, 422, "no domain or mailbox is named"},
			{map[string]any{"value": "x.net", "owner": "arya@stark.net", "type": "BLOCK"}, 422, "1.owner"},
			{map[string]any{"value": "joffrey@lannister.net", "owner": "STARK.net", "type": "BLOCK"}, 409, "identical rule"},
			{map[string]any{"value": "Tyrion@lannister.net", "owner": "stark.net", "type": "ALLOW"}, 409, "Items 0 and 1"},
		} {
			e.do(req{Method: "POST", Path: "/wblist", Body: []map[string]any{ok, tc.item}}).problem(tc.status, tc.want)
		}
		if after := values(e.do(req{Method: "GET", Path: dpath}).expect(200)); after != before {
			t.Errorf("a failed bulk request changed the list: %s, was %s", after, before)
		}

		// An administrator without FILTER_EDIT on an owner: 403 for the
		// bulk request and for the owner's own operations; nothing stored.
		_, plain := e.domainAdmin(stark, "bran", "DOMAIN_READ")
		e.do(req{Method: "POST", Path: "/wblist", Token: plain, Body: []map[string]any{ok}}).problem(403, "FILTER_EDIT")
		e.do(req{Method: "POST", Path: "/wblist", Token: plain, Body: []map[string]any{{"value": "x.net", "owner": "ned@stark.net", "type": "BLOCK"}}}).problem(403, "FILTER_EDIT")
		e.do(req{Method: "POST", Path: dpath, Token: plain, Body: []map[string]any{{"value": "x.net", "type": "BLOCK"}}}).problem(403, "")
		e.do(req{Method: "GET", Path: upath, Token: plain}).problem(403, "")
		e.do(req{Method: "GET", Path: upath + "/decision?sender=a@b.net", Token: plain}).problem(403, "")
		if after := values(e.do(req{Method: "GET", Path: dpath}).expect(200)); after != before {
			t.Errorf("a refused request changed the list: %s, was %s", after, before)
		}
	})
}

// TestWblistAtomicity checks that PUT and POST are all or nothing, also
// when the database itself refuses an item (the unique key), not only the
// validation before it.
func TestWblistAtomicity(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) {
		stark := e.newDomain("stark.net")
		ned := e.newUser(stark, "ned@stark.net")
		for _, path := range []string{"/domains/" + stark + "/wblist", "/users/" + ned + "/wblist"} {
			e.do(req{Method: "PUT", Path: path, Body: []map[string]any{{"value": "a.net", "type": "BLOCK"}, {"value": "b@c.net", "type": "ALLOW", "spfOn": true}}}).expect(200)
			before := values(e.do(req{Method: "GET", Path: path}).expect(200))
			// PUT with a bad last item leaves the stored list as it was.
			e.do(req{Method: "PUT", Path: path, Body: []map[string]any{{"value": "new.net", "type": "BLOCK"}, {"value": "bad value", "type": "BLOCK"}}}).problem(400, "1.value")
			e.do(req{Method: "PUT", Path: path, Body: []map[string]any{{"value": "new.net", "type": "BLOCK"}, {"value": "old.net", "type": "BLOCK", "expireAt": 1}}}).problem(422, "1.expireAt")
			// POST whose second item is identical to a stored rule: the
			// database refuses it after the first was inserted.
			e.do(req{Method: "POST", Path: path, Body: []map[string]any{{"value": "new.net", "type": "BLOCK"}, {"value": "A.net", "type": "BLOCK"}}}).problem(409, "BLOCK a.net")
			if after := values(e.do(req{Method: "GET", Path: path}).expect(200)); after != before {
				t.Errorf("%s: a failed request changed the list: %s, was %s", path, after, before)
			}
		}
		// The bulk endpoint across owners: the domain's rule would be new,
		// the mailbox's is identical to a stored one.
		e.do(req{Method: "POST", Path: "/wblist", Body: []map[string]any{
			{"value": "new.net", "owner": "stark.net", "type": "BLOCK"},
			{"value": "a.net", "owner": "ned@stark.net", "type": "BLOCK"},
		}}).problem(409, "BLOCK a.net for ned@stark.net")
		if got := values(e.do(req{Method: "GET", Path: "/domains/" + stark + "/wblist?value=new.net"}).expect(200)); got != "" {
			t.Errorf("bulk request stored %s", got)
		}
	})
}

func TestWblistListsAndExpiry(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) {
		stark := e.newDomain("stark.net")
		path := "/domains/" + stark + "/wblist"
		rules := e.do(req{Method: "PUT", Path: path, Body: []map[string]any{
			{"value": "daenerys@goodguys.fr", "type": "ALLOW", "spfOn": true},
			{"value": "baelish@badguys.fr", "type": "BLOCK", "expireAt": future},
			{"value": "arya@goodguys.fr", "type": "ALLOW"},
			{"value": "deadguys.fr", "type": "BLOCK", "expireAt": future + 1},
			{"value": "joffrey@badguys.fr", "type": "PROTECTED", "spfOn": true},
		}}).expect(200).list()
		if rules[4]["spfOn"] != nil || rules[1]["spfOn"] != nil || rules[2]["spfOn"] != false {
			t.Errorf("spfOn is kept for ALLOW rules only: %v", rules)
		}
		for _, tc := range []struct{ query, want, total string }{
			{"", "ALLOW daenerys@goodguys.fr, BLOCK baelish@badguys.fr, ALLOW arya@goodguys.fr, BLOCK deadguys.fr, PROTECTED joffrey@badguys.fr", "5"},
			{"?type=block", "BLOCK baelish@badguys.fr, BLOCK deadguys.fr", "2"},
			{"?value=*@goodguys.fr", "ALLOW daenerys@goodguys.fr, ALLOW arya@goodguys.fr", "2"},
			{"?value=DEADGUYS.fr", "BLOCK deadguys.fr", "1"},
			{"?value=*guys.fr&type=ALLOW&sort=-value", "ALLOW daenerys@goodguys.fr, ALLOW arya@goodguys.fr", "2"},
			{"?sort=value&pageSize=2&offset=1", "BLOCK baelish@badguys.fr, ALLOW daenerys@goodguys.fr", "5"},
			{"?sort=expireAt&pageSize=3", "BLOCK baelish@badguys.fr, BLOCK deadguys.fr, ALLOW daenerys@goodguys.fr", "5"},
			{"?sort=-type&pageSize=1", "PROTECTED joffrey@badguys.fr", "5"},
			{"?sort=-id&pageSize=1", "PROTECTED joffrey@badguys.fr", "5"},
			{"?sort=createdDate&pageSize=1", "ALLOW daenerys@goodguys.fr", "5"},
		} {
			l := e.do(req{Method: "GET", Path: path + tc.query}).expect(200)
			if got := values(l); got != tc.want || l.Header.Get("X-Total-Count") != tc.total {
				t.Errorf("GET %s: %s (total %s), want %s (total %s)", tc.query, got, l.Header.Get("X-Total-Count"), tc.want, tc.total)
			}
		}

		// Expiry: a rule whose date has passed no longer counts, no longer
		// appears, cannot be changed, and does not stand in the way of a
		// new identical rule.
		sqlDB, _ := e.store.SQL()
		if _, err := sqlDB.Exec(fmt.Sprintf("UPDATE wblist_rules SET expire_at = %d WHERE value = 'baelish@badguys.fr'", time.Now().Add(-time.Second).UnixMilli())); err != nil {
			t.Fatal(err)
		}
		l := e.do(req{Method: "GET", Path: path + "?type=BLOCK"}).expect(200)
		if got := values(l); got != "BLOCK deadguys.fr" || l.Header.Get("X-Total-Count") != "1" {
			t.Errorf("expired rule listed: %s (total %s)", got, l.Header.Get("X-Total-Count"))
		}
		baelish := rules[1]["id"].(string)
		e.do(req{Method: "PUT", Path: path + "/" + baelish, Body: map[string]any{"value": "x.net", "type": "BLOCK"}}).problem(404, "")
		e.do(req{Method: "DELETE", Path: path + "/" + baelish}).problem(404, "")
		e.do(req{Method: "POST", Path: path, Body: []map[string]any{{"value": "baelish@badguys.fr", "type": "BLOCK"}}}).expect(201)
		if n, err := e.store.PurgeExpiredWblistRules(context.Background(), time.Now().UnixMilli()); err != nil || n != 0 {
			t.Errorf("purge: %d, %v (the write purged the owner's expired rules already)", n, err)
		}
		if _, err := sqlDB.Exec("UPDATE wblist_rules SET expire_at = 1 WHERE value = 'deadguys.fr'"); err != nil {
			t.Fatal(err)
		}
		if n, err := e.store.PurgeExpiredWblistRules(context.Background(), time.Now().UnixMilli()); err != nil || n != 1 {
			t.Errorf("purge: %d, %v, want 1", n, err)
		}
	})
}

// TestWblistCascades checks that a mailbox's rules go with it, and a
// domain's (with its mailboxes') when it is purged.
func TestWblistCascades(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) {
		stark := e.newDomain("stark.net")
		ned := e.newUser(stark, "ned@stark.net")
		e.newUser(stark, "arya@stark.net")
		e.do(req{Method: "POST", Path: "/wblist", Body: []map[string]any{
			{"value": "a.net", "owner": "stark.net", "type": "BLOCK"},
			{"value": "a.net", "owner": "ned@stark.net", "type": "BLOCK"},
			{"value": "a.net", "owner": "arya@stark.net", "type": "BLOCK"},
		}}).expect(201)
		e.do(req{Method: "POST", Path: "/domains/" + stark + "/filters/attachments", Body: map[string]any{"action": "DENY", "checkType": "FILENAME", "filter": `\.exe$`}}).expect(201)
		e.do(req{Method: "POST", Path: "/domains/" + stark + "/filters/uris", Body: map[string]any{"action": "BLACKLIST_URI_HOST", "filter": "bad.example"}}).expect(201)
		sqlDB, _ := e.store.SQL()
		count := func(table string) (n int) {
			if err := sqlDB.QueryRow("SELECT COUNT(*) FROM " + table).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		e.do(req{Method: "DELETE", Path: "/users/" + ned}).expect(204)
		if n := count("wblist_rules"); n != 2 {
			t.Errorf("%d rules after deleting a user, want 2", n)
		}
		e.do(req{Method: "DELETE", Path: "/domains/" + stark}).expect(204)
		if _, err := e.store.PurgeDomains(context.Background(), time.Now().Add(365*24*time.Hour).UnixMilli()); err != nil {
			t.Fatal(err)
		}
		for _, table := range []string{"wblist_rules", "attachment_filters", "uri_filters"} {
			if n := count(table); n != 0 {
				t.Errorf("%d rows left in %s after the domain's purge", n, table)
			}
		}
	})
}

func TestWblistDecision(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) {
		stark := e.newDomain("stark.net")
		ned := e.newUser(stark, "ned@stark.net")
		e.newUser(stark, "arya@stark.net")
		e.do(req{Method: "PUT", Path: "/domains/" + stark + "/wblist", Body: []map[string]any{
			{"value": "lannister.net", "type": "BLOCK"},
			{"value": "tyrion@lannister.net", "type": "ALLOW"},
			{"value": "frey.net", "type": "ALLOW"},
			{"value": "walder@frey.net", "type": "PROTECTED"},
			{"value": "both.net", "type": "ALLOW"},
			{"value": "both.net", "type": "BLOCK"},
			{"value": "old.net", "type": "BLOCK", "expireAt": future},
		}}).expect(200)
		e.do(req{Method: "PUT", Path: "/users/" + ned + "/wblist", Body: []map[string]any{
			{"value": "jaime@lannister.net", "type": "ALLOW"},
			{"value": "frey.net", "type": "BLOCK"},
			{"value": "tyrion@lannister.net", "type": "ALLOW"},
		}}).expect(200)
		sqlDB, _ := e.store.SQL()
		if _, err := sqlDB.Exec("UPDATE wblist_rules SET expire_at = 1 WHERE value = 'old.net'"); err != nil {
			t.Fatal(err)
		}
		type want struct{ decision, owner, value string }
		for _, priority := range []string{"USER", "DOMAIN"} {
			e.do(req{Method: "PATCH", Path: "/domains/" + stark, Body: map[string]any{"wblistPriority": priority}}).expect(204)
			for _, tc := range []struct {
				user, sender string
				user1, dom1  want // under USER, under DOMAIN
			}{
				// The domain's domain rule matches any address of the domain and its subdomains.
				{"ned@stark.net", "cersei@lannister.net", want{"BLOCK", "stark.net", "lannister.net"}, want{"BLOCK", "stark.net", "lannister.net"}},
				{"ned@stark.net", "spy@mail.lannister.net", want{"BLOCK", "stark.net", "lannister.net"}, want{"BLOCK", "stark.net", "lannister.net"}},
				{"ned@stark.net", "lannister.net", want{"BLOCK", "stark.net", "lannister.net"}, want{"BLOCK", "stark.net", "lannister.net"}},
				// An address rule is more specific than a domain rule of the same owner.
				{"arya@stark.net", "Tyrion@Lannister.net", want{"ALLOW", "stark.net", "tyrion@lannister.net"}, want{"ALLOW", "stark.net", "tyrion@lannister.net"}},
				// Mailbox and domain disagree: the priority decides, however specific the loser.
				{"ned@stark.net", "jaime@lannister.net", want{"ALLOW", "ned@stark.net", "jaime@lannister.net"}, want{"BLOCK", "stark.net", "lannister.net"}},
				{"ned@stark.net", "walder@frey.net", want{"BLOCK", "ned@stark.net", "frey.net"}, want{"ALLOW", "stark.net", "frey.net"}},
				// They agree: the priority side's rule is reported.
				{"ned@stark.net", "tyrion@lannister.net", want{"ALLOW", "ned@stark.net", "tyrion@lannister.net"}, want{"ALLOW", "stark.net", "tyrion@lannister.net"}},
				// Only the domain decides for arya.
				{"arya@stark.net", "walder@frey.net", want{"ALLOW", "stark.net", "frey.net"}, want{"ALLOW", "stark.net", "frey.net"}},
				// ALLOW and BLOCK on one value: BLOCK.
				{"arya@stark.net", "x@both.net", want{"BLOCK", "stark.net", "both.net"}, want{"BLOCK", "stark.net", "both.net"}},
				// Expired rules and unrelated senders: no decision.
				{"arya@stark.net", "x@old.net", want{"NONE", "", ""}, want{"NONE", "", ""}},
				{"arya@stark.net", "x@notlannister.net", want{"NONE", "", ""}, want{"NONE", "", ""}},
			} {
				w := tc.user1
				if priority == "DOMAIN" {
					w = tc.dom1
				}
				d := e.do(req{Method: "GET", Path: "/users/" + tc.user + "/wblist/decision?sender=" + tc.sender}).expect(200).json()
				rule, _ := d["rule"].(map[string]any)
				got := want{fmt.Sprint(d["decision"]), "", ""}
				if rule != nil {
					got.owner, got.value = fmt.Sprint(rule["owner"]), fmt.Sprint(rule["value"])
				}
				if got != w || d["reason"] == "" {
					t.Errorf("%s: %s for %s: %v (%v), want %v", priority, tc.sender, tc.user, got, d["reason"], w)
				}
			}
		}
		d := e.do(req{Method: "GET", Path: "/users/" + ned + "/wblist/decision?sender=jaime@lannister.net"}).expect(200).json()
		if r := fmt.Sprint(d["reason"]); !strings.Contains(r, "overrules the mailbox rule ALLOW jaime@lannister.net") || !strings.Contains(r, "wblistPriority DOMAIN") {
			t.Errorf("reason: %s", r)
		}
		e.do(req{Method: "GET", Path: "/users/" + ned + "/wblist/decision?sender=not%20a%20sender"}).problem(400, "sender")
		e.do(req{Method: "GET", Path: "/users/" + ned + "/wblist/decision"}).problem(400, "sender")
		e.do(req{Method: "GET", Path: "/users/nobody@stark.net/wblist/decision?sender=a@b.net"}).problem(404, "")
	})
}
