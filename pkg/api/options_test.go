package api_test

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// option returns the named option of a list answer (failing when absent).
func option(t testing.TB, list []map[string]any, name string) map[string]any {
	t.Helper()
	for _, o := range list {
		if o["option"].(map[string]any)["name"] == name {
			return o
		}
	}
	t.Fatalf("option %s not in the list", name)
	return nil
}

// exampleItem finds an option by name in a list example of the doc.
func exampleItem(t testing.TB, example any, name string) map[string]any {
	t.Helper()
	for _, o := range example.([]any) {
		m := o.(map[string]any)
		if m["option"].(map[string]any)["name"] == name {
			return m
		}
	}
	t.Fatalf("the example has no option %s", name)
	return nil
}

// seen is what an owner sees of an option: its own value and its parent's.
func seen(t testing.TB, o map[string]any) string {
	t.Helper()
	str := func(v any, present bool) string {
		switch {
		case !present:
			return "absent"
		case v == nil:
			return "null"
		}
		return v.(string)
	}
	v, okV := o["value"]
	p, okP := o["parentValue"]
	return str(v, okV) + " < " + str(p, okP)
}

func TestDomainOptionExample(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) {
		id := e.newDomain("targaryen.net")
		body := requestExample(t, "/domains/{domainId}/options", "post")
		r := e.do(req{Method: "POST", Path: "/domains/" + id + "/options", Body: body}).expect(201)
		got := r.json()
		// The doc's run had no descriptions; ours documents every option.
		sameAsExample(t, got, responseExample(t, "/domains/{domainId}/options", "post", "201"), "description")
		if got["value"] != "admin@targaryen.net" || got["parentValue"] != "support@cleanmail.tld" {
			t.Errorf("value %v, parentValue %v; want the example's", got["value"], got["parentValue"])
		}
		if loc := r.Header.Get("Location"); loc != "/domains/"+id+"/options/DOMAIN_ADMIN" {
			t.Errorf("Location %q", loc)
		}

		// Setting it again replaces the value: 200, and the list shows it.
		again := e.do(req{Method: "POST", Path: "/domains/" + id + "/options",
			Body: map[string]any{"name": "domain_admin", "value": "Dany@TARGARYEN.net"}}).expect(200).json()
		if again["value"] != "Dany@targaryen.net" {
			t.Errorf("replaced value %v, want the address with its domain in lower case", again["value"])
		}
		list := e.do(req{Method: "GET", Path: "/domains/" + id + "/options"}).expect(200).list()
		if s := seen(t, option(t, list, "DOMAIN_ADMIN")); s != "Dany@targaryen.net < support@cleanmail.tld" {
			t.Errorf("DOMAIN_ADMIN: %s", s)
		}

		// The doc's delete example: 204, and the default applies again.
		e.do(req{Method: "DELETE", Path: "/domains/" + id + "/options/DOMAIN_ADMIN"}).expect(204)
		list = e.do(req{Method: "GET", Path: "/domains/" + id + "/options"}).expect(200).list()
		if s := seen(t, option(t, list, "DOMAIN_ADMIN")); s != "null < support@cleanmail.tld" {
			t.Errorf("DOMAIN_ADMIN after delete: %s", s)
		}
		e.do(req{Method: "DELETE", Path: "/domains/" + id + "/options/DOMAIN_ADMIN"}).problem(404, "not set")
	})
}

