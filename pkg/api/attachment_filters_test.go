package api_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

// filters lists "action checkType filter priority" (or "action filter
// priority" for URI rules) of each rule of a list response.
func filters(r *resp) string {
	var out []string
	for _, x := range r.list() {
		parts := []string{fmt.Sprint(x["action"])}
		if ct, ok := x["checkType"]; ok {
			parts = append(parts, fmt.Sprint(ct))
		}
		parts = append(parts, fmt.Sprint(x["filter"]), fmt.Sprint(x["priority"]))
		out = append(out, strings.Join(parts, " "))
	}
	return strings.Join(out, ", ")
}

func TestAttachmentFilters(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) {
		stark := e.newDomain("stark.net")
		path := "/domains/" + stark + "/filters/attachments"
		r := e.do(req{Method: "POST", Path: path, Body: requestExample(t, "/domains/{domainId}/filters/attachments", "post")}).expect(201)
		first := r.json()
		sameAsExample(t, first, responseExample(t, "/domains/{domainId}/filters/attachments", "post", "201"), "createdDate")
		if loc := r.Header.Get("Location"); loc != path {
			t.Errorf("Location %q", loc)
		}
		// Any case on input; priorities follow the order of creation.
		second := e.do(req{Method: "POST", Path: path, Body: map[string]any{"action": "deny", "checkType": "archive-filename", "filter": `(?i)\.exe$`}}).expect(201).json()
		third := e.do(req{Method: "POST", Path: path, Body: map[string]any{"action": "Allow", "checkType": "FILENAME", "filter": `\.pdf$`}}).expect(201).json()
		if second["action"] != "DENY" || second["checkType"] != "ARCHIVE-FILENAME" || second["priority"] != float64(2) || third["priority"] != float64(3) || second["scope"] != "stark.net" {
			t.Errorf("second %v, third %v", second, third)
		}
		if d, ok := second["description"]; !ok || d != nil {
			t.Errorf("description without a value: %v (present %v), want null", d, ok)
		}
		for _, tc := range []struct{ query, want, total string }{
			{"", `ALLOW CONTENTTYPE .xlsx 1, ALLOW FILENAME \.pdf$ 3, DENY ARCHIVE-FILENAME (?i)\.exe$ 2`, "3"},
			{"?action=allow", `ALLOW CONTENTTYPE .xlsx 1, ALLOW FILENAME \.pdf$ 3`, "2"},
			{"?sort=-priority&pageSize=2", `ALLOW FILENAME \.pdf$ 3, DENY ARCHIVE-FILENAME (?i)\.exe$ 2`, "3"},
			{"?sort=checkType&offset=2", `ALLOW FILENAME \.pdf$ 3`, "3"},
		} {
			l := e.do(req{Method: "GET", Path: path + tc.query}).expect(200)
			if got := filters(l); got != tc.want || l.Header.Get("X-Total-Count") != tc.total {
				t.Errorf("GET %s: %s (total %s), want %s (total %s)", tc.query, got, l.Header.Get("X-Total-Count"), tc.want, tc.total)
			}
		}

		// The doc's PATCH: only the fields present change.
		one := "/filters/attachments/" + first["id"].(string)
		e.do(req{Method: "PATCH", Path: one, Body: requestExample(t, "/filters/attachments/{attachmentId}", "patch")}).expect(204)
		l := e.do(req{Method: "GET", Path: path + "?sort=priority&pageSize=1"}).expect(200).list()[0]
		if l["action"] != "DENY" || l["filter"] != ".xls" || l["description"] != "Deny xls files" || l["checkType"] != "CONTENTTYPE" || l["priority"] != float64(1) || l["createdDate"] != first["createdDate"] {
			t.Errorf("after PATCH: %v", l)
		}

		// Errors.
		for _, tc := range []struct {
			body   map[string]any
			status int
			want   string
		}{
			{map[string]any{"action": "ALLOW", "checkType": "FILENAME", "filter": `\.pdf$`}, 409, "same rules"},
			{map[string]any{"action": "ALLOW", "checkType": "FILENAME", "filter": `(unclosed`}, 400, "filter"},
			{map[string]any{"action": "ALLOW", "checkType": "FILENAME", "filter": ""}, 400, "filter"},
			{map[string]any{"action": "MAYBE", "checkType": "FILENAME", "filter": "x"}, 400, "action"},
			{map[string]any{"action": "ALLOW", "checkType": "SIZE", "filter": "x"}, 400, "checkType"},
			{map[string]any{"action": "ALLOW", "filter": "x"}, 400, "checkType"},
		} {
			e.do(req{Method: "POST", Path: path, Body: tc.body}).problem(tc.status, tc.want)
		}
		e.do(req{Method: "POST", Path: "/domains/zzzzzzz/filters/attachments", Body: map[string]any{"action": "ALLOW", "checkType": "FILENAME", "filter": "x"}}).problem(404, "")
		e.do(req{Method: "GET", Path: "/domains/zzzzzzz/filters/attachments"}).problem(404, "")
		e.do(req{Method: "GET", Path: path + "?sort=description"}).problem(400, "sort")
		e.do(req{Method: "PATCH", Path: one, Body: map[string]any{"action": "ALLOW", "checkType": "FILENAME", "filter": `\.pdf$`}}).problem(409, "same rules")
		e.do(req{Method: "PATCH", Path: one, Body: map[string]any{"filter": `[`}}).problem(400, "filter")
		e.do(req{Method: "PATCH", Path: "/filters/attachments/zzzzzzz", Body: map[string]any{"filter": "x"}}).problem(404, "No attachment filter found")

		e.do(req{Method: "DELETE", Path: one}).expect(204)
		e.do(req{Method: "DELETE", Path: one}).problem(404, "No attachment filter found")
		// A new rule keeps numbering after the highest priority.
		if p := e.do(req{Method: "POST", Path: path, Body: map[string]any{"action": "DENY", "checkType": "CONTENTTYPE", "filter": "x-msdownload"}}).expect(201).json()["priority"]; p != float64(4) {
			t.Errorf("priority %v, want 4", p)
		}
		// Rules of another domain are numbered on their own.
		other := e.newDomain("lannister.net")
		if p := e.do(req{Method: "POST", Path: "/domains/" + other + "/filters/attachments", Body: map[string]any{"action": "DENY", "checkType": "CONTENTTYPE", "filter": "x-msdownload"}}).expect(201).json()["priority"]; p != float64(1) {
			t.Errorf("priority %v in another domain, want 1", p)
		}
		// An administrator of the domain without FILTER_EDIT.
		_, plain := e.domainAdmin(stark, "bran", "DOMAIN_READ", "FILTER_READ")
		e.do(req{Method: "DELETE", Path: "/filters/attachments/" + second["id"].(string), Token: plain}).problem(403, "FILTER_EDIT")
	})
}

