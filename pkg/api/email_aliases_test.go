package api_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cleanmail/cleanmail/db"
)

// The users API lands in its own branch; these tests store mailboxes
// directly, as that API will: the user row and its reserved address.

// sql runs a statement written with ? placeholders on the env's database.
func (e *env) sql(query string, args ...any) {
	e.t.Helper()
	sqlDB, err := e.store.SQL()
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := sqlDB.Exec(e.placeholders(query), args...); err != nil {
		e.t.Fatalf("%v\n%s", err, query)
	}
}

// queryInt runs a query of one integer written with ? placeholders.
func (e *env) queryInt(query string, args ...any) int {
	e.t.Helper()
	sqlDB, err := e.store.SQL()
	if err != nil {
		e.t.Fatal(err)
	}
	var n int
	if err := sqlDB.QueryRow(e.placeholders(query), args...).Scan(&n); err != nil {
		e.t.Fatalf("%v\n%s", err, query)
	}
	return n
}

// placeholders numbers the ? of query for PostgreSQL ($1, $2, …).
func (e *env) placeholders(query string) string {
	if e.store.Dialect() != db.Postgres {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// insertUser stores a mailbox of the domain (names may be empty) and
// returns its database key.
func (e *env) insertUser(domainID, email, firstname, lastname string) int64 {
	e.t.Helper()
	key := e.key(domainID)
	e.sql("INSERT INTO mail_addresses (address, domain_id) VALUES (?, ?)", email, key)
	e.sql(`INSERT INTO users (domain_id, email, firstname, lastname, status, language, sender_verify_on, creation_date)
		VALUES (?, ?, NULLIF(?, ''), NULLIF(?, ''), 'ENABLED', 'EN', TRUE, ?)`, key, email, firstname, lastname, time.Now().UnixMilli())
	return int64(e.queryInt("SELECT id FROM users WHERE email = ?", email))
}

func (e *env) key(id string) int64 {
	e.t.Helper()
	k, ok := e.ids.Decode(id)
	if !ok {
		e.t.Fatalf("id %q does not decode", id)
	}
	return k
}

// newEmailAlias creates an alias of the domain and returns its id.
func (e *env) newEmailAlias(domainID, email string, recipients ...string) string {
	e.t.Helper()
	body := map[string]any{"email": email}
	if len(recipients) > 0 {
		body["recipients"] = recipients
	}
	return e.do(req{Method: "POST", Path: "/domains/" + domainID + "/groups", Body: body}).expect(201).json()["id"].(string)
}

// recipients lists an alias's recipients as "email:TYPE" strings, in order.
func recipients(alias map[string]any) string {
	var out []string
	for _, x := range alias["recipients"].([]any) {
		r := x.(map[string]any)
		out = append(out, fmt.Sprintf("%s:%s", r["email"], r["type"]))
	}
	return strings.Join(out, " ")
}

func aliasEmails(r *resp) string {
	var out []string
	for _, a := range r.list() {
		out = append(out, a["email"].(string))
	}
	return strings.Join(out, " ")
}

func TestEmailAliasExamples(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) {
		const (
			groups    = "/domains/{domainId}/groups"
			group     = "/domains/{domainId}/groups/{groupId}"
			addresses = "/domains/{domainId}/groups/{groupId}/addresses"
		)
		// New email alias: children@stark.net, no recipients.
		stark := e.newDomain("stark.net")
		r := e.do(req{Method: "POST", Path: "/domains/" + stark + "/groups", Body: requestExample(t, groups, "post")}).expect(201)
		created := r.json()
		sameAsExample(t, created, responseExample(t, groups, "post", "201"))
		if loc, want := r.Header.Get("Location"), "/domains/"+stark+"/groups/"+created["id"].(string); loc != want {
			t.Errorf("Location %q, want %q", loc, want)
		}

		// Add addresses: joffrey and ramsay, mailboxes of got.net, not named yet.
		got := e.newDomain("got.net")
		joffrey := e.insertUser(got, "joffrey@got.net", "", "")
		ramsay := e.insertUser(got, "ramsay@got.net", "", "")
		gregor := e.insertUser(got, "themontain@got.net", "", "")
		badguys := e.newEmailAlias(got, "badguys@got.net")
		e.newEmailAlias(got, "goodguys@got.net", "ned@stark.net")
		path := "/domains/" + got + "/groups/" + badguys
		r = e.do(req{Method: "POST", Path: path + "/addresses", Body: requestExample(t, addresses, "post")}).expect(201)
		sameAsExample(t, r.json(), responseExample(t, addresses, "post", "201"))
		if loc := r.Header.Get("Location"); loc != path {
			t.Errorf("Location %q, want %q", loc, e.srv.URL+path)
		}

		// List email aliases of a domain, by recipient (the doc's example
		// says address=, a parameter the doc does not declare).
		l := e.do(req{Method: "GET", Path: "/domains/" + got + "/groups?recipient=ramsay@got.net"}).expect(200)
		sameAsExample(t, jsonify(l.list()), responseExample(t, groups, "get", "200"))
		if l.Header.Get("X-Total-Count") != "1" {
			t.Errorf("X-Total-Count %q, want 1", l.Header.Get("X-Total-Count"))
		}

		// Get: three named mailboxes.
		e.sql("UPDATE users SET firstname = 'Joffrey', lastname = 'Baratheon' WHERE id = ?", joffrey)
		e.sql("UPDATE users SET firstname = 'Ramsay', lastname = 'Bolton' WHERE id = ?", ramsay)
		e.sql("UPDATE users SET firstname = 'Gregor', lastname = 'Clegane' WHERE id = ?", gregor)
		e.do(req{Method: "POST", Path: path + "/addresses", Body: []string{"themontain@got.net"}}).expect(201)
		before := e.do(req{Method: "GET", Path: path}).expect(200).json()
		sameAsExample(t, before, responseExample(t, group, "get", "200"))

		// Edit: a new address, and the recipients replaced (kept ones keep
		// their id).
		e.do(req{Method: "PATCH", Path: path, Body: requestExample(t, group, "patch")}).expect(204)
		after := e.do(req{Method: "GET", Path: path}).expect(200).json()
		if after["email"] != "deadguys@got.net" || recipients(after) != "joffrey@got.net:USER ramsay@got.net:USER" {
			t.Errorf("after PATCH: %v %s", after["email"], recipients(after))
		}
		ids := func(a map[string]any) string {
			var out []string
			for _, x := range a["recipients"].([]any) {
				out = append(out, x.(map[string]any)["id"].(string))
			}
			return strings.Join(out, " ")
		}
		if b, a := ids(before), ids(after); !strings.HasPrefix(b, a) {
			t.Errorf("recipient ids %s became %s", b, a)
		}
		// The old address is free again.
		e.newEmailAlias(got, "badguys@got.net")

		// Delete a recipient, by the id the alias lists it with.
		rid := after["recipients"].([]any)[0].(map[string]any)["id"].(string)
		e.do(req{Method: "DELETE", Path: path + "/addresses/" + rid}).expect(204)
		e.do(req{Method: "DELETE", Path: path + "/addresses/" + rid}).problem(404, "")
		if a := e.do(req{Method: "GET", Path: path}).expect(200).json(); recipients(a) != "ramsay@got.net:USER" {
			t.Errorf("after DELETE of a recipient: %s", recipients(a))
		}

		// Delete the alias: 204, then 404, and its address is free.
		e.do(req{Method: "DELETE", Path: "/groups/" + badguys}).expect(204)
		e.do(req{Method: "GET", Path: path}).problem(404, "")
		e.do(req{Method: "DELETE", Path: "/groups/" + badguys}).problem(404, "")
		e.newEmailAlias(got, "deadguys@got.net")
	})
}