func TestDomainOptionListExample(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) {
		customer := e.newCustomer()
		id := e.newDomain("winterfell.net", map[string]any{"customerId": customer})
		// The values behind the doc's list example, each at its scope.
		e.do(req{Method: "POST", Path: "/options/platform", Body: map[string]any{"name": "DOMAIN_ADMIN", "value": "noreply@cleanmail.eu"}}).expect(201)
		e.do(req{Method: "POST", Path: "/customers/" + customer + "/options", Body: map[string]any{"name": "APP_URL", "value": "protect.winterfell.net"}}).expect(201)
		e.do(req{Method: "POST", Path: "/domains/" + id + "/options", Body: map[string]any{"name": "DOMAIN_OPTION_EXAMPLE", "value": "domain_value"}}).expect(201)
		e.do(req{Method: "POST", Path: "/domains/" + id + "/options", Body: map[string]any{"name": "DOMAIN_ADMIN", "value": "reporter@targaryen.net"}}).expect(201)

		r := e.do(req{Method: "GET", Path: "/domains/" + id + "/options"}).expect(200)
		list := r.list()
		example := responseExample(t, "/domains/{domainId}/options", "get", "200")
		for _, name := range []string{"APP_URL", "DOMAIN_OPTION_EXAMPLE", "DOMAIN_ADMIN"} {
			want := exampleItem(t, example, name)
			got := option(t, list, name)
			sameAsExample(t, got, want, "description")
			if got["value"] != want["value"] {
				t.Errorf("%s: value %v, want %v", name, got["value"], want["value"])
			}
		}
		// Every option a domain can hold is listed, in name order.
		defs := e.do(req{Method: "GET", Path: "/options?scope=DOMAIN&pageSize=1000"}).expect(200)
		if r.Header.Get("X-Total-Count") != defs.Header.Get("X-Total-Count") || strconv.Itoa(len(list)) != r.Header.Get("X-Total-Count") {
			t.Errorf("%d options, X-Total-Count %s; the catalog has %s for domains", len(list), r.Header.Get("X-Total-Count"), defs.Header.Get("X-Total-Count"))
		}
		for i := 1; i < len(list); i++ {
			a, b := list[i-1]["option"].(map[string]any)["name"].(string), list[i]["option"].(map[string]any)["name"].(string)
			if a >= b {
				t.Errorf("list not in name order: %s before %s", a, b)
			}
		}
	})
}

func TestUserOptionExamples(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) {
		domain := e.newDomain("lannister.net")
		user := e.newUser(domain, "tyrion@lannister.net")
		body := requestExample(t, "/users/{userId}/options", "post")
		r := e.do(req{Method: "POST", Path: "/users/" + user + "/options", Body: body}).expect(201)
		got := r.json()
		sameAsExample(t, got, responseExample(t, "/users/{userId}/options", "post", "201"), "description")
		if got["value"] != "1" || got["parentValue"] != "0" {
			t.Errorf("value %v, parentValue %v; want 1 and 0", got["value"], got["parentValue"])
		}
		if loc := r.Header.Get("Location"); loc != "/users/"+user+"/options/USER_OPTION_EXAMPLE" {
			t.Errorf("Location %q", loc)
		}

		// The user is named by id or, case-insensitively, by address.
		for _, who := range []string{user, "tyrion@lannister.net", url.PathEscape("Tyrion@LANNISTER.net")} {
			r := e.do(req{Method: "GET", Path: "/users/" + who + "/options"}).expect(200)
			list := r.list()
			if r.Header.Get("X-Total-Count") != strconv.Itoa(len(list)) {
				t.Errorf("X-Total-Count %s for %d options", r.Header.Get("X-Total-Count"), len(list))
			}
			want := exampleItem(t, responseExample(t, "/users/{userId}/options", "get", "200"), "USER_OPTION_EXAMPLE")
			item := option(t, list, "USER_OPTION_EXAMPLE")
			sameAsExample(t, item, want, "description")
			if item["value"] != "1" {
				t.Errorf("%s: value %v, want 1", who, item["value"])
			}
			for _, o := range list {
				if o["option"].(map[string]any)["userScope"] != true {
					t.Errorf("user list shows %v, which users cannot set", o["option"])
				}
			}
		}

		// The doc's delete example, by address this time.
		e.do(req{Method: "DELETE", Path: "/users/tyrion@lannister.net/options/USER_OPTION_EXAMPLE"}).expect(204)
		list := e.do(req{Method: "GET", Path: "/users/" + user + "/options"}).expect(200).list()
		if s := seen(t, option(t, list, "USER_OPTION_EXAMPLE")); s != "null < 0" {
			t.Errorf("after delete: %s", s)
		}
	})
}