func TestUriFilters(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) {
		stark := e.newDomain("stark.net")
		path := "/domains/" + stark + "/filters/uris"
		r := e.do(req{Method: "POST", Path: path, Body: requestExample(t, "/domains/{domainId}/filters/uris", "post")}).expect(201)
		first := r.json()
		sameAsExample(t, first, responseExample(t, "/domains/{domainId}/filters/uris", "post", "201"), "createdDate")
		if loc := r.Header.Get("Location"); loc != path {
			t.Errorf("Location %q", loc)
		}
		second := e.do(req{Method: "POST", Path: path, Body: map[string]any{"action": "blacklist_uri_host", "filter": "Phish.Example.", "description": "phishing"}}).expect(201).json()
		if second["action"] != "BLACKLIST_URI_HOST" || second["filter"] != "phish.example" || second["priority"] != float64(2) {
			t.Errorf("second %v", second)
		}
		e.do(req{Method: "POST", Path: path, Body: map[string]any{"action": "WHITELIST_URI_HOST", "filter": "bücher.example"}}).expect(201)
		for _, tc := range []struct{ query, want, total string }{
			{"", "BLACKLIST_URI_HOST phish.example 2, URIDNSBL_SKIP_DOMAIN bulist.com 1, WHITELIST_URI_HOST xn--bcher-kva.example 3", "3"},
			{"?action=whitelist_uri_host", "WHITELIST_URI_HOST xn--bcher-kva.example 3", "1"},
			{"?sort=filter", "URIDNSBL_SKIP_DOMAIN bulist.com 1, BLACKLIST_URI_HOST phish.example 2, WHITELIST_URI_HOST xn--bcher-kva.example 3", "3"},
			{"?sort=-priority&pageSize=1", "WHITELIST_URI_HOST xn--bcher-kva.example 3", "3"},
		} {
			l := e.do(req{Method: "GET", Path: path + tc.query}).expect(200)
			if got := filters(l); got != tc.want || l.Header.Get("X-Total-Count") != tc.total {
				t.Errorf("GET %s: %s (total %s), want %s (total %s)", tc.query, got, l.Header.Get("X-Total-Count"), tc.want, tc.total)
			}
		}

		one := "/filters/uris/" + first["id"].(string)
		e.do(req{Method: "PATCH", Path: one, Body: requestExample(t, "/filters/uris/{uriId}", "patch")}).expect(204)
		l := e.do(req{Method: "GET", Path: path + "?sort=priority&pageSize=1"}).expect(200).list()[0]
		if l["action"] != "WHITELIST_URI_HOST" || l["filter"] != "bulist.com" || l["description"] != "Rule bulist.com" || l["priority"] != float64(1) {
			t.Errorf("after PATCH: %v", l)
		}

		for _, tc := range []struct {
			body   map[string]any
			status int
			want   string
		}{
			{map[string]any{"action": "BLACKLIST_URI_HOST", "filter": "PHISH.example"}, 409, "same rules"},
			{map[string]any{"action": "BLACKLIST_URI_HOST", "filter": "http://phish.example/x"}, 400, "filter"},
			{map[string]any{"action": "BLACKLIST_URI_HOST", "filter": "localhost"}, 400, "filter"},
			{map[string]any{"action": "BLACKLIST_URI_HOST", "filter": ".*"}, 400, "filter"},
			{map[string]any{"action": "SKIP", "filter": "x.example"}, 400, "action"},
		} {
			e.do(req{Method: "POST", Path: path, Body: tc.body}).problem(tc.status, tc.want)
		}
		e.do(req{Method: "POST", Path: "/domains/zzzzzzz/filters/uris", Body: map[string]any{"action": "BLACKLIST_URI_HOST", "filter": "x.example"}}).problem(404, "")
		e.do(req{Method: "GET", Path: "/domains/zzzzzzz/filters/uris"}).problem(404, "")
		e.do(req{Method: "PATCH", Path: one, Body: map[string]any{"action": "BLACKLIST_URI_HOST", "filter": "phish.example"}}).problem(409, "same rules")
		e.do(req{Method: "PATCH", Path: one, Body: map[string]any{"filter": "not a host"}}).problem(400, "filter")
		e.do(req{Method: "PATCH", Path: "/filters/uris/zzzzzzz", Body: map[string]any{"filter": "x.example"}}).problem(404, "No uriBl filter found")
		e.do(req{Method: "DELETE", Path: one}).expect(204)
		e.do(req{Method: "DELETE", Path: one}).problem(404, "No uriBl filter found")
	})
}

