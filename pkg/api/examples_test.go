package api_test

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"

	"gopkg.in/yaml.v3"
)

// The doc's examples are embedded in openapi.yaml; the tests replay them.

var (
	rawSpecOnce sync.Once
	rawSpec     map[string]any
)

func specDoc(t testing.TB) map[string]any {
	rawSpecOnce.Do(func() {
		b, err := os.ReadFile("../../openapi.yaml")
		if err != nil {
			panic(err)
		}
		if err := yaml.Unmarshal(b, &rawSpec); err != nil {
			panic(err)
		}
	})
	return rawSpec
}

// dig walks the spec document along keys.
func dig(t testing.TB, v any, keys ...string) any {
	t.Helper()
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("spec: %q is not under an object", k)
		}
		if v, ok = m[k]; !ok {
			t.Fatalf("spec: no %q (path %v)", k, keys)
		}
	}
	return v
}

// requestExample and responseExample return the doc's example bodies of an
// operation, as JSON-compatible values.
func requestExample(t testing.TB, path, method string) any {
	return jsonify(dig(t, specDoc(t), "paths", path, method, "requestBody", "content", "application/json", "example"))
}

func responseExample(t testing.TB, path, method, status string) any {
	return jsonify(dig(t, specDoc(t), "paths", path, method, "responses", status, "content", "application/json", "example"))
}

func jsonify(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	var out any
	_ = json.Unmarshal(b, &out)
	return out
}

// volatile fields differ between the doc's run and ours: ids and dates.
var volatile = map[string]bool{
	"id": true, "domainId": true, "customerId": true, "brokerId": true, "policyId": true, "platformId": true,
	"creationDate": true, "createdAt": true, "deletionDate": true, "purgeDate": true, "lastUse": true, "value": true,
}

// sameAsExample reports every difference between got and the doc's
// example want, ignoring ids, dates and the keys in skip.
func sameAsExample(t testing.TB, got, want any, skip ...string) {
	t.Helper()
	ignore := map[string]bool{}
	for _, k := range skip {
		ignore[k] = true
	}
	var diffs []string
	var walk func(path string, g, w any)
	walk = func(path string, g, w any) {
		switch wv := w.(type) {
		case map[string]any:
			gv, ok := g.(map[string]any)
			if !ok {
				diffs = append(diffs, fmt.Sprintf("%s: got %v, want an object", path, g))
				return
			}
			for k, x := range wv {
				if volatile[k] || ignore[k] {
					continue
				}
				y, present := gv[k]
				if !present {
					diffs = append(diffs, fmt.Sprintf("%s.%s: missing (example has %v)", path, k, x))
					continue
				}
				walk(path+"."+k, y, x)
			}
			for k := range gv {
				if _, ok := wv[k]; !ok && !volatile[k] && !ignore[k] {
					diffs = append(diffs, fmt.Sprintf("%s.%s: not in the example", path, k))
				}
			}
		case []any:
			gv, ok := g.([]any)
			if !ok || len(gv) != len(wv) {
				diffs = append(diffs, fmt.Sprintf("%s: got %v, want %v", path, g, w))
				return
			}
			for i := range wv {
				walk(fmt.Sprintf("%s[%d]", path, i), gv[i], wv[i])
			}
		default:
			if !reflect.DeepEqual(g, w) {
				diffs = append(diffs, fmt.Sprintf("%s: got %v, want %v", path, g, w))
			}
		}
	}
	walk("", got, want)
	if len(diffs) > 0 {
		t.Errorf("response differs from the doc's example:\n  %s", strings.Join(diffs, "\n  "))
	}
}

func jsonBytes(t testing.TB, v any) []byte {
	b, err := json.Marshal(jsonify(v))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