func TestEmailAliasRecipientTypes(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) {
		got := e.newDomain("got.net")
		stark := e.newDomain("stark.net")
		e.insertUser(got, "joffrey@got.net", "Joffrey", "Baratheon")
		e.insertUser(stark, "ned@stark.net", "Eddard", "Stark")
		e.newEmailAlias(stark, "children@stark.net")

		// A mailbox of this domain is a USER (with its names), an alias of
		// any domain an ALIAS, a mailbox of another domain or any other
		// address an EXTERNAL_ADDRESS. Addresses are stored lower case.
		id := e.newEmailAlias(got, "Crew@GOT.net", "Joffrey@got.NET", "children@stark.net", "ned@stark.net", "someone@example.com")
		a := e.do(req{Method: "GET", Path: "/domains/" + got + "/groups/" + id}).expect(200).json()
		want := "children@stark.net:ALIAS joffrey@got.net:USER ned@stark.net:EXTERNAL_ADDRESS someone@example.com:EXTERNAL_ADDRESS"
		if a["email"] != "crew@got.net" || recipients(a) != want {
			t.Errorf("alias %v: %s, want %s", a["email"], recipients(a), want)
		}
		for _, x := range a["recipients"].([]any) {
			r := x.(map[string]any)
			names := fmt.Sprint(r["firstname"], " ", r["lastname"])
			if (r["type"] == "USER") != (names == "Joffrey Baratheon") || (r["type"] != "USER" && names != "<nil> <nil>") {
				t.Errorf("recipient %v: names %s", r["email"], names)
			}
		}

		// Adding is idempotent: listed addresses and repeats are ignored.
		add := e.do(req{Method: "POST", Path: "/domains/" + got + "/groups/" + id + "/addresses",
			Body: []string{"JOFFREY@got.net", "new@example.com", "new@example.com"}}).expect(201).json()
		if got := recipients(add); got != strings.Replace(want, "someone", "new@example.com:EXTERNAL_ADDRESS someone", 1) {
			t.Errorf("after adding: %s", got)
		}

		// An alias can use the domain's aliases; no other domain.
		e.do(req{Method: "POST", Path: "/domains/" + got + "/aliases", Body: []string{"gotalias.net"}}).expect(201)
		e.newEmailAlias(got, "crew@gotalias.net")
		e.do(req{Method: "POST", Path: "/domains/" + got + "/groups", Body: map[string]any{"email": "crew@stark.net"}}).problem(400, "email")
		e.do(req{Method: "POST", Path: "/domains/" + got + "/groups", Body: map[string]any{"email": "crew@elsewhere.net"}}).problem(400, "email")
		e.do(req{Method: "PATCH", Path: "/domains/" + got + "/groups/" + id, Body: map[string]any{"email": "crew@stark.net"}}).problem(400, "email")

		// Invalid addresses name their field.
		for _, bad := range []string{"", "crew", "@got.net", "crew@", "crew@got", "cr ew@got.net", "a..b@got.net", "Crew <crew@got.net>", "crew@-got.net"} {
			e.do(req{Method: "POST", Path: "/domains/" + got + "/groups", Body: map[string]any{"email": bad}}).problem(400, "email")
		}
		e.do(req{Method: "POST", Path: "/domains/" + got + "/groups", Body: map[string]any{"email": "x@got.net", "recipients": []string{"a@b.net", "nope"}}}).
			problem(400, "recipients.1")
		e.do(req{Method: "PATCH", Path: "/domains/" + got + "/groups/" + id, Body: map[string]any{"recipients": []string{"nope@"}}}).
			problem(400, "recipients.0")
		e.do(req{Method: "POST", Path: "/domains/" + got + "/groups/" + id + "/addresses", Body: []string{"a@b.net", "c@d.net", "@"}}).
			problem(400, "2")
		e.do(req{Method: "POST", Path: "/domains/" + got + "/groups", Body: map[string]any{"recipients": []string{}}}).problem(400, "email")
		e.do(req{Method: "POST", Path: "/domains/" + got + "/groups/" + id + "/addresses", Body: map[string]any{"email": "x@y.net"}}).problem(400, "")
		if a := e.do(req{Method: "GET", Path: "/domains/" + got + "/groups/" + id}).expect(200).json(); recipients(a) != recipients(add) {
			t.Errorf("refused requests changed the alias: %s", recipients(a))
		}
		if n := e.queryInt("SELECT COUNT(*) FROM email_aliases WHERE email = 'x@got.net'"); n != 0 {
			t.Errorf("a refused creation stored the alias")
		}
	})
}