// TestOptionInheritance sets one option at each of the four scopes and
// checks what every scope sees, as values are set and deleted.
func TestOptionInheritance(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) {
		customer := e.newCustomer()
		domain := e.newDomain("stark.net", map[string]any{"customerId": customer})
		user := e.newUser(domain, "arya@stark.net")
		lone := e.newDomain("greyjoy.net") // no customer: inherits from the platform
		sailor := e.newUser(lone, "theon@greyjoy.net")
		other := e.newDomain("bolton.net", map[string]any{"customerId": customer})

		paths := map[string]string{
			"platform": "/options/platform",
			"customer": "/customers/" + customer + "/options",
			"domain":   "/domains/" + domain + "/options",
			"user":     "/users/" + user + "/options",
			"lone":     "/domains/" + lone + "/options",
			"sailor":   "/users/" + sailor + "/options",
			"other":    "/domains/" + other + "/options",
		}
		expect := func(step, name string, want map[string]string) {
			t.Helper()
			for who, w := range want {
				list := e.do(req{Method: "GET", Path: paths[who]}).expect(200).list()
				if got := seen(t, option(t, list, name)); got != w {
					t.Errorf("%s: %s sees %s = %q, want %q", step, who, name, got, w)
				}
			}
		}
		set := func(who, name, value string, status int) {
			t.Helper()
			got := e.do(req{Method: "POST", Path: paths[who], Body: map[string]any{"name": name, "value": value}}).expect(status).json()
			if got["value"] != value {
				t.Errorf("set %s on %s: value %v", name, who, got["value"])
			}
		}
		del := func(who, name string) {
			t.Helper()
			e.do(req{Method: "DELETE", Path: paths[who] + "/" + name}).expect(204)
		}

		const tz = "TIMEZONE" // settable at all four scopes; default UTC
		expect("default", tz, map[string]string{"platform": "null < UTC", "customer": "null < UTC", "domain": "null < UTC", "user": "null < UTC", "lone": "null < UTC", "sailor": "null < UTC"})

		set("platform", tz, "Europe/Paris", 201)
		expect("platform set", tz, map[string]string{
			"platform": "Europe/Paris < UTC", "customer": "null < Europe/Paris", "domain": "null < Europe/Paris",
			"user": "null < Europe/Paris", "lone": "null < Europe/Paris", "sailor": "null < Europe/Paris"})

		set("customer", tz, "America/New_York", 201)
		expect("customer set", tz, map[string]string{
			"platform": "Europe/Paris < UTC", "customer": "America/New_York < Europe/Paris", "domain": "null < America/New_York",
			"user": "null < America/New_York", "other": "null < America/New_York", "lone": "null < Europe/Paris", "sailor": "null < Europe/Paris"})

		set("domain", tz, "Asia/Tokyo", 201)
		set("user", tz, "Europe/Berlin", 201)
		expect("domain and user set", tz, map[string]string{
			"customer": "America/New_York < Europe/Paris", "domain": "Asia/Tokyo < America/New_York",
			"user": "Europe/Berlin < Asia/Tokyo", "other": "null < America/New_York"})

		set("platform", tz, "Europe/London", 200) // a replaced value: 200
		del("domain", tz)
		expect("domain deleted", tz, map[string]string{"domain": "null < America/New_York", "user": "Europe/Berlin < America/New_York"})
		del("customer", tz)
		expect("customer deleted", tz, map[string]string{"customer": "null < Europe/London", "domain": "null < Europe/London", "user": "Europe/Berlin < Europe/London"})
		del("user", tz)
		del("platform", tz)
		expect("all deleted", tz, map[string]string{"platform": "null < UTC", "customer": "null < UTC", "domain": "null < UTC", "user": "null < UTC"})

		// An option skips the scopes that cannot hold it: DOMAIN_ADMIN has
		// no customer scope, USER_OPTION_EXAMPLE neither customer nor domain.
		set("platform", "DOMAIN_ADMIN", "postmaster@cleanmail.tld", 201)
		expect("DOMAIN_ADMIN", "DOMAIN_ADMIN", map[string]string{"platform": "postmaster@cleanmail.tld < support@cleanmail.tld", "domain": "null < postmaster@cleanmail.tld"})
		set("platform", "USER_OPTION_EXAMPLE", "2", 201)
		expect("USER_OPTION_EXAMPLE", "USER_OPTION_EXAMPLE", map[string]string{"user": "null < 2", "sailor": "null < 2"})

		// An option without default inherits nothing until a scope sets it.
		expect("no default", "MX_HOST", map[string]string{"platform": "null < absent", "domain": "null < absent"})
		set("platform", "MX_HOST", "mx.cleanmail.tld", 201)
		expect("MX_HOST set", "MX_HOST", map[string]string{"platform": "mx.cleanmail.tld < absent", "customer": "null < mx.cleanmail.tld", "domain": "null < mx.cleanmail.tld"})
	})
}

