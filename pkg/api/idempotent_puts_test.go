package api_test

import (
	"slices"
	"sync"
	"testing"
)

// putsAtOnce sends n copies of r at once and checks that every one is
// answered want: a PUT says what the state must be, so sending it twice,
// even at the same time, is sending it once.
func (e *env) putsAtOnce(t *testing.T, n, want int, r req) {
	t.Helper()
	statuses := make([]int, n)
	bodies := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := e.do(r)
			statuses[i], bodies[i] = res.Status, string(res.Body)
		}()
	}
	wg.Wait()
	for i, s := range statuses {
		if s != want {
			t.Errorf("%s %s #%d of %d identical requests at once: %d, want %d\n%s", r.Method, r.Path, i, n, s, want, bodies[i])
		}
	}
}

// authorityOn returns the permissions the admin holds on the object, as
// the API lists them, and whether it holds an authority there at all.
func (e *env) authorityOn(t *testing.T, adminID, objectType, objectID string) ([]string, bool) {
	t.Helper()
	a := e.do(req{Method: "GET", Path: "/security/admins/" + adminID}).expect(200).json()
	found := 0
	var perms []string
	for _, x := range a["authorities"].([]any) {
		au := x.(map[string]any)
		if au["objectType"] != objectType || au["objectId"] != objectID {
			continue
		}
		found++
		for _, p := range au["permissions"].([]any) {
			perms = append(perms, p.(string))
		}
	}
	if found > 1 {
		t.Errorf("%d authorities of %s on %s %s, want one", found, adminID, objectType, objectID)
	}
	slices.Sort(perms)
	return perms, found > 0
}

func TestIdenticalPutsAtOnce(t *testing.T) {
	const n = 50
	forEachDB(t, func(t *testing.T, e *env) {
		b := e.do(req{Method: "POST", Path: "/brokers", Body: map[string]any{"name": "Westeros Hosting"}}).expect(201).json()["id"].(string)
		c := e.do(req{Method: "POST", Path: "/customers", Body: map[string]any{"name": "Stark", "brokerId": b}}).expect(201).json()["id"].(string)
		stark := e.newDomain("stark.net", map[string]any{"customerId": c})
		varys, _ := e.domainAdmin(stark, "varys", "DOMAIN_READ")

		t.Run("authorities on a broker", func(t *testing.T) {
			e.putsAtOnce(t, n, 204, req{Method: "PUT", Path: "/brokers/" + b + "/admins/" + varys + "/authorities", Body: []string{"GRANT", "DOMAIN_READ"}})
			if perms, _ := e.authorityOn(t, varys, "BROKER", b); !slices.Equal(perms, []string{"DOMAIN_READ", "GRANT"}) {
				t.Errorf("permissions on the broker: %v, want DOMAIN_READ GRANT", perms)
			}
			e.putsAtOnce(t, n, 204, req{Method: "PUT", Path: "/brokers/" + b + "/admins/" + varys + "/authorities", Body: []string{}})
			if _, ok := e.authorityOn(t, varys, "BROKER", b); ok {
				t.Error("an authority on the broker is left after PUT []")
			}
		})

		t.Run("authorities on a customer", func(t *testing.T) {
			e.putsAtOnce(t, n, 204, req{Method: "PUT", Path: "/customers/" + c + "/admins/" + varys + "/authorities", Body: []string{"USER_READ", "domain_read"}})
			if perms, _ := e.authorityOn(t, varys, "CUSTOMER", c); !slices.Equal(perms, []string{"DOMAIN_READ", "USER_READ"}) {
				t.Errorf("permissions on the customer: %v, want DOMAIN_READ USER_READ", perms)
			}
		})

		t.Run("end users' access", func(t *testing.T) {
			want := []string{"QUARANTINE_READ", "USER_READ"}
			e.putsAtOnce(t, n, 200, req{Method: "PUT", Path: "/domains/" + stark + "/access", Body: want})
			var got []string
			for _, p := range e.do(req{Method: "GET", Path: "/domains/" + stark + "/access"}).expect(200).list() {
				if p["enabled"] == true {
					got = append(got, p["name"].(string))
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("end users' permissions: %v, want %v", got, want)
			}
		})

		t.Run("domain aliases", func(t *testing.T) {
			e.do(req{Method: "POST", Path: "/domains/" + stark + "/aliases", Body: []string{"old.stark.net"}}).expect(201)
			want := []string{"north.stark.net", "winterfell.net"}
			e.putsAtOnce(t, n, 204, req{Method: "PUT", Path: "/domains/" + stark + "/aliases", Body: []string{"winterfell.net", "NORTH.stark.net"}})
			var got []string
			for _, a := range e.do(req{Method: "GET", Path: "/domains/" + stark + "/aliases"}).expect(200).list() {
				got = append(got, a["name"].(string))
			}
			if !slices.Equal(got, want) {
				t.Errorf("aliases: %v, want %v", got, want)
			}
			// The names are reserved once each: another domain cannot take them.
			lannister := e.newDomain("lannister.net")
			for _, name := range want {
				e.do(req{Method: "POST", Path: "/domains/" + lannister + "/aliases", Body: []string{name}}).problem(409, "")
			}
			e.do(req{Method: "POST", Path: "/domains/" + lannister + "/aliases", Body: []string{"old.stark.net"}}).expect(201)
		})

		t.Run("domain administrator's authorities", func(t *testing.T) {
			e.putsAtOnce(t, n, 204, req{Method: "PUT", Path: "/domains/" + stark + "/admins/" + varys + "/authorities", Body: []string{"DOMAIN_READ", "FILTER_READ"}})
			if perms, _ := e.authorityOn(t, varys, "DOMAIN", stark); !slices.Equal(perms, []string{"DOMAIN_READ", "FILTER_READ"}) {
				t.Errorf("permissions on the domain: %v, want DOMAIN_READ FILTER_READ", perms)
			}
		})
	})
}