func TestEmailAliasConflictsAndNotFound(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) {
		got := e.newDomain("got.net")
		stark := e.newDomain("stark.net")
		e.insertUser(got, "joffrey@got.net", "", "")
		bad := e.newEmailAlias(got, "badguys@got.net", "joffrey@got.net")
		good := e.newEmailAlias(got, "goodguys@got.net")
		children := e.newEmailAlias(stark, "children@stark.net")

		// 409: the address of a user, or of another alias (any case).
		e.do(req{Method: "POST", Path: "/domains/" + got + "/groups", Body: map[string]any{"email": "joffrey@got.net"}}).problem(409, "joffrey@got.net")
		e.do(req{Method: "POST", Path: "/domains/" + got + "/groups", Body: map[string]any{"email": "BadGuys@got.net"}}).problem(409, "")
		e.do(req{Method: "PATCH", Path: "/domains/" + got + "/groups/" + good, Body: map[string]any{"email": "badguys@got.net", "recipients": []string{"x@y.net"}}}).
			problem(409, "badguys@got.net")
		e.do(req{Method: "PATCH", Path: "/domains/" + got + "/groups/" + good, Body: map[string]any{"email": "joffrey@got.net"}}).problem(409, "")
		g := e.do(req{Method: "GET", Path: "/domains/" + got + "/groups/" + good}).expect(200).json()
		if g["email"] != "goodguys@got.net" || recipients(g) != "" {
			t.Errorf("a refused PATCH changed the alias: %v %s", g["email"], recipients(g))
		}
		// Renaming to its own address, and an empty PATCH, change nothing.
		e.do(req{Method: "PATCH", Path: "/domains/" + got + "/groups/" + good, Body: map[string]any{"email": "GoodGuys@got.net"}}).expect(204)
		e.do(req{Method: "PATCH", Path: "/domains/" + got + "/groups/" + good, Body: map[string]any{}}).expect(204)

		// 404: unknown domain, unknown alias, an alias of another domain,
		// an unknown recipient, ids that do not decode.
		unknown := e.ids.Encode(e.key(children) + 100)
		base := "/domains/" + got + "/groups/"
		e.do(req{Method: "GET", Path: "/domains/" + unknown + "/groups"}).problem(404, "Domain")
		e.do(req{Method: "GET", Path: "/domains/zzz/groups"}).problem(404, "Domain")
		e.do(req{Method: "POST", Path: "/domains/" + unknown + "/groups", Body: map[string]any{"email": "x@got.net"}}).problem(404, "domain")
		for _, id := range []string{unknown, children, "zzz"} {
			e.do(req{Method: "GET", Path: base + id}).problem(404, "")
			e.do(req{Method: "PATCH", Path: base + id, Body: map[string]any{"email": "x@got.net"}}).problem(404, "")
			e.do(req{Method: "POST", Path: base + id + "/addresses", Body: []string{"x@y.net"}}).problem(404, "")
			e.do(req{Method: "DELETE", Path: base + id + "/addresses/" + bad}).problem(404, "")
		}
		e.do(req{Method: "DELETE", Path: "/groups/" + unknown}).problem(404, "")
		e.do(req{Method: "DELETE", Path: "/groups/zzz"}).problem(404, "")
		rid := e.do(req{Method: "GET", Path: base + bad}).expect(200).json()["recipients"].([]any)[0].(map[string]any)["id"].(string)
		// A recipient is deleted through its own alias only.
		e.do(req{Method: "DELETE", Path: base + good + "/addresses/" + rid}).problem(404, "")
		e.do(req{Method: "DELETE", Path: "/domains/" + stark + "/groups/" + bad + "/addresses/" + rid}).problem(404, "")
		e.do(req{Method: "DELETE", Path: base + bad + "/addresses/zzz"}).problem(404, "")
		if n := e.queryInt("SELECT COUNT(*) FROM email_alias_recipients"); n != 1 {
			t.Errorf("%d recipients stored, want 1", n)
		}
	})
}