func TestOptionErrors(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) {
		domain := e.newDomain("stark.net")
		user := e.newUser(domain, "sansa@stark.net")
		customer := e.newCustomer()
		key, _ := e.ids.Decode(domain)
		unknownDomain := e.ids.Encode(key + 100)
		userKey, _ := e.ids.Decode(user)
		unknownUser := e.ids.Encode(userKey + 100)
		customerKey, _ := e.ids.Decode(customer)
		unknownCustomer := e.ids.Encode(customerKey + 100)
		set := func(name, value string) map[string]any { return map[string]any{"name": name, "value": value} }
		dom := "/domains/" + domain + "/options"
		usr := "/users/" + user + "/options"

		for _, tc := range []struct {
			name   string
			method string
			path   string
			body   any
			status int
			want   string
		}{
			{"unknown option", "POST", dom, set("NO_SUCH_OPTION", "x"), 400, "name"},
			{"user option on a domain", "POST", dom, set("USER_OPTION_EXAMPLE", "1"), 422, "name"},
			{"domain option on a user", "POST", usr, set("DOMAIN_ADMIN", "a@b.net"), 422, "name"},
			{"domain option on a customer", "POST", "/customers/" + customer + "/options", set("DOMAIN_ADMIN", "a@b.net"), 422, "name"},
			{"bad e-mail", "POST", dom, set("DOMAIN_ADMIN", "not an address"), 400, "value"},
			{"e-mail with a display name", "POST", dom, set("DOMAIN_ADMIN", "Ned <ned@stark.net>"), 400, "value"},
			{"bad host", "POST", dom, set("MX_HOST", "mx_1.stark.net"), 400, "value"},
			{"bad colour", "POST", dom, set("UI_COLOR", "red"), 400, "value"},
			{"bad list value", "POST", usr, set("QUARANTINE_REPORT_FREQUENCY", "HOURLY"), 400, "value"},
			{"bad time zone", "POST", usr, set("TIMEZONE", "Mars/Olympus_Mons"), 400, "value"},
			{"bad boolean", "POST", usr, set("QUARANTINE_RELEASE_BY_USER", "yes"), 400, "value"},
			{"integer out of range", "POST", usr, set("QUARANTINE_REPORT_MAX_ENTRIES", "0"), 400, "value"},
			{"bad URL", "POST", dom, set("SUPPORT_URL", "ftp://help.stark.net"), 400, "value"},
			{"missing value", "POST", dom, map[string]any{"name": "DOMAIN_ADMIN"}, 400, "value"},
			{"value not a string", "POST", dom, map[string]any{"name": "QUARANTINE_RELEASE_BY_USER", "value": true}, 400, "value"},
			{"missing name", "POST", dom, map[string]any{"value": "x"}, 400, "name"},
			{"unknown domain: list", "GET", "/domains/" + unknownDomain + "/options", nil, 404, "Domain not found"},
			{"unknown domain: set", "POST", "/domains/" + unknownDomain + "/options", set("DOMAIN_ADMIN", "a@b.net"), 404, "Domain not found"},
			{"unknown domain: delete", "DELETE", "/domains/" + unknownDomain + "/options/DOMAIN_ADMIN", nil, 404, "Domain not found"},
			{"malformed domain id", "GET", "/domains/not-an-id/options", nil, 404, ""},
			{"delete an unset option", "DELETE", dom + "/DOMAIN_ADMIN", nil, 404, "not set"},
			{"delete an unknown option", "DELETE", dom + "/NO_SUCH_OPTION", nil, 404, "NO_SUCH_OPTION"},
			{"delete an option of another scope", "DELETE", dom + "/USER_OPTION_EXAMPLE", nil, 404, "cannot be set on a domain"},
			{"unknown user id", "GET", "/users/" + unknownUser + "/options", nil, 404, "Unknown user"},
			{"unknown user address", "POST", "/users/bran@stark.net/options", set("TIMEZONE", "UTC"), 404, "Unknown user"},
			{"unknown user: delete", "DELETE", "/users/nobody@stark.net/options/TIMEZONE", nil, 404, "Unknown user"},
			{"unknown customer", "GET", "/customers/" + unknownCustomer + "/options", nil, 404, "Customer not found"},
			{"unknown customer: set", "POST", "/customers/" + unknownCustomer + "/options", set("TIMEZONE", "UTC"), 404, "Customer not found"},
			{"unknown customer: delete", "DELETE", "/customers/" + unknownCustomer + "/options/TIMEZONE", nil, 404, "Customer not found"},
			{"platform: unknown option", "POST", "/options/platform", set("NOPE", "x"), 400, "name"},
			{"platform: delete unset", "DELETE", "/options/platform/TIMEZONE", nil, 404, "not set"},
			{"platform: bad value", "POST", "/options/platform", set("TIMEZONE", "Local"), 400, "value"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				e.t = t
				e.do(req{Method: tc.method, Path: tc.path, Body: tc.body}).problem(tc.status, tc.want)
			})
		}
		e.t = t

		// A DELETED domain's options, and its users', are read-only.
		e.do(req{Method: "POST", Path: dom, Body: set("DOMAIN_ADMIN", "ned@stark.net")}).expect(201)
		e.do(req{Method: "POST", Path: usr, Body: set("TIMEZONE", "Europe/Paris")}).expect(201)
		e.do(req{Method: "DELETE", Path: "/domains/" + domain}).expect(204)
		e.do(req{Method: "GET", Path: dom}).expect(200)
		e.do(req{Method: "GET", Path: usr}).expect(200)
		e.do(req{Method: "POST", Path: dom, Body: set("DOMAIN_ADMIN", "jon@stark.net")}).problem(422, "DELETED")
		e.do(req{Method: "DELETE", Path: dom + "/DOMAIN_ADMIN"}).problem(422, "DELETED")
		e.do(req{Method: "POST", Path: usr, Body: set("TIMEZONE", "UTC")}).problem(422, "DELETED")
		e.do(req{Method: "DELETE", Path: usr + "/TIMEZONE"}).problem(422, "DELETED")
		// A DISABLED domain's are not.
		e.do(req{Method: "PATCH", Path: "/domains/" + domain, Body: map[string]any{"status": "DISABLED"}}).expect(204)
		e.do(req{Method: "POST", Path: dom, Body: set("DOMAIN_ADMIN", "jon@stark.net")}).expect(200)
		e.do(req{Method: "DELETE", Path: usr + "/TIMEZONE"}).expect(204)
	})
}

