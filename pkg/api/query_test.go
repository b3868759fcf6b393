package api_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// A query parameter an operation does not declare is a 400 naming it, on
// every operation: a misspelt filter (`?nmae=x`) must not answer a list of
// everything.
func TestUnknownQueryParameterIs400(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) {
		for _, o := range specOperations(t) {
			hr := e.validRequest(t, o)
			sep := "?"
			if hr.URL.RawQuery != "" {
				sep = "&"
			}
			u := hr.URL.String() + sep + "nmae=x"
			r, err := http.NewRequest(hr.Method, u, hr.Body)
			if err != nil {
				t.Fatal(err)
			}
			r.Header = hr.Header
			res, err := http.DefaultClient.Do(r)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != 400 || !strings.Contains(string(b), `"field":"nmae"`) {
				t.Errorf("%s %s?nmae=x: %d %s, want a 400 naming nmae", o.method, o.path, res.StatusCode, b)
			}
		}
	})
}

// The doc's examples spell some filters otherwise (`?name=` for the
// users' `email`, `?address=` for the e-mail aliases' `recipient`): they
// are declared aliases, and work as the examples show.
func TestDocFilterAliases(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) {
		lannister := e.newDomain("lannister.net")
		stark := e.newDomain("stark.net")
		e.newUser(lannister, "cersei@lannister.net")
		e.newUser(lannister, "jaime@lannister.net")
		e.newUser(stark, "ned@stark.net")
		emails := func(r *resp) string {
			var out []string
			for _, u := range r.expect(200).list() {
				out = append(out, u["email"].(string))
			}
			return strings.Join(out, " ")
		}
		// GET /domains/ByE3n/users?name=*lannister.net
		if got := emails(e.do(req{Method: "GET", Path: "/domains/" + lannister + "/users?name=*lannister.net"})); got != "cersei@lannister.net jaime@lannister.net" {
			t.Errorf("domain users ?name=*lannister.net: %s", got)
		}
		if got := emails(e.do(req{Method: "GET", Path: "/users?name=ned@stark.net"})); got != "ned@stark.net" {
			t.Errorf("users ?name=ned@stark.net: %s", got)
		}
		e.do(req{Method: "GET", Path: "/users?name=ned@stark.net&email=ned@stark.net"}).problem(400, "alias")

		// GET /domains/Eygdk/groups?address=ramsay@got.net
		e.do(req{Method: "POST", Path: "/domains/" + stark + "/groups", Body: map[string]any{"email": "wolves@stark.net", "recipients": []string{"ramsay@got.net"}}}).expect(201)
		e.do(req{Method: "POST", Path: "/domains/" + stark + "/groups", Body: map[string]any{"email": "lions@stark.net", "recipients": []string{"tywin@got.net"}}}).expect(201)
		got := e.do(req{Method: "GET", Path: "/domains/" + stark + "/groups?address=ramsay@got.net"}).expect(200).list()
		if len(got) != 1 || got[0]["email"] != "wolves@stark.net" {
			t.Errorf("groups ?address=ramsay@got.net: %v", got)
		}
		e.do(req{Method: "GET", Path: "/domains/" + stark + "/groups?address=a@b.c&recipient=a@b.c"}).problem(400, "alias")
	})
}

// Every sort value the spec declares is one the server sorts on, and
// one it does not declare is a 400 naming sort.
func TestSortValuesAreTheDeclaredOnes(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) {
		stark := e.newDomain("stark.net")
		user := e.newUser(stark, "ned@stark.net")
		ids := map[string]string{"domainId": stark, "userId": user, "folderPath": "INBOX"}
		n := 0
		for _, o := range specOperations(t) {
			if !delivered(o.id) {
				continue
			}
			for _, p := range o.op.Parameters {
				if p.Value.Name != "sort" || p.Value.In != "query" {
					continue
				}
				path := o.path
				for k, v := range ids {
					path = strings.ReplaceAll(path, "{"+k+"}", v)
				}
				for _, v := range p.Value.Schema.Value.Enum {
					n++
					e.do(req{Method: "GET", Path: path + "?sort=" + v.(string)}).expect(200)
				}
				e.do(req{Method: "GET", Path: path + "?sort=color"}).problem(400, "sort")
			}
		}
		if n < 100 {
			t.Errorf("only %d sort values tried: the spec lost its sort enums?", n)
		}
	})
}

// Swagger UI's "Try it out" fills each parameter with its example or
// default: on every list, that request answers the whole list, as the
// request without parameters does (no optional filter carries an example
// that would filter it).
func TestTryItOutListsEverything(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) {
		stark := e.newDomain("stark.net")
		user := e.newUser(stark, "ned@stark.net")
		ids := map[string]string{"domainId": stark, "userId": user, "folderPath": "INBOX"}
		for _, o := range specOperations(t) {
			if o.method != "get" || !delivered(o.id) {
				continue
			}
			var prefilled []string
			isList := false
			for _, p := range o.op.Parameters {
				v := p.Value
				if v.In == "query" && v.Name == "pageSize" {
					isList = true
				}
				if v.In != "query" || v.Required {
					continue
				}
				ex := v.Example
				if ex == nil && v.Schema != nil {
					if ex = v.Schema.Value.Example; ex == nil {
						ex = v.Schema.Value.Default
					}
				}
				if ex != nil {
					prefilled = append(prefilled, v.Name+"="+fmt.Sprint(ex))
				}
			}
			if !isList || strings.Contains(o.path, "{") && !strings.Contains(o.path, "{domainId}") && !strings.Contains(o.path, "{userId}") {
				continue
			}
			path := o.path
			for k, v := range ids {
				path = strings.ReplaceAll(path, "{"+k+"}", v)
			}
			plain := e.do(req{Method: "GET", Path: path}).expect(200)
			tried := e.do(req{Method: "GET", Path: path + "?" + strings.Join(prefilled, "&")}).expect(200)
			if a, b := plain.Header.Get("X-Total-Count"), tried.Header.Get("X-Total-Count"); a != b {
				t.Errorf("GET %s?%s: %s rows, without parameters %s", o.path, strings.Join(prefilled, "&"), b, a)
			}
		}
	})
}