func TestListDomainEmailAliases(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) {
		got := e.newDomain("got.net")
		stark := e.newDomain("stark.net")
		e.insertUser(got, "joffrey@got.net", "", "")
		for _, a := range []string{"lannisters@got.net", "badguys@got.net", "crows@got.net", "Bad_Guys@got.net"} {
			e.newEmailAlias(got, a, "joffrey@got.net")
		}
		e.newEmailAlias(got, "empty@got.net")
		e.newEmailAlias(got, "knights@got.net", "brienne@tarth.net", "jaime@lannister.net")
		e.newEmailAlias(stark, "children@stark.net", "joffrey@got.net")
		base := "/domains/" + got + "/groups"

		cases := []struct{ query, want string }{
			{"", "bad_guys@got.net badguys@got.net crows@got.net empty@got.net knights@got.net lannisters@got.net"},
			{"?sort=-email", "lannisters@got.net knights@got.net empty@got.net crows@got.net badguys@got.net bad_guys@got.net"},
			{"?sort=id&pageSize=2", "lannisters@got.net badguys@got.net"},
			{"?offset=4&pageSize=1", "knights@got.net"},
			{"?email=bad*", "bad_guys@got.net badguys@got.net"},
			{"?email=bad_*", "bad_guys@got.net"},
			{"?email=*S@GOT.NET", "bad_guys@got.net badguys@got.net crows@got.net knights@got.net lannisters@got.net"},
			{"?email=crows@got.net", "crows@got.net"},
			{"?email=crows", ""},
			{"?recipient=joffrey@got.net", "bad_guys@got.net badguys@got.net crows@got.net lannisters@got.net"},
			{"?recipient=*@lannister.net", "knights@got.net"},
			{"?recipient=*tarth*&email=k*", "knights@got.net"},
			{"?recipient=nobody@got.net", ""},
		}
		totals := map[string]string{"?sort=id&pageSize=2": "6", "?offset=4&pageSize=1": "6"}
		for _, c := range cases {
			l := e.do(req{Method: "GET", Path: base + c.query}).expect(200)
			if got := aliasEmails(l); got != c.want {
				t.Errorf("%s: %q, want %q", c.query, got, c.want)
			}
			total := totals[c.query]
			if total == "" {
				total = strconv.Itoa(len(l.list()))
			}
			if l.Header.Get("X-Total-Count") != total {
				t.Errorf("%s: X-Total-Count %q, want %s", c.query, l.Header.Get("X-Total-Count"), total)
			}
		}
		e.do(req{Method: "GET", Path: base + "?sort=recipient"}).problem(400, "sort")
		e.do(req{Method: "GET", Path: base + "?pageSize=0"}).problem(400, "pageSize")
	})
}

