package api_test

import (
	"fmt"
	"testing"
)

func aliasNames(r *resp) []string {
	var out []string
	for _, a := range r.list() {
		out = append(out, a["name"].(string))
	}
	return out
}

func TestDomainAliases(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) {
		stark := e.newDomain("stark.net")
		e.newDomain("lannister.net")
		path := "/domains/" + stark + "/aliases"

		r := e.do(req{Method: "POST", Path: path, Body: requestExample(t, "/domains/{domainId}/aliases", "post")}).expect(201)
		sameAsExample(t, jsonify(r.list()), responseExample(t, "/domains/{domainId}/aliases", "post", "201"))
		if loc := r.Header.Get("Location"); loc != path {
			t.Errorf("Location %q", loc)
		}
		l := e.do(req{Method: "GET", Path: path}).expect(200)
		if got := fmt.Sprint(aliasNames(l)); got != "[starks.net wolves.net]" || l.Header.Get("X-Total-Count") != "2" {
			t.Errorf("aliases %s (total %s)", got, l.Header.Get("X-Total-Count"))
		}
		d := e.do(req{Method: "GET", Path: "/domains/" + stark}).expect(200).json()
		if fmt.Sprint(d["domainAliases"]) == "[]" {
			t.Errorf("domainAliases is empty")
		}

		// Taken names: another domain, an alias, the domain itself.
		for _, name := range []string{"LANNISTER.net", "wolves.net", "stark.net"} {
			e.do(req{Method: "POST", Path: path, Body: []string{"new.net", name}}).problem(409, "")
		}
		e.do(req{Method: "POST", Path: path, Body: []string{"not a name"}}).problem(400, "0")
		e.do(req{Method: "POST", Path: "/domains/zzzzzz/aliases", Body: []string{"x.net"}}).problem(404, "")
		if got := fmt.Sprint(aliasNames(e.do(req{Method: "GET", Path: path}).expect(200))); got != "[starks.net wolves.net]" {
			t.Errorf("a refused POST changed the aliases: %s", got)
		}

		// PUT replaces, all or nothing.
		e.do(req{Method: "PUT", Path: path, Body: []string{"winterfell.net", "lannister.net"}}).problem(409, "")
		if got := fmt.Sprint(aliasNames(e.do(req{Method: "GET", Path: path}).expect(200))); got != "[starks.net wolves.net]" {
			t.Errorf("a refused PUT changed the aliases: %s", got)
		}
		e.do(req{Method: "PUT", Path: path, Body: requestExample(t, "/domains/{domainId}/aliases", "put")}).expect(204)
		l = e.do(req{Method: "GET", Path: path + "?sort=-name"}).expect(200)
		if got := fmt.Sprint(aliasNames(l)); got != "[lions.net lanisters.net]" {
			t.Errorf("after PUT: %s", got)
		}
		// The replaced names are free again.
		e.newDomain("wolves.net")

		id := l.list()[0]["id"].(string)
		e.do(req{Method: "DELETE", Path: path + "/" + id}).expect(204)
		e.do(req{Method: "DELETE", Path: path + "/" + id}).problem(404, "")
		if got := fmt.Sprint(aliasNames(e.do(req{Method: "GET", Path: path}).expect(200))); got != "[lanisters.net]" {
			t.Errorf("after DELETE: %s", got)
		}
	})
}
