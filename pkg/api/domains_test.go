package api_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/cleanmail/cleanmail/db"
)

// newCustomer creates a broker and a customer "Alinto", as the doc's
// domain examples embed, and returns the customer's id.
func (e *env) newCustomer() string {
	e.t.Helper()
	b := e.do(req{Method: "POST", Path: "/brokers", Body: map[string]any{"name": "HBO"}}).expect(201).json()
	c := e.do(req{Method: "POST", Path: "/customers", Body: map[string]any{"name": "Alinto", "brokerId": b["id"]}}).expect(201).json()
	return c["id"].(string)
}

// newDomain creates a domain with defaults and returns its id.
func (e *env) newDomain(name string, extra ...map[string]any) string {
	e.t.Helper()
	body := map[string]any{"name": name, "status": "ENABLED", "quarantine": false, "retention": false, "archive": false, "defaultLanguage": "FR"}
	for _, x := range extra {
		for k, v := range x {
			body[k] = v
		}
	}
	return e.do(req{Method: "POST", Path: "/domains", Body: body}).expect(201).json()["id"].(string)
}

func TestCreateDomainExample(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) {
		customer := e.newCustomer()
		body := requestExample(t, "/domains", "post").(map[string]any)
		body["customerId"] = customer
		r := e.do(req{Method: "POST", Path: "/domains", Body: body}).expect(201)
		got := r.json()
		if loc := r.Header.Get("Location"); loc != "/domains/"+got["id"].(string) {
			t.Errorf("Location %q, want the new domain's URL", loc)
		}
		// The example's externalId is null although its request sets one;
		// the server keeps what the request says.
		sameAsExample(t, got, responseExample(t, "/domains", "post", "201"), "externalId")
		if got["externalId"] != "HBO-2019" {
			t.Errorf("externalId = %v, want HBO-2019", got["externalId"])
		}
		policy := got["policy"].(map[string]any)
		if policy["domainId"] != got["id"] {
			t.Errorf("policy.domainId = %v, want the domain's id %v", policy["domainId"], got["id"])
		}
		if got["customer"].(map[string]any)["id"] != customer {
			t.Errorf("customer = %v, want %s", got["customer"], customer)
		}
		// The same domain, read back, is the same document.
		again := e.do(req{Method: "GET", Path: "/domains/" + got["id"].(string)}).expect(200).json()
		sameAsExample(t, again, got)
	})
}

func TestCreateDomainServices(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) {
		id := e.newDomain("stark.net", map[string]any{"quarantine": true})
		d := e.do(req{Method: "GET", Path: "/domains/" + id}).expect(200).json()
		p := d["policy"].(map[string]any)
		if p["quarantineProps"] == nil || p["retentionProps"] != nil || p["archiveProps"] != nil {
			t.Errorf("props present only for enabled services: got quarantine %v, retention %v, archive %v",
				p["quarantineProps"], p["retentionProps"], p["archiveProps"])
		}
		if d["quarantine"] != true || d["retention"] != false || d["policiesCount"] != float64(1) || d["activeUsersCount"] != float64(0) {
			t.Errorf("computed fields: %v %v %v %v", d["quarantine"], d["retention"], d["policiesCount"], d["activeUsersCount"])
		}
		if d["wblistPriority"] != "USER" || d["senderVerifyOn"] != true || d["name"] != "stark.net" {
			t.Errorf("defaults: %v %v", d["wblistPriority"], d["senderVerifyOn"])
		}
	})
}

func TestCreateDomainErrors(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) {
		e.newDomain("stark.net")
		base := func(kv ...any) map[string]any {
			b := map[string]any{"name": "new.net", "status": "ENABLED", "quarantine": false, "retention": false, "archive": false, "defaultLanguage": "FR"}
			for i := 0; i < len(kv); i += 2 {
				if kv[i+1] == nil {
					delete(b, kv[i].(string))
				} else {
					b[kv[i].(string)] = kv[i+1]
				}
			}
			return b
		}
		for _, tc := range []struct {
			name   string
			body   any
			status int
			want   string
		}{
			{"duplicate, other case", base("name", "STARK.net"), 409, "stark.net"},
			{"not a domain name", base("name", "not a domain"), 400, "name"},
			{"single label", base("name", "localhost"), 400, "name"},
			{"label too long", base("name", fmt.Sprintf("%065d.net", 0)), 400, "name"},
			{"leading hyphen", base("name", "-bad.net"), 400, "name"},
			{"bad status", base("status", "SLEEPING"), 400, "status"},
			{"missing name", base("name", nil), 400, "name"},
			{"wrong type", base("quarantine", "yes"), 400, "quarantine"},
			{"bad subnet", base("outgoingSubnets", []string{"1.2.3.4/33"}), 400, "outgoingSubnets.0"},
			{"bad port", base("platforms", []map[string]any{{"name": "p", "transportDest": "1.2.3.4", "transportType": "SMTP", "transportPort": 0}}), 400, "transportPort"},
			{"unknown customer", base("customerId", "zzzzzz"), 422, "customerId"},
			{"malformed JSON", `{"name":`, 400, ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				e.t = t
				e.do(req{Method: "POST", Path: "/domains", Body: tc.body}).problem(tc.status, tc.want)
			})
		}
	})
}