// TestConcurrentFilterPriorities checks that rules created at the same
// time in one domain still get distinct priorities, and that concurrent
// replacements of one sender list apply one after the other.
func TestConcurrentFilterPriorities(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) {
		stark := e.newDomain("stark.net")
		const n = 6
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(2)
			go func() {
				defer wg.Done()
				e.do(req{Method: "POST", Path: "/domains/" + stark + "/filters/attachments", Body: map[string]any{"action": "DENY", "checkType": "FILENAME", "filter": fmt.Sprintf(`\.x%d$`, i)}}).expect(201)
			}()
			go func() {
				defer wg.Done()
				e.do(req{Method: "PUT", Path: "/domains/" + stark + "/wblist", Body: []map[string]any{{"value": "a.net", "type": "BLOCK"}, {"value": fmt.Sprintf("b%d.net", i), "type": "BLOCK"}}}).expect(200)
			}()
		}
		wg.Wait()
		l := e.do(req{Method: "GET", Path: "/domains/" + stark + "/filters/attachments?sort=priority"}).expect(200).list()
		for i, f := range l {
			if f["priority"] != float64(i+1) {
				t.Errorf("priorities %s, want 1 to %d", filters(e.do(req{Method: "GET", Path: "/domains/" + stark + "/filters/attachments?sort=priority"})), n)
				break
			}
		}
		if rules := e.do(req{Method: "GET", Path: "/domains/" + stark + "/wblist"}).expect(200).list(); len(rules) != 2 {
			t.Errorf("after concurrent PUTs: %v, want one request's two rules", rules)
		}
	})
}