func TestEmailAliasLoops(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) {
		got := e.newDomain("got.net")
		stark := e.newDomain("stark.net")
		base := "/domains/" + got + "/groups/"

		// Directly: an alias cannot list itself.
		e.do(req{Method: "POST", Path: "/domains/" + got + "/groups", Body: map[string]any{"email": "self@got.net", "recipients": []string{"SELF@got.net"}}}).
			problem(422, "self@got.net")
		self := e.newEmailAlias(got, "self@got.net")
		e.do(req{Method: "POST", Path: base + self + "/addresses", Body: []string{"self@got.net"}}).problem(422, "loop")
		e.do(req{Method: "PATCH", Path: base + self, Body: map[string]any{"recipients": []string{"self@got.net"}}}).problem(422, "loop")

		// Through two levels, across domains: a → b → c, then c → a.
		a := e.newEmailAlias(got, "a@got.net")
		b := e.newEmailAlias(stark, "b@stark.net", "c@got.net")
		c := e.newEmailAlias(got, "c@got.net") // claims b's recipient: b → c
		e.do(req{Method: "POST", Path: base + a + "/addresses", Body: []string{"b@stark.net"}}).expect(201)
		e.do(req{Method: "POST", Path: base + c + "/addresses", Body: []string{"x@example.com", "a@got.net"}}).problem(422, "a@got.net")
		e.do(req{Method: "PATCH", Path: base + c, Body: map[string]any{"recipients": []string{"a@got.net"}}}).problem(422, "loop")
		if r := recipients(e.do(req{Method: "GET", Path: base + c}).expect(200).json()); r != "" {
			t.Errorf("refused loops changed c: %s", r)
		}
		if r := recipients(e.do(req{Method: "GET", Path: "/domains/" + stark + "/groups/" + b}).expect(200).json()); r != "c@got.net:ALIAS" {
			t.Errorf("b lists %s, want the alias c", r)
		}
		// Reaching an alias twice without a loop is fine: a → b → c and a → c.
		e.do(req{Method: "POST", Path: base + a + "/addresses", Body: []string{"c@got.net"}}).expect(201)

		// Creating an address that aliases already list closes their loop.
		x := e.newEmailAlias(got, "x@got.net", "later@got.net")
		e.do(req{Method: "POST", Path: "/domains/" + got + "/groups", Body: map[string]any{"email": "later@got.net", "recipients": []string{"x@got.net"}}}).
			problem(422, "x@got.net")
		if r := recipients(e.do(req{Method: "GET", Path: base + x}).expect(200).json()); r != "later@got.net:EXTERNAL_ADDRESS" {
			t.Errorf("a refused creation retyped x's recipient: %s", r)
		}
		// So does renaming an alias to such an address.
		y := e.newEmailAlias(got, "y@got.net", "x@got.net")
		e.do(req{Method: "PATCH", Path: base + y, Body: map[string]any{"email": "later@got.net"}}).problem(422, "loop")
		e.do(req{Method: "PATCH", Path: base + y, Body: map[string]any{"email": "later@got.net", "recipients": []string{"z@example.com"}}}).expect(204)
		if r := recipients(e.do(req{Method: "GET", Path: base + x}).expect(200).json()); r != "later@got.net:ALIAS" {
			t.Errorf("x lists %s, want the renamed alias", r)
		}
		// Recipients that name an alias follow it when it is renamed.
		e.do(req{Method: "PATCH", Path: base + y, Body: map[string]any{"email": "renamed@got.net"}}).expect(204)
		if r := recipients(e.do(req{Method: "GET", Path: base + x}).expect(200).json()); r != "renamed@got.net:ALIAS" {
			t.Errorf("x lists %s, want the alias under its new address", r)
		}
	})
}