func TestOptionsAccess(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) {
		customer := e.newCustomer()
		domain := e.newDomain("stark.net", map[string]any{"customerId": customer})
		user := e.newUser(domain, "robb@stark.net")
		// An administrator of the domain without the options' permissions.
		_, token := e.domainAdmin(domain, "ned", "DOMAIN_READ")
		body := map[string]any{"name": "TIMEZONE", "value": "UTC"}
		for _, r := range []req{
			{Method: "GET", Path: "/domains/" + domain + "/options"},
			{Method: "POST", Path: "/domains/" + domain + "/options", Body: body},
			{Method: "DELETE", Path: "/domains/" + domain + "/options/TIMEZONE"},
			{Method: "GET", Path: "/users/" + user + "/options"},
			{Method: "POST", Path: "/users/" + user + "/options", Body: body},
			{Method: "DELETE", Path: "/users/robb@stark.net/options/TIMEZONE"},
			{Method: "GET", Path: "/options/platform"},
			{Method: "POST", Path: "/options/platform", Body: body},
			{Method: "DELETE", Path: "/options/platform/TIMEZONE"},
			{Method: "GET", Path: "/customers/" + customer + "/options"},
			{Method: "POST", Path: "/customers/" + customer + "/options", Body: body},
			{Method: "DELETE", Path: "/customers/" + customer + "/options/TIMEZONE"},
		} {
			r.Token = token
			e.do(r).problem(403, "")
			r.Token = "-"
			e.do(r).problem(401, "")
		}
		// With OPTION_EDIT, a restricted option is still the sysadmin's.
		_, editor := e.domainAdmin(domain, "cat", "OPTION_READ", "OPTION_EDIT")
		e.do(req{Method: "POST", Path: "/domains/" + domain + "/options", Token: editor, Body: body}).expect(201)
		e.do(req{Method: "POST", Path: "/domains/" + domain + "/options", Token: editor, Body: map[string]any{"name": "DKIM_SELECTOR", "value": "s1"}}).problem(403, "")
		e.do(req{Method: "DELETE", Path: "/domains/" + domain + "/options/TIMEZONE", Token: editor}).expect(204)
		// The catalog is open to every administrator.
		e.do(req{Method: "GET", Path: "/options", Token: token}).expect(200)
		e.do(req{Method: "GET", Path: "/options", Token: "-"}).problem(401, "")
		// Nothing was written by the refused calls.
		list := e.do(req{Method: "GET", Path: "/options/platform"}).expect(200).list()
		if s := seen(t, option(t, list, "TIMEZONE")); s != "null < UTC" {
			t.Errorf("platform TIMEZONE after refused calls: %s", s)
		}
	})
}

