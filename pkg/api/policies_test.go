package api_test

import (
	"testing"
)

func TestPolicyExamples(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) {
		domain := e.newDomain("stark.net")
		r := e.do(req{Method: "POST", Path: "/domains/" + domain + "/policies", Body: requestExample(t, "/domains/{domainId}/policies", "post")}).expect(201)
		p := r.json()
		sameAsExample(t, p, responseExample(t, "/domains/{domainId}/policies", "post", "201"))
		if p["domainId"] != domain {
			t.Errorf("domainId = %v, want %s", p["domainId"], domain)
		}
		id := p["id"].(string)
		if loc := r.Header.Get("Location"); loc != "/policies/"+id {
			t.Errorf("Location %q", loc)
		}
		got := e.do(req{Method: "GET", Path: "/policies/" + id}).expect(200).json()
		sameAsExample(t, got, p)

		// PATCH: the doc's example renames, the rest stays.
		e.do(req{Method: "PATCH", Path: "/policies/" + id, Body: requestExample(t, "/policies/{policyId}", "patch")}).expect(204)
		after := e.do(req{Method: "GET", Path: "/policies/" + id}).expect(200).json()
		if after["name"] != "policyC" {
			t.Errorf("name = %v, want policyC", after["name"])
		}
		after["name"] = p["name"]
		sameAsExample(t, after, p)

		// Switching retention on brings its settings; quarantine off drops them.
		e.do(req{Method: "PATCH", Path: "/policies/" + id, Body: map[string]any{"retention": true, "quarantine": false,
			"retentionProps": map[string]any{"duration": 9}}}).expect(204)
		after = e.do(req{Method: "GET", Path: "/policies/" + id}).expect(200).json()
		rp, _ := after["retentionProps"].(map[string]any)
		if rp == nil || rp["duration"] != float64(9) || after["quarantineProps"] != nil {
			t.Errorf("retentionProps %v, quarantineProps %v", after["retentionProps"], after["quarantineProps"])
		}

		list := e.do(req{Method: "GET", Path: "/domains/" + domain + "/policies"}).expect(200)
		if n := len(list.list()); n != 2 || list.Header.Get("X-Total-Count") != "2" {
			t.Errorf("list: %d policies, total %s; want 2", n, list.Header.Get("X-Total-Count"))
		}
		if d := e.do(req{Method: "GET", Path: "/domains/" + domain}).expect(200).json(); d["policiesCount"] != float64(2) || d["retention"] != true {
			t.Errorf("domain policiesCount %v retention %v, want 2 and true", d["policiesCount"], d["retention"])
		}

		e.do(req{Method: "DELETE", Path: "/policies/" + id}).expect(204)
		e.do(req{Method: "GET", Path: "/policies/" + id}).problem(404, "Policy not found")
	})
}

func TestPolicyErrors(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) {
		domain := e.newDomain("stark.net")
		d := e.do(req{Method: "GET", Path: "/domains/" + domain}).expect(200).json()
		defaultPolicy := d["policy"].(map[string]any)["id"].(string)
		policy := func(name string) map[string]any {
			return map[string]any{"name": name, "quarantine": false, "retention": false, "incoming": true}
		}
		e.do(req{Method: "POST", Path: "/domains/" + domain + "/policies", Body: policy("A")}).expect(201)
		e.do(req{Method: "POST", Path: "/domains/" + domain + "/policies", Body: policy("a")}).problem(409, "already exists")
		e.do(req{Method: "POST", Path: "/domains/" + domain + "/policies", Body: map[string]any{"name": "B"}}).problem(400, "quarantine")
		e.do(req{Method: "POST", Path: "/domains/" + domain + "/policies", Body: map[string]any{"name": "B", "quarantine": false,
			"retention": false, "incoming": true, "mailSizeLimit": 0}}).problem(400, "mailSizeLimit")
		e.do(req{Method: "POST", Path: "/domains/zzzzzz/policies", Body: policy("C")}).problem(404, "")
		// The default policy of a domain cannot go.
		e.do(req{Method: "DELETE", Path: "/policies/" + defaultPolicy}).problem(400, "default policy")
		e.do(req{Method: "PATCH", Path: "/policies/" + defaultPolicy, Body: map[string]any{"name": "A"}}).problem(409, "")
		e.do(req{Method: "PATCH", Path: "/policies/zzzzzz", Body: map[string]any{"name": "Z"}}).problem(404, "")
		e.do(req{Method: "DELETE", Path: "/policies/zzzzzz"}).problem(404, "")

		token := e.plainAdmin("ned")
		e.do(req{Method: "POST", Path: "/domains/" + domain + "/policies", Token: token, Body: policy("N")}).problem(403, "sysadmin")
		e.do(req{Method: "PATCH", Path: "/policies/" + defaultPolicy, Token: token, Body: map[string]any{"name": "N"}}).problem(403, "sysadmin")
		e.do(req{Method: "DELETE", Path: "/policies/" + defaultPolicy, Token: token}).problem(403, "sysadmin")
	})
}