func TestConcurrentCreateEmailAlias(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) {
		got := e.newDomain("got.net")
		e.race(t, 6, 201, 409, func(i int) req {
			email := "race@got.net"
			if i%2 == 1 {
				email = "RACE@got.net"
			}
			return req{Method: "POST", Path: "/domains/" + got + "/groups", Body: map[string]any{"email": email}}
		})
	})
}

// Two requests that each add one half of a loop cannot both succeed.
func TestConcurrentEmailAliasLoop(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) {
		got := e.newDomain("got.net")
		a := e.newEmailAlias(got, "a@got.net")
		b := e.newEmailAlias(got, "b@got.net")
		for round := range 5 {
			var wg sync.WaitGroup
			statuses := make([]int, 2)
			for i, pair := range [][2]string{{a, "b@got.net"}, {b, "a@got.net"}} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					statuses[i] = e.do(req{Method: "POST", Path: "/domains/" + got + "/groups/" + pair[0] + "/addresses", Body: []string{pair[1]}}).Status
				}()
			}
			wg.Wait()
			if statuses[0]+statuses[1] != 201+422 {
				t.Fatalf("round %d: statuses %v, want one 201 and one 422", round, statuses)
			}
			for _, id := range []string{a, b} {
				e.do(req{Method: "PATCH", Path: "/domains/" + got + "/groups/" + id, Body: map[string]any{"recipients": []string{}}}).expect(204)
			}
		}
	})
}