func TestCreateDomainLowerCaseEnums(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) {
		d := e.do(req{Method: "POST", Path: "/domains", Body: map[string]any{"name": "winterfell.net", "status": "enabled",
			"quarantine": false, "retention": false, "archive": false, "defaultLanguage": "de", "wblistPriority": "domain"}}).expect(201).json()
		if d["status"] != "ENABLED" || d["defaultLanguage"] != "DE" || d["wblistPriority"] != "DOMAIN" {
			t.Errorf("enums not normalised: %v %v %v", d["status"], d["defaultLanguage"], d["wblistPriority"])
		}
		n := e.do(req{Method: "GET", Path: "/domains?status=enabled"}).expect(200)
		if len(n.list()) != 1 {
			t.Errorf("status=enabled matched %d domains, want 1", len(n.list()))
		}
	})
}

func TestConcurrentCreateDomain(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) {
		e.race(t, 6, 201, 409, func(int) req {
			return req{Method: "POST", Path: "/domains", Body: map[string]any{"name": "race.net", "status": "ENABLED",
				"quarantine": false, "retention": false, "archive": false, "defaultLanguage": "FR"}}
		})
	})
}

func TestGetDomainNotFound(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) {
		id := e.newDomain("stark.net")
		key, _ := e.ids.Decode(id)
		e.do(req{Method: "GET", Path: "/domains/" + e.ids.Encode(key+100)}).problem(404, "Domain not found")
		e.do(req{Method: "GET", Path: "/domains/not-an-id"}).problem(404, "")
		e.do(req{Method: "GET", Path: "/domains/" + id + "x"}).problem(404, "")
	})
}

func TestListDomains(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) {
		customer := e.newCustomer()
		names := []string{"stark.net", "lannister.net", "baratheon.com", "starkindustries.com", "targaryen.org", "tyrell.net"}
		ids := map[string]string{}
		for i, n := range names {
			extra := map[string]any{"externalId": "EXT-" + strconv.Itoa(i)}
			if n == "tyrell.net" {
				extra["externalId"] = "50%_off"
			}
			if i%2 == 0 {
				extra["customerId"] = customer
				extra["platforms"] = []map[string]any{{"name": "relay-" + n, "transportDest": "10.0.0.1", "transportType": "SMTP", "transportPort": 25}}
			}
			ids[n] = e.newDomain(n, extra)
		}
		e.do(req{Method: "PATCH", Path: "/domains/" + ids["targaryen.org"], Body: map[string]any{"status": "DISABLED"}}).expect(204)

		listNames := func(path string, total int) []string {
			t.Helper()
			r := e.do(req{Method: "GET", Path: path}).expect(200)
			if got := r.Header.Get("X-Total-Count"); got != strconv.Itoa(total) {
				t.Errorf("GET %s: X-Total-Count %q, want %d", path, got, total)
			}
			var out []string
			for _, d := range r.list() {
				out = append(out, d["name"].(string))
			}
			return out
		}
		check := func(path string, total int, want ...string) {
			t.Helper()
			got := listNames(path, total)
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("GET %s: %v, want %v", path, got, want)
			}
		}
		check("/domains", 6, "baratheon.com", "lannister.net", "stark.net", "starkindustries.com", "targaryen.org", "tyrell.net")
		check("/domains?sort=-name", 6, "tyrell.net", "targaryen.org", "starkindustries.com", "stark.net", "lannister.net", "baratheon.com")
		check("/domains?name=stark.net", 1, "stark.net")
		check("/domains?name=STARK.NET", 1, "stark.net")
		check("/domains?name=stark*", 2, "stark.net", "starkindustries.com")
		check("/domains?name=*.com", 2, "baratheon.com", "starkindustries.com")
		check("/domains?name=*ar*", 4, "baratheon.com", "stark.net", "starkindustries.com", "targaryen.org")
		check("/domains?externalId=50%25_*", 1, "tyrell.net")
		check("/domains?externalId=5__*", 0)
		check("/domains?externalId=*%25*", 1, "tyrell.net")
		check("/domains?status=DISABLED", 1, "targaryen.org")
		check("/domains?customerId="+customer, 3, "baratheon.com", "stark.net", "targaryen.org")
		check("/domains?customerId=nonsense", 0)
		check("/domains?externalId=EXT-1", 1, "lannister.net")
		check("/domains?platformName=relay-stark*", 1, "stark.net")
		check("/domains?platformName=*", 3, "baratheon.com", "stark.net", "targaryen.org")
		d := e.do(req{Method: "GET", Path: "/domains/" + ids["stark.net"]}).expect(200).json()
		platformID := d["platforms"].([]any)[0].(map[string]any)["id"].(string)
		check("/domains?platformId="+platformID, 1, "stark.net")
		// Paging: the total counts every match; ties are broken by id.
		check("/domains?offset=2&pageSize=2", 6, "stark.net", "starkindustries.com")
		check("/domains?offset=5&pageSize=2", 6, "tyrell.net")
		check("/domains?offset=10", 6)
		check("/domains?sort=creationDate&pageSize=1", 6, "stark.net")
		check("/domains?sort=-id&pageSize=1", 6, "tyrell.net")

		for path, field := range map[string]string{
			"/domains?pageSize=0":    "pageSize",
			"/domains?pageSize=1001": "pageSize",
			"/domains?pageSize=abc":  "pageSize",
			"/domains?offset=-1":     "offset",
			"/domains?sort=password": "sort",
			"/domains?sort=-":        "sort",
			"/domains?status=ASLEEP": "status",
		} {
			e.do(req{Method: "GET", Path: path}).problem(400, field)
		}
	})
}