func TestListOptionDefs(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) {
		names := func(path string, total int) []string {
			t.Helper()
			r := e.do(req{Method: "GET", Path: path}).expect(200)
			if total >= 0 && r.Header.Get("X-Total-Count") != strconv.Itoa(total) {
				t.Errorf("GET %s: X-Total-Count %s, want %d", path, r.Header.Get("X-Total-Count"), total)
			}
			var out []string
			for _, d := range r.list() {
				out = append(out, d["name"].(string))
			}
			return out
		}
		all := names("/options?pageSize=1000", -1)
		if len(all) < 10 {
			t.Fatalf("catalog has %d options: %v", len(all), all)
		}
		for _, want := range []string{"APP_URL", "DOMAIN_ADMIN", "USER_OPTION_EXAMPLE", "DKIM_SELECTOR", "MX_HOST", "TIMEZONE"} {
			if !strings.Contains(","+strings.Join(all, ",")+",", ","+want+",") {
				t.Errorf("catalog lacks %s: %v", want, all)
			}
		}
		n := len(all)
		check := func(path string, total int, want ...string) {
			t.Helper()
			if got := names(path, total); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("GET %s: %v, want %v", path, got, want)
			}
		}
		check("/options?name=domain_*", 2, "DOMAIN_ADMIN", "DOMAIN_OPTION_EXAMPLE")
		check("/options?name=*_example&sort=-name", 2, "USER_OPTION_EXAMPLE", "DOMAIN_OPTION_EXAMPLE")
		check("/options?name=mx_host", 1, "MX_HOST")
		check("/options?name=*report*&scope=user", 2, "QUARANTINE_REPORT_FREQUENCY", "QUARANTINE_REPORT_MAX_ENTRIES")
		check("/options?scope=USER&name=user*", 1, "USER_OPTION_EXAMPLE")
		check("/options?scope=URL", 0)
		check("/options?name=_*", 0) // _ is literal
		// Paging: offset and pageSize, total unchanged.
		page := names("/options?offset=2&pageSize=3", n)
		if fmt.Sprint(page) != fmt.Sprint(all[2:5]) {
			t.Errorf("page %v, want %v", page, all[2:5])
		}
		check(fmt.Sprintf("/options?offset=%d", n), n)
		// Sorted by type, ties by name.
		byType := e.do(req{Method: "GET", Path: "/options?sort=type&pageSize=1000"}).expect(200).list()
		for i := 1; i < len(byType); i++ {
			a, b := byType[i-1], byType[i]
			if a["type"].(string) > b["type"].(string) || (a["type"] == b["type"] && a["name"].(string) > b["name"].(string)) {
				t.Errorf("sort=type: %s %s before %s %s", a["type"], a["name"], b["type"], b["name"])
			}
		}
		e.do(req{Method: "GET", Path: "/options?sort=description"}).problem(400, "sort")
		e.do(req{Method: "GET", Path: "/options?scope=GALAXY"}).problem(400, "scope")

		// Each scope's list shows exactly the options of that scope.
		scopes := map[string]string{"ptfScope": "PLATFORM", "customerScope": "CUSTOMER", "domainScope": "DOMAIN", "userScope": "USER"}
		defs := e.do(req{Method: "GET", Path: "/options?pageSize=1000"}).expect(200).list()
		for flag, scope := range scopes {
			want := 0
			for _, d := range defs {
				if d[flag] == true {
					want++
				}
			}
			names(fmt.Sprintf("/options?scope=%s", strings.ToLower(scope)), want)
		}
		// The catalog as a domain sees it: LIST values and descriptions.
		freq := map[string]any{}
		for _, d := range defs {
			if d["name"] == "QUARANTINE_REPORT_FREQUENCY" {
				freq = d
			}
		}
		if fmt.Sprint(freq["values"]) != "[NEVER DAILY WEEKLY]" || freq["type"] != "LIST" || freq["description"] == nil {
			t.Errorf("QUARANTINE_REPORT_FREQUENCY: %v", freq)
		}
	})
}

