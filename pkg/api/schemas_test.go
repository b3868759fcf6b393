package api_test

import (
	"fmt"
	"sort"
	"strings"
	"testing"
)

// The contract's schemas say what the wire carries: a response property is
// required unless it is legitimately absent (listed below, saying when);
// null is `nullable`, never an absence. Every response is validated
// against openapi.yaml (validateResponse), so a required property the
// server leaves out fails the tests that meet it.

// optionalInResponses lists the properties of the response schemas that a
// response may leave out, and when. Any other property of a schema that a
// delivered operation answers with must be required, or writeOnly (never
// sent). The schemas that only undelivered operations answer with
// (undelivered.txt: health, DKIM, mail) are checked once delivered.
var optionalInResponses = map[string]string{
	// Embedded objects that may not exist (a nullable object would need a
	// copy of its schema marked nullable: see WblistDecisionRule).
	"Domain.customer": "the domain belongs to no customer",
	"User.platform":   "neither the user nor its domain has a platform",
	// What the doc's examples show.
	"PersonalToken.expiration":        "the token never expires (GET /admins/{adminId}/tokens, 2nd item)",
	"PersonalToken.lastUse":           "the token has never been used",
	"PersonalTokenCreated.expiration": "the token never expires",
	// The doc's diagnostics carry no ref; the relay checks are about the
	// platform asked about, and send none either.
	"HealthResult.ref": "the entry is about the object checked itself (every entry so far)",
	// Decided and documented (README, "Options").
	"Option.parentValue": "no scope above sets a value and the option has no default",
	// Problem details (RFC 9457).
	"Problem.instance": "the request's path is longer than the 8,192 characters a problem carries",
	"Problem.errors":   "the problem is not a validation failure",
}

// schemaRefs collects the names of the component schemas that v refers to,
// directly or through other schemas.
func schemaRefs(schemas map[string]any, v any, into map[string]bool) {
	switch x := v.(type) {
	case map[string]any:
		if ref, ok := x["$ref"].(string); ok && strings.HasPrefix(ref, "#/components/schemas/") {
			name := strings.TrimPrefix(ref, "#/components/schemas/")
			if !into[name] {
				into[name] = true
				schemaRefs(schemas, schemas[name], into)
			}
			return
		}
		for _, item := range x {
			schemaRefs(schemas, item, into)
		}
	case []any:
		for _, item := range x {
			schemaRefs(schemas, item, into)
		}
	}
}

// specSchemas returns the component schemas that the bodies of the
// requests (requests true) or of the responses of the delivered operations
// (requests false) use.
func specSchemas(t *testing.T, requests bool) (map[string]bool, map[string]any) {
	doc := specDoc(t)
	components := dig(t, doc, "components").(map[string]any)
	schemas := components["schemas"].(map[string]any)
	responses := components["responses"].(map[string]any)
	used := map[string]bool{}
	for _, item := range dig(t, doc, "paths").(map[string]any) {
		for _, v := range item.(map[string]any) {
			op, ok := v.(map[string]any)
			if !ok || op["operationId"] == nil {
				continue
			}
			if requests {
				schemaRefs(schemas, op["requestBody"], used)
				continue
			}
			if !delivered(op["operationId"].(string)) {
				continue
			}
			for _, r := range op["responses"].(map[string]any) {
				if ref, ok := r.(map[string]any)["$ref"].(string); ok {
					r = responses[strings.TrimPrefix(ref, "#/components/responses/")]
				}
				schemaRefs(schemas, r, used)
			}
		}
	}
	return used, schemas
}

func TestResponsePropertiesAreRequiredOrAllowedAbsent(t *testing.T) {
	used, schemas := specSchemas(t, false)
	optional := map[string]bool{}
	for name := range used {
		s := schemas[name].(map[string]any)
		props, _ := s["properties"].(map[string]any)
		required := map[string]bool{}
		for _, r := range asList(s["required"]) {
			required[r.(string)] = true
		}
		for p, v := range props {
			// writeOnly: never in a response (the credentials of a
			// platform, whose responses carry null in their place).
			if wo, _ := v.(map[string]any)["writeOnly"].(bool); !required[p] && !wo {
				optional[name+"."+p] = true
			}
		}
	}
	var missing, stale []string
	for p := range optional {
		if _, ok := optionalInResponses[p]; !ok {
			missing = append(missing, p)
		}
	}
	for p := range optionalInResponses {
		if !optional[p] {
			stale = append(stale, p)
		}
	}
	sort.Strings(missing)
	sort.Strings(stale)
	for _, p := range missing {
		t.Errorf("%s is optional in a response schema: make it required (the server must always send it, null when it has no value), or list it in optionalInResponses saying when it is absent", p)
	}
	for _, p := range stale {
		t.Errorf("optionalInResponses lists %s, which is not an optional property of a response schema", p)
	}
}