func TestEmailAliasCascades(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) {
		got := e.newDomain("got.net")
		stark := e.newDomain("stark.net")
		joffrey := e.insertUser(got, "joffrey@got.net", "", "")
		e.insertUser(got, "ramsay@got.net", "", "")
		bad := e.newEmailAlias(got, "badguys@got.net", "joffrey@got.net", "ramsay@got.net")
		worse := e.newEmailAlias(got, "worse@got.net", "badguys@got.net", "joffrey@got.net")
		enemies := e.newEmailAlias(stark, "enemies@stark.net", "badguys@got.net", "ramsay@got.net", "worse@got.net")

		// Deleting a user removes its memberships in the same statement.
		e.sql("DELETE FROM users WHERE id = ?", joffrey)
		e.sql("DELETE FROM mail_addresses WHERE address = 'joffrey@got.net'")
		if r := recipients(e.do(req{Method: "GET", Path: "/domains/" + got + "/groups/" + bad}).expect(200).json()); r != "ramsay@got.net:USER" {
			t.Errorf("after deleting joffrey, badguys lists %s", r)
		}

		// Deleting an alias removes its memberships in other aliases.
		e.do(req{Method: "DELETE", Path: "/groups/" + bad}).expect(204)
		if r := recipients(e.do(req{Method: "GET", Path: "/domains/" + got + "/groups/" + worse}).expect(200).json()); r != "" {
			t.Errorf("after deleting badguys, worse lists %s", r)
		}
		if r := recipients(e.do(req{Method: "GET", Path: "/domains/" + stark + "/groups/" + enemies}).expect(200).json()); r != "ramsay@got.net:EXTERNAL_ADDRESS worse@got.net:ALIAS" {
			t.Errorf("after deleting badguys, enemies lists %s", r)
		}

		// Purging a domain removes its aliases, their addresses, and their
		// memberships in other domains' aliases; addresses of other
		// domains' aliases stay as they were.
		e.do(req{Method: "DELETE", Path: "/domains/" + got}).expect(204)
		if n, err := e.store.PurgeDomains(context.Background(), time.Now().Add(31*24*time.Hour).UnixMilli()); err != nil || n != 1 {
			t.Fatalf("purge removed %d, %v; want 1", n, err)
		}
		key := e.key(got)
		if n := e.queryInt("SELECT COUNT(*) FROM email_aliases WHERE domain_id = ?", key); n != 0 {
			t.Errorf("%d aliases of the purged domain remain", n)
		}
		if n := e.queryInt("SELECT COUNT(*) FROM mail_addresses WHERE domain_id = ?", key); n != 0 {
			t.Errorf("%d addresses of the purged domain remain", n)
		}
		if r := recipients(e.do(req{Method: "GET", Path: "/domains/" + stark + "/groups/" + enemies}).expect(200).json()); r != "ramsay@got.net:EXTERNAL_ADDRESS" {
			t.Errorf("after the purge, enemies lists %s", r)
		}
	})
}

func TestEmailAliasesNeedPermission(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) {
		got := e.newDomain("got.net")
		id := e.newEmailAlias(got, "badguys@got.net", "x@example.com")
		// An administrator of the domain without the users' permissions.
		_, token := e.domainAdmin(got, "ned", "DOMAIN_READ")
		base := "/domains/" + got + "/groups"
		e.do(req{Method: "GET", Path: base, Token: token}).problem(403, "USER_READ")
		e.do(req{Method: "POST", Path: base, Token: token, Body: map[string]any{"email": "x@got.net"}}).problem(403, "USER_EDIT")
		e.do(req{Method: "GET", Path: base + "/" + id, Token: token}).problem(403, "USER_READ")
		e.do(req{Method: "PATCH", Path: base + "/" + id, Token: token, Body: map[string]any{"email": "x@got.net"}}).problem(403, "USER_EDIT")
		e.do(req{Method: "POST", Path: base + "/" + id + "/addresses", Token: token, Body: []string{"y@example.com"}}).problem(403, "USER_EDIT")
		e.do(req{Method: "DELETE", Path: base + "/" + id + "/addresses/" + id, Token: token}).problem(403, "USER_EDIT")
		e.do(req{Method: "DELETE", Path: "/groups/" + id, Token: token}).problem(403, "USER_EDIT")
		e.do(req{Method: "GET", Path: base, Token: "-"}).problem(401, "")
		a := e.do(req{Method: "GET", Path: base + "/" + id}).expect(200).json()
		if a["email"] != "badguys@got.net" || recipients(a) != "x@example.com:EXTERNAL_ADDRESS" {
			t.Errorf("refused requests changed the alias: %v %s", a["email"], recipients(a))
		}
	})
}