// TestOptionValuesAreNormalised checks that the canonical form is what is
// stored and returned.
func TestOptionValuesAreNormalised(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) {
		domain := e.newDomain("stark.net")
		for _, tc := range []struct{ name, in, out string }{
			{"UI_COLOR", "#ABCDEF", "#abcdef"},
			{"MX_HOST", "MX.Stark.NET.", "mx.stark.net"},
			{"QUARANTINE_RELEASE_BY_USER", "FALSE", "false"},
			{"QUARANTINE_REPORT_FREQUENCY", "weekly", "WEEKLY"},
			{"QUARANTINE_REPORT_MAX_ENTRIES", " 050 ", "50"},
			{"DKIM_SELECTOR", "S2024", "s2024"},
		} {
			got := e.do(req{Method: "POST", Path: "/domains/" + domain + "/options", Body: map[string]any{"name": tc.name, "value": tc.in}}).expect(201).json()
			if got["value"] != tc.out {
				t.Errorf("%s = %q: stored %v, want %q", tc.name, tc.in, got["value"], tc.out)
			}
		}
	})
}

// TestConcurrentSetOption: several first writes of one option at once:
// exactly one creates it (201), the others replace it (200).
func TestConcurrentSetOption(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) {
		domain := e.newDomain("race.net")
		for _, path := range []string{"/domains/" + domain + "/options", "/options/platform"} {
			e.race(t, 6, 201, 200, func(int) req {
				return req{Method: "POST", Path: path, Body: map[string]any{"name": "TIMEZONE", "value": "Europe/Paris"}}
			})
		}
	})
}