// A request body declares only what a client may send: nothing readOnly,
// which belongs in the response schemas (Xxx, against XxxAdd/XxxUpdate).
func TestRequestSchemasHaveNoServerSetProperties(t *testing.T) {
	used, schemas := specSchemas(t, true)
	for name := range used {
		props, _ := schemas[name].(map[string]any)["properties"].(map[string]any)
		for p, v := range props {
			if ro, _ := v.(map[string]any)["readOnly"].(bool); ro {
				t.Errorf("%s.%s is readOnly but %s is a request body (or part of one): split the schema", name, p, name)
			}
		}
	}
}

// The forms of nullability that every tool reads alike (STACK.md,
// "Nullability across third-party tools"): Prism adds null to the enum of
// a nullable schema itself (a second null makes it fail to compile), and
// reads `type: object` + `nullable` + `allOf` as "must be an object".
func TestNullabilityIsPortable(t *testing.T) {
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for _, e := range asList(x["enum"]) {
				if e == nil {
					t.Errorf("%s: the enum lists null (nullable: true says it; Prism would see it twice)", path)
				}
			}
			if nullable, _ := x["nullable"].(bool); nullable {
				for _, kw := range []string{"allOf", "oneOf", "anyOf"} {
					if x[kw] != nil && x["type"] == "object" {
						t.Errorf("%s: type object, nullable and %s: validators read it as \"must be an object\"; refer to a schema that is itself nullable", path, kw)
					}
				}
			}
			if props, ok := x["properties"].(map[string]any); ok {
				for name, p := range props {
					if pm, ok := p.(map[string]any); ok && pm["type"] == "object" && pm["nullable"] == true {
						t.Errorf("%s.%s: an inline nullable object; refer to a component schema that is itself nullable", path, name)
					}
				}
			}
			for k, item := range x {
				if k != "example" && k != "examples" {
					walk(path+"/"+k, item)
				}
			}
		case []any:
			for i, item := range x {
				walk(fmt.Sprintf("%s/%d", path, i), item)
			}
		}
	}
	walk("#", specDoc(t))
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

// TestUnsetValuesAreSentAsNull covers the properties the server used to
// leave out when it had no value for them (a nil pointer): each is sent,
// as null.
func TestUnsetValuesAreSentAsNull(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) {
		// A domain with a platform that names no auth type, no customer.
		stark := e.newDomain("stark.net", map[string]any{"platforms": []any{
			map[string]any{"name": "Winterfell", "transportDest": "smtp.stark.net", "transportType": "SMTP", "transportPort": 25}}})
		d := e.do(req{Method: "GET", Path: "/domains/" + stark}).expect(200).json()
		if _, ok := d["customer"]; ok {
			t.Errorf("customer of a domain without one: %v, want it absent", d["customer"])
		}
		platform := d["platforms"].([]any)[0].(map[string]any)

		admin := e.do(req{Method: "POST", Path: "/domains/" + stark + "/admins", Body: map[string]any{"login": "ned", "permissions": []string{"DOMAIN_READ"}}}).expect(200).json()
		customer := e.do(req{Method: "POST", Path: "/customers", Body: map[string]any{"name": "Winterfell"}}).expect(201).json()
		user := e.do(req{Method: "GET", Path: "/users/" + e.newUser(stark, "arya@stark.net")}).expect(200).json()
		rule := e.do(req{Method: "POST", Path: "/domains/" + stark + "/filters/uris", Body: map[string]any{"action": "WHITELIST_URI_HOST", "filter": "stark.net"}}).expect(201).json()

		for _, tc := range []struct {
			what string
			obj  map[string]any
			keys []string
		}{
			{"an administrator created with a login alone", admin, []string{"displayName", "email", "language", "lastConnectionDate"}},
			{"a customer of no broker", customer, []string{"brokerId"}},
			{"a user created without names", user, []string{"firstname", "lastname", "mfaType", "lastConnectionDate"}},
			{"a platform without auth type", platform, []string{"authType", "fallbackTransportType", "apiType", "apiData", "authData"}},
			{"a URI rule without description", rule, []string{"description"}},
		} {
			for _, k := range tc.keys {
				if v, ok := tc.obj[k]; !ok || v != nil {
					t.Errorf("%s: %s = %v (present %v), want null", tc.what, k, v, ok)
				}
			}
		}
		if user["domainPlatformId"] != platform["id"] || user["platform"].(map[string]any)["id"] != platform["id"] {
			t.Errorf("user's domainPlatformId %v, platform %v, want %v", user["domainPlatformId"], user["platform"], platform["id"])
		}

		// A domain without platforms: its users have no platform at all.
		bare := e.newDomain("bolton.net")
		u := e.do(req{Method: "GET", Path: "/users/" + e.newUser(bare, "ramsay@bolton.net")}).expect(200).json()
		if v, ok := u["domainPlatformId"]; !ok || v != nil {
			t.Errorf("domainPlatformId of a domain without platforms: %v (present %v), want null", v, ok)
		}
		if _, ok := u["platform"]; ok {
			t.Errorf("platform of a user whose domain has none: %v, want it absent", u["platform"])
		}
	})
}