func TestUpdateDomain(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) {
		id := e.newDomain("stark.net", map[string]any{"description": "The North", "externalId": "X1"})
		other := e.newDomain("lannister.net")
		before := e.do(req{Method: "GET", Path: "/domains/" + id}).expect(200).json()

		// The doc's example: one field changes, the rest stays.
		e.do(req{Method: "PATCH", Path: "/domains/" + id, Body: requestExample(t, "/domains/{domainId}", "patch")}).expect(204)
		after := e.do(req{Method: "GET", Path: "/domains/" + id}).expect(200).json()
		if after["defaultLanguage"] != "ES" {
			t.Errorf("defaultLanguage = %v, want ES", after["defaultLanguage"])
		}
		after["defaultLanguage"] = before["defaultLanguage"]
		sameAsExample(t, after, before)

		e.do(req{Method: "PATCH", Path: "/domains/" + id, Body: map[string]any{"description": nil, "name": "Winterfell.net",
			"quarantine": true, "outgoingSubnets": []string{"10.0.0.0/8"}, "wblistPriority": "DOMAIN"}}).expect(204)
		d := e.do(req{Method: "GET", Path: "/domains/" + id}).expect(200).json()
		if d["description"] != nil || d["name"] != "winterfell.net" || d["externalId"] != "X1" || d["wblistPriority"] != "DOMAIN" {
			t.Errorf("after PATCH: description %v, name %v, externalId %v, wblistPriority %v", d["description"], d["name"], d["externalId"], d["wblistPriority"])
		}
		if d["quarantine"] != true || d["policy"].(map[string]any)["quarantineProps"] == nil {
			t.Errorf("quarantine switched on but policy is %v", d["policy"])
		}
		// The old name is free again; the new one is taken.
		e.newDomain("stark.net")
		e.do(req{Method: "PATCH", Path: "/domains/" + other, Body: map[string]any{"name": "winterfell.net"}}).problem(409, "")

		otherPolicy := e.do(req{Method: "GET", Path: "/domains/" + other}).expect(200).json()["policy"].(map[string]any)["id"].(string)
		e.do(req{Method: "PATCH", Path: "/domains/" + id, Body: map[string]any{"policyId": otherPolicy}}).problem(422, "policyId")
		e.do(req{Method: "PATCH", Path: "/domains/" + id, Body: map[string]any{"name": "bad name"}}).problem(400, "name")
		e.do(req{Method: "PATCH", Path: "/domains/" + id, Body: map[string]any{"status": "NOPE"}}).problem(400, "status")
		e.do(req{Method: "PATCH", Path: "/domains/" + id, Body: map[string]any{"customerId": "nonsense"}}).problem(422, "customerId")
		e.do(req{Method: "PATCH", Path: "/domains/zzzzzzz", Body: map[string]any{"description": "x"}}).problem(404, "")
	})
}

func TestDeleteRestorePurgeDomain(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) {
		id := e.newDomain("stark.net")
		start := time.Now().UnixMilli()
		e.do(req{Method: "DELETE", Path: "/domains/" + id}).expect(204)
		d := e.do(req{Method: "GET", Path: "/domains/" + id}).expect(200).json()
		del, purge := d["deletionDate"].(float64), d["purgeDate"].(float64)
		if d["status"] != "DELETED" || int64(del) < start || int64(purge-del) != (30*24*time.Hour).Milliseconds() {
			t.Errorf("after DELETE: status %v, deletionDate %v, purgeDate %v", d["status"], d["deletionDate"], d["purgeDate"])
		}
		e.do(req{Method: "DELETE", Path: "/domains/" + id}).problem(422, "already deleted")
		e.do(req{Method: "PATCH", Path: "/domains/" + id, Body: map[string]any{"description": "x"}}).problem(422, "restore")
		// The name stays reserved while the domain can be restored.
		e.do(req{Method: "POST", Path: "/domains", Body: map[string]any{"name": "stark.net", "status": "ENABLED", "quarantine": false,
			"retention": false, "archive": false, "defaultLanguage": "FR"}}).problem(409, "")

		e.do(req{Method: "PATCH", Path: "/domains/" + id, Body: map[string]any{"status": "ENABLED"}}).expect(204)
		d = e.do(req{Method: "GET", Path: "/domains/" + id}).expect(200).json()
		if d["status"] != "ENABLED" || d["deletionDate"] != nil || d["purgeDate"] != nil {
			t.Errorf("after restore: status %v, deletionDate %v, purgeDate %v", d["status"], d["deletionDate"], d["purgeDate"])
		}

		// Deleted again, and past its purge date, the purge removes it.
		e.do(req{Method: "DELETE", Path: "/domains/" + id}).expect(204)
		if n, err := e.store.PurgeDomains(context.Background(), time.Now().UnixMilli()); err != nil || n != 0 {
			t.Fatalf("purge before the delay removed %d, %v", n, err)
		}
		if n, err := e.store.PurgeDomains(context.Background(), time.Now().Add(31*24*time.Hour).UnixMilli()); err != nil || n != 1 {
			t.Fatalf("purge after the delay removed %d, %v; want 1", n, err)
		}
		e.do(req{Method: "GET", Path: "/domains/" + id}).problem(404, "")
		e.do(req{Method: "DELETE", Path: "/domains/" + id}).problem(404, "")
	})
}

func TestDomainsNeedSysadmin(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) {
		id := e.newDomain("stark.net")
		token := e.plainAdmin("ned")
		e.do(req{Method: "POST", Path: "/domains", Token: token, Body: map[string]any{"name": "x.net", "status": "ENABLED",
			"quarantine": false, "retention": false, "archive": false, "defaultLanguage": "FR"}}).problem(403, "sysadmin")
		e.do(req{Method: "DELETE", Path: "/domains/" + id, Token: token}).problem(403, "sysadmin")
		// Outside its reach, a domain is as unknown as a missing one.
		e.do(req{Method: "GET", Path: "/domains/" + id, Token: token}).problem(404, "")
		e.do(req{Method: "PATCH", Path: "/domains/" + id, Token: token, Body: map[string]any{"description": "x"}}).problem(404, "")
		// A list shows only what the caller may read: nothing, yet.
		r := e.do(req{Method: "GET", Path: "/domains", Token: token}).expect(200)
		if len(r.list()) != 0 || r.Header.Get("X-Total-Count") != "0" {
			t.Errorf("a domain-less admin sees %s (total %s)", r.Body, r.Header.Get("X-Total-Count"))
		}
		if d := e.do(req{Method: "GET", Path: "/domains/" + id}).expect(200).json(); d["description"] != nil {
			t.Errorf("a refused PATCH changed the domain: %v", d["description"])
		}
	})
}

// plainAdmin creates an enabled administrator without the sysadmin role,
// holding no authority, and returns a token for it.
func (e *env) plainAdmin(login string) string {
	e.t.Helper()
	a := &db.Admin{Login: login, Enabled: true}
	if err := e.store.CreateAdmin(context.Background(), a); err != nil {
		e.t.Fatal(err)
	}
	value := db.NewTokenValue()
	if err := e.store.CreateToken(context.Background(), &db.PersonalToken{AdminID: a.ID, Name: "t"}, value); err != nil {
		e.t.Fatal(err)
	}
	return value
}
