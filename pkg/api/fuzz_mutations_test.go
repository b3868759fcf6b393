package api_test

import (
	"encoding/json"
	"math/rand/v2"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"unicode/utf16"

	"github.com/getkin/kin-openapi/openapi3"
)

// Mutations of a valid request: one or two of them, each a way a client
// can be wrong (or hostile).

// maxBody bounds a mutated body: bodies stay within 1 MiB.
const maxBody = 1 << 20

type fzMutation struct {
	name    string
	weight  int
	applies func(fz *fuzzer, fr *fuzzReq) bool
	apply   func(fz *fuzzer, r *rand.Rand, fr *fuzzReq) bool
}

var fzMutations []fzMutation

func init() {
	hasPath := func(_ *fuzzer, fr *fuzzReq) bool { return len(fr.op.pathParams) > 0 }
	hasQuery := func(_ *fuzzer, fr *fuzzReq) bool { return len(queryParams(fr.op)) > 0 }
	hasTree := func(_ *fuzzer, fr *fuzzReq) bool { return fr.hasValue && !fr.hasRaw }
	hasBody := func(_ *fuzzer, fr *fuzzReq) bool { return fr.op.body != nil }
	noBody := func(_ *fuzzer, fr *fuzzReq) bool { return fr.op.body == nil }
	always := func(*fuzzer, *fuzzReq) bool { return true }
	hasRef := func(_ *fuzzer, fr *fuzzReq) bool { return len(refParams(fr)) > 0 || len(refNodes(fr)) > 0 }
	fzMutations = []fzMutation{
		{"odd-id", 14, hasPath, mutateOddID},
		{"ref-id", 6, hasRef, mutateRefID},
		{"query-type", 4, hasQuery, mutateQueryType},
		{"query-range", 3, hasQuery, mutateQueryRange},
		{"query-hostile", 5, hasQuery, mutateQueryHostile},
		{"query-huge", 2, hasQuery, mutateQueryHuge},
		{"query-missing", 2, hasQuery, mutateQueryMissing},
		{"query-extra", 3, always, mutateQueryExtra},
		{"header", 3, always, mutateHeader},
		{"body-type", 8, hasTree, mutateBodyType},
		{"body-missing", 6, hasTree, mutateBodyMissing},
		{"body-null", 5, hasTree, mutateBodyNull},
		{"body-extra", 5, hasTree, mutateBodyExtra},
		{"body-huge", 5, hasTree, mutateBodyHuge},
		{"body-hostile", 10, hasTree, mutateBodyHostile},
		{"body-number", 5, hasTree, mutateBodyNumber},
		{"body-array", 4, hasTree, mutateBodyArray},
		{"body-deep", 2, hasTree, mutateBodyDeep},
		{"enum-case", 2, hasTree, mutateEnumCase},
		{"body-malformed", 7, hasBody, mutateMalformed},
		{"content-type", 6, hasBody, mutateContentType},
		{"no-body", 4, hasBody, mutateNoBody},
		{"unexpected-body", 3, noBody, mutateUnexpectedBody},
	}
}

func (fz *fuzzer) mutate(r *rand.Rand, fr *fuzzReq) {
	n := 1
	if r.IntN(4) == 0 {
		n = 2
	}
	for range n {
		var ms []fzMutation
		total := 0
		for _, m := range fzMutations {
			if m.applies(fz, fr) {
				ms = append(ms, m)
				total += m.weight
			}
		}
		k := r.IntN(total)
		for _, m := range ms {
			if k < m.weight {
				if m.apply(fz, r, fr) {
					fr.mutations = append(fr.mutations, m.name)
				}
				break
			}
			k -= m.weight
		}
	}
}

// hostileStrings are what a careless or malicious client sends as text.
var hostileStrings = []string{
	"", " ", "a\x00b", "\x00", "\xff\xfe\xfd", "a\xc3", "\xed\xa0\x80", "\u202egnp.exe", "\u200b", "\ufeff", "😀", "👨‍👩‍👧‍👦", "e\u0301",
	"%", "_", "*", "%_*", "**", "\\", "'", "\"", "`", "' OR '1'='1", "'; DROP TABLE domains; --", "\" OR 1=1 --",
	"1; SELECT pg_sleep(3)", "a' || 'b", "$where", "{\"$gt\":\"\"}", "<script>alert(1)</script>", "../../../etc/passwd",
	"\r\n", "\t", "line1\nline2", "null", "true", "0", "-1", "NaN", "${jndi:ldap://x}", "{{7*7}}", "%00", "%2e%2e%2f",
	"a@b", "@", "@@", "x@", "@x.example", "a@@b.example", "a@b.example\x00.evil", strings.Repeat("a", 65) + "@x.example",
	"ned@" + strings.Repeat("a", 64) + ".example", "xn--", "xn--zz", "-a.example", "a..b", ".", "..", "localhost", "127.0.0.1",
	"[::1]", "ÿ", "\ud7ff", "Ω", "ﬀ", "İ", "ß", "Straße.example", "\u0085", "\u2028",
}

// hostile returns a hostile string, alone or around a valid one.
func hostileString(r *rand.Rand, valid string) string {
	h := hostileStrings[r.IntN(len(hostileStrings))]
	switch r.IntN(5) {
	case 0:
		return valid + h
	case 1:
		return h + valid
	}
	return h
}

// hugeString is a long run of one character, between the declared
// maximum and the body's budget.
func hugeString(r *rand.Rand, s *openapi3.Schema, budget int) string {
	unit := pickOne(r, "a", "a", "é", "😀", "*", "%", " ", "\x00")
	var n int
	if ml := maxLengthOf(s); ml >= 0 && r.IntN(2) == 0 {
		n = ml + r.IntN(2) // exactly the maximum, and one more
	} else {
		n = pickOne(r, 256, 1000, 4096, 10000, 65536, 65536, 262144, maxBody)
	}
	size := len(marshalJSON(unit)) - 2 // as sent: a NUL is \u0000
	n = max(0, min(n, (budget-64)/size))
	return strings.Repeat(unit, n)
}

// oddNumbers are numbers out of every range, or of the wrong kind.
var oddNumbers = []string{
	"-1", "0", "-0", "0.5", "1.0", "1e2", "2147483647", "2147483648", "-2147483649", "4294967296",
	"9223372036854775807", "9223372036854775808", "-9223372036854775809", "18446744073709551616",
	"123456789012345678901234567890", "1e308", "1e400", "-1e400", "4.9e-324", "1e-400", "100000000000000000000000",
}

// queryParams are the operation's query parameters.
func queryParams(o *fuzzOp) []*openapi3.Parameter {
	var out []*openapi3.Parameter
	for _, p := range o.params {
		if p.In == "query" {
			out = append(out, p)
		}
	}
	return out
}

func setQuery(fr *fuzzReq, name, value string, raw bool) {
	for i := range fr.query {
		if fr.query[i].name == name {
			fr.query[i].value, fr.query[i].raw = value, raw
			return
		}
	}
	fr.query = append(fr.query, fzQuery{name: name, value: value, raw: raw})
}

func pickParam(r *rand.Rand, ps []*openapi3.Parameter, types ...string) *openapi3.Parameter {
	var fit []*openapi3.Parameter
	for _, p := range ps {
		for _, t := range types {
			if s := p.Schema; s != nil && s.Value.Type.Is(t) {
				fit = append(fit, p)
			}
		}
	}
	if len(fit) == 0 {
		fit = ps
	}
	return fit[r.IntN(len(fit))]
}

func mutateOddID(fz *fuzzer, r *rand.Rand, fr *fuzzReq) bool {
	name := fr.op.pathParams[r.IntN(len(fr.op.pathParams))]
	val, raw := fz.oddID(r, fr, name)
	dec := val
	if raw {
		dec, _ = url.PathUnescape(val)
	}
	if name == "adminId" && fr.op.method() != "GET" {
		if key, ok := fz.e.ids.Decode(dec); ok && key == 1 {
			return false // the account the run acts as
		}
	}
	fr.pathVals[name] = dec
	delete(fr.objs, name)
	path := fr.op.path
	for _, p := range fr.op.pathParams {
		v := url.PathEscape(fr.pathVals[p])
		if p == name && raw {
			v = val
		}
		path = strings.Replace(path, "{"+p+"}", v, 1)
	}
	fr.path = path
	return true
}

// oddID is an id that names nothing, something else, or something gone;
// raw says it is already percent-encoded.
func (fz *fuzzer) oddID(r *rand.Rand, fr *fuzzReq, name string) (string, bool) {
	real := fr.pathVals[name]
	switch r.IntN(10) {
	case 0, 1: // another kind's id
		var others []string
		for _, o := range fz.pool.objs {
			if o.id != real && o.kind != "token" && o.kind != "option" {
				others = append(others, o.id)
			}
		}
		if len(others) > 0 {
			return others[r.IntN(len(others))], false
		}
	case 2: // a deleted object's id
		if len(fz.pool.deleted) > 0 {
			return fz.pool.deleted[r.IntN(len(fz.pool.deleted))], false
		}
	case 3: // the real one, altered
		if real != "" {
			switch r.IntN(5) {
			case 0:
				return swapCase(real), false
			case 1:
				return real + "x", false
			case 2:
				return real[:len(real)-1], false
			case 3:
				return real + real, false
			}
			return " " + real, false
		}
	case 4: // percent-encoded
		return pickOne(r, "%2e%2e", "%2F", "a%2Fb", "%252F", "%C3%A9", "%E2%80%AE", "x%0Ay", "%2A", "%5F", "%25", "%20", "%2e",
			"%FF", "%00", "%C0%AE", url.PathEscape(real)+"%00"), true
	case 5:
		if name == "userId" {
			d := "nowhere.example"
			if o := fz.pool.pick(r, "domain", ""); o != nil {
				d = o.name
			}
			return pickOne(r, "nobody@"+d, "NED@"+strings.ToUpper(d), "ned@", "@"+d, "a@b@"+d, "ned+tag@"+d,
				strings.Repeat("a", 250)+"@"+d, "%40"+d), false
		}
	}
	return pickOne(r, "0", "-1", "1", "00000", "zzzzzzz", "ByE3n", "ByE3nq", "a", strings.Repeat("a", 65), strings.Repeat("Z", 255),
		strings.Repeat("9", 5000), ".", "..", "*", "_", "%", "'", "' OR '1'='1", "é", "😀", "\u202eevil", "a b", "null", "NaN",
		"true", "[]", "{}", "a\x00b", "\xff", "", "ByE3n;", "ByE3n?x=1", "ByE3n#x"), false
}

func swapCase(s string) string {
	out := []rune(s)
	for i, c := range out {
		switch {
		case c >= 'a' && c <= 'z':
			out[i] = c - 32
		case c >= 'A' && c <= 'Z':
			out[i] = c + 32
		}
	}
	return string(out)
}

// isRef tells the names of fields and parameters that hold ids.
func isRef(name string) bool {
	return name == "id" || strings.HasSuffix(name, "Id") || strings.HasSuffix(name, "Ids")
}

func refParams(fr *fuzzReq) []*openapi3.Parameter {
	var out []*openapi3.Parameter
	for _, p := range queryParams(fr.op) {
		if isRef(p.Name) {
			out = append(out, p)
		}
	}
	return out
}

// refNodes are the body's ids: values of id fields, and items of id lists.
func refNodes(fr *fuzzReq) []fzNode {
	if !fr.hasValue || fr.hasRaw {
		return nil
	}
	var out []fzNode
	for _, n := range nodes(fr.value, nil, nil) {
		for i := len(n.path) - 1; i >= 0; i-- {
			if k, ok := n.path[i].(string); ok {
				if isRef(k) && isLeaf(n) {
					out = append(out, n)
				}
				break
			}
		}
	}
	return out
}

// mutateRefID puts an odd id where a query parameter or a body field
// refers to an object: another kind's, a deleted one's, or none.
func mutateRefID(fz *fuzzer, r *rand.Rand, fr *fuzzReq) bool {
	val, raw := fz.oddID(r, fr, "")
	if raw {
		val, _ = url.PathUnescape(val)
	}
	ps, ns := refParams(fr), refNodes(fr)
	if len(ns) == 0 || len(ps) > 0 && r.IntN(2) == 0 {
		setQuery(fr, ps[r.IntN(len(ps))].Name, val, false)
		return true
	}
	setNode(fr, ns[r.IntN(len(ns))].path, val)
	return true
}

func mutateQueryType(fz *fuzzer, r *rand.Rand, fr *fuzzReq) bool {
	p := pickParam(r, queryParams(fr.op), "integer", "boolean", "number")
	setQuery(fr, p.Name, pickOne(r, "abc", "1.5", "", "1e3", "0x10", " 7", "７", "true", "-0", "+1", "1,2", "[1]", "null", "NaN", "∞"), false)
	return true
}

func mutateQueryRange(fz *fuzzer, r *rand.Rand, fr *fuzzReq) bool {
	p := pickParam(r, queryParams(fr.op), "integer", "number")
	vals := []string{"-1", "0", "1001", "2147483647", "2147483648", "-2147483649", "9223372036854775807", "9223372036854775808", "99999999999999999999999"}
	if s := p.Schema; s != nil {
		if s.Value.Min != nil {
			vals = append(vals, strconv.FormatFloat(*s.Value.Min-1, 'f', -1, 64))
		}
		if s.Value.Max != nil {
			vals = append(vals, strconv.FormatFloat(*s.Value.Max+1, 'f', -1, 64))
		}
	}
	setQuery(fr, p.Name, vals[r.IntN(len(vals))], false)
	return true
}

func mutateQueryHostile(fz *fuzzer, r *rand.Rand, fr *fuzzReq) bool {
	p := pickParam(r, queryParams(fr.op), "string")
	valid := ""
	for _, q := range fr.query {
		if q.name == p.Name {
			valid = q.value
		}
	}
	setQuery(fr, p.Name, hostileString(r, valid), false)
	return true
}

func mutateQueryHuge(fz *fuzzer, r *rand.Rand, fr *fuzzReq) bool {
	p := pickParam(r, queryParams(fr.op), "string")
	setQuery(fr, p.Name, strings.Repeat(pickOne(r, "a", "é", "*", "%"), pickOne(r, 255, 256, 4096, 65536)), false)
	return true
}

func mutateQueryMissing(fz *fuzzer, r *rand.Rand, fr *fuzzReq) bool {
	if len(fr.query) == 0 {
		return false
	}
	i := r.IntN(len(fr.query))
	for j, q := range fr.query {
		if p := fr.op.param("query", q.name); p != nil && p.Required {
			i = j
		}
	}
	fr.query = append(fr.query[:i:i], fr.query[i+1:]...)
	return true
}

func mutateQueryExtra(fz *fuzzer, r *rand.Rand, fr *fuzzReq) bool {
	switch r.IntN(5) {
	case 0:
		fr.query = append(fr.query, fzQuery{name: pickOne(r, "unknown", "__proto__", "pageSize[]", "sort", "", "a\x00b", "name", "email"), value: pickOne(r, "1", "x", "", "*")})
	case 1:
		if len(fr.query) > 0 {
			q := fr.query[r.IntN(len(fr.query))]
			fr.query = append(fr.query, fzQuery{name: q.name, value: pickOne(r, "1", "other", "", "-id")})
		} else {
			fr.query = append(fr.query, fzQuery{name: "offset", value: "1"}, fzQuery{name: "offset", value: "2"})
		}
	case 2:
		fr.rawQuery = fr.encodedQuery() + pickOne(r, "&%zz=1", "&a=%", "&&&", "&=x", ";x=1", "&x=%zz", "&%00=1", "&sort=%ff", "&+=+")
	case 3:
		fr.query = append(fr.query, fzQuery{name: "sort", value: pickOne(r, "-", "--name", "name,id", "password", "hash", "id;drop", "-id", "+name", "NAME", "createdAt")})
	default:
		fr.query = append(fr.query, fzQuery{name: "offset", value: pickOne(r, "1000000000", "-5")}, fzQuery{name: "pageSize", value: pickOne(r, "0", "1000", "1001")})
	}
	return true
}

func mutateHeader(fz *fuzzer, r *rand.Rand, fr *fuzzReq) bool {
	switch r.IntN(4) {
	case 0, 1:
		fr.header = append(fr.header, [2]string{"Accept", pickOne(r, "application/vnd.ms-excel", "text/html", "application/xml", "*/*",
			"application/json;q=0", "application/vnd.ms-excel;q=0.9, application/json;q=0.1", "garbage", "", "application/problem+json",
			"application/vnd.ms-excel, */*;q=0.1", "text/plain")})
	case 2:
		fr.header = append(fr.header, [2]string{"X-Request-Id", pickOne(r, strings.Repeat("r", 5000), "<script>", "../../x", "id with spaces", "é", "", "%00")})
	default:
		name := pickOne(r, "X-Ignore-MX", "X-Virus-Lover")
		for _, p := range fr.op.params {
			if p.In == "header" {
				name = p.Name
			}
		}
		fr.header = append(fr.header, [2]string{name, pickOne(r, "maybe", "", "0", "TRUE", "yes", strings.Repeat("1", 10000), "' OR 1=1", "é")})
	}
	return true
}

// fzNode is a value of the JSON body and where it is.
type fzNode struct {
	path []any // keys and indexes
	v    any
}

func nodes(v any, path []any, out []fzNode) []fzNode {
	out = append(out, fzNode{path, v})
	switch x := v.(type) {
	case map[string]any:
		keys := sortedKeys(x)
		for _, k := range keys {
			out = nodes(x[k], append(path[:len(path):len(path)], k), out)
		}
	case []any:
		for i, item := range x {
			out = nodes(item, append(path[:len(path):len(path)], i), out)
		}
	}
	return out
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// pickNode picks a node for which want holds, else any node.
func pickNode(r *rand.Rand, fr *fuzzReq, want func(fzNode) bool) fzNode {
	all := nodes(fr.value, nil, nil)
	var fit []fzNode
	for _, n := range all {
		if want == nil || want(n) {
			fit = append(fit, n)
		}
	}
	if len(fit) == 0 {
		fit = all
	}
	return fit[r.IntN(len(fit))]
}

func setNode(fr *fuzzReq, path []any, v any) {
	if len(path) == 0 {
		fr.value = v
		return
	}
	parent := fr.value
	for _, p := range path[:len(path)-1] {
		switch x := parent.(type) {
		case map[string]any:
			parent = x[p.(string)]
		case []any:
			parent = x[p.(int)]
		}
	}
	switch x := parent.(type) {
	case map[string]any:
		x[path[len(path)-1].(string)] = v
	case []any:
		x[path[len(path)-1].(int)] = v
	}
}

// schemaAt is the schema of the body's value at path.
func schemaAt(s *openapi3.Schema, path []any) *openapi3.Schema {
	for _, p := range path {
		if s == nil {
			return nil
		}
		switch k := p.(type) {
		case string:
			s = propertyOf(s, k)
		case int:
			s = itemsOf(s)
		}
	}
	return s
}

func subSchemas(s *openapi3.Schema) []*openapi3.Schema {
	var out []*openapi3.Schema
	for _, group := range []openapi3.SchemaRefs{s.AllOf, s.OneOf, s.AnyOf} {
		for _, sub := range group {
			out = append(out, sub.Value)
		}
	}
	return out
}

func propertyRef(s *openapi3.Schema, k string) *openapi3.SchemaRef {
	if p := s.Properties[k]; p != nil {
		return p
	}
	for _, sub := range subSchemas(s) {
		if p := propertyRef(sub, k); p != nil {
			return p
		}
	}
	return s.AdditionalProperties.Schema
}

func itemsRef(s *openapi3.Schema) *openapi3.SchemaRef {
	if s.Items != nil {
		return s.Items
	}
	for _, sub := range subSchemas(s) {
		if it := itemsRef(sub); it != nil {
			return it
		}
	}
	return nil
}

func propertyOf(s *openapi3.Schema, k string) *openapi3.Schema {
	if p := propertyRef(s, k); p != nil {
		return p.Value
	}
	return nil
}

func itemsOf(s *openapi3.Schema) *openapi3.Schema {
	if it := itemsRef(s); it != nil {
		return it.Value
	}
	return nil
}

// arrayItems is the items' schema of the body's array at path, with the
// names the generator's hints know them by (see fzBuilder.gen).
func arrayItems(o *fuzzOp, path []any) (items *openapi3.SchemaRef, owner, prop string) {
	ref, name := o.body, o.id
	if ref.Ref != "" {
		name = refName(ref.Ref)
	}
	for _, p := range path {
		var next *openapi3.SchemaRef
		switch k := p.(type) {
		case string:
			next, prop = propertyRef(ref.Value, k), k
		case int:
			next, prop = itemsRef(ref.Value), prop+"[]"
		}
		if next == nil {
			return nil, "", ""
		}
		ref = next
		if ref.Ref != "" {
			name = refName(ref.Ref)
		}
	}
	if items = itemsRef(ref.Value); items == nil {
		return nil, "", ""
	}
	return items, name, prop + "[]"
}

func maxLengthOf(s *openapi3.Schema) int {
	if s == nil {
		return -1
	}
	if s.MaxLength != nil {
		return int(*s.MaxLength)
	}
	for _, sub := range subSchemas(s) {
		if n := maxLengthOf(sub); n >= 0 {
			return n
		}
	}
	return -1
}

func maxItemsOf(s *openapi3.Schema) int {
	if s == nil {
		return -1
	}
	if s.MaxItems != nil {
		return int(*s.MaxItems)
	}
	for _, sub := range subSchemas(s) {
		if n := maxItemsOf(sub); n >= 0 {
			return n
		}
	}
	return -1
}

func requiredOf(s *openapi3.Schema) []string {
	if s == nil {
		return nil
	}
	out := append([]string(nil), s.Required...)
	for _, sub := range s.AllOf {
		out = append(out, requiredOf(sub.Value)...)
	}
	return out
}

func enumOf(s *openapi3.Schema) []any {
	if s == nil {
		return nil
	}
	if len(s.Enum) > 0 {
		return s.Enum
	}
	for _, sub := range subSchemas(s) {
		if e := enumOf(sub); len(e) > 0 {
			return e
		}
	}
	return nil
}

func (fr *fuzzReq) bodySchema() *openapi3.Schema { return fr.op.body.Value }

func (fr *fuzzReq) budget() int { return maxBody - len(marshalJSON(fr.value)) }

func isString(n fzNode) bool { _, ok := n.v.(string); return ok }
func isObject(n fzNode) bool { _, ok := n.v.(map[string]any); return ok }
func isArray(n fzNode) bool  { _, ok := n.v.([]any); return ok }
func isNumber(n fzNode) bool { _, ok := n.v.(float64); return ok }
func isLeaf(n fzNode) bool   { return !isObject(n) && !isArray(n) }

func mutateBodyType(fz *fuzzer, r *rand.Rand, fr *fuzzReq) bool {
	n := pickNode(r, fr, nil)
	var v any
	switch n.v.(type) {
	case string:
		v = pickOne[any](r, 123.0, true, map[string]any{}, []any{"x"}, json.Number("-1"))
	case float64:
		v = pickOne[any](r, "12", true, []any{1.0}, map[string]any{"value": 1.0}, "")
	case bool:
		v = pickOne[any](r, "true", 1.0, 0.0, []any{}, "yes")
	case map[string]any:
		v = pickOne[any](r, []any{}, "object", 1.0, []any{clone(n.v)}, false)
	case []any:
		v = pickOne[any](r, map[string]any{}, "a,b", 1.0, map[string]any{"0": "x"}, true)
	default:
		v = pickOne[any](r, "x", 0.0, false, []any{}, map[string]any{})
	}
	setNode(fr, n.path, v)
	return true
}

func mutateBodyMissing(fz *fuzzer, r *rand.Rand, fr *fuzzReq) bool {
	type cand struct {
		obj map[string]any
		key string
	}
	var required, every []cand
	for _, n := range nodes(fr.value, nil, nil) {
		m, ok := n.v.(map[string]any)
		if !ok {
			continue
		}
		req := requiredOf(schemaAt(fr.bodySchema(), n.path))
		for _, k := range sortedKeys(m) {
			c := cand{m, k}
			every = append(every, c)
			for _, rk := range req {
				if rk == k {
					required = append(required, c)
				}
			}
		}
	}
	if len(required) == 0 {
		required = every
	}
	if len(required) == 0 {
		return false
	}
	c := required[r.IntN(len(required))]
	delete(c.obj, c.key)
	return true
}

func mutateBodyNull(fz *fuzzer, r *rand.Rand, fr *fuzzReq) bool {
	n := pickNode(r, fr, nil)
	setNode(fr, n.path, nil)
	return true
}

func mutateBodyExtra(fz *fuzzer, r *rand.Rand, fr *fuzzReq) bool {
	n := pickNode(r, fr, isObject)
	m, ok := n.v.(map[string]any)
	if !ok {
		if a, ok := n.v.([]any); ok {
			setNode(fr, n.path, append(a, map[string]any{"unknown": true}))
			return true
		}
		return false
	}
	k := pickOne(r, "unknownField", "id", "__proto__", "constructor", "", "a\x00b", "$where", "créé", "password", "sysAdmin",
		"admin", "authorities", "domainId", "status", "createdAt", "value", "NAME", "name ")
	m[k] = pickOne[any](r, true, "x", 1.0, map[string]any{}, []any{}, nil, "SYSADMIN")
	return true
}

func mutateBodyHuge(fz *fuzzer, r *rand.Rand, fr *fuzzReq) bool {
	n := pickNode(r, fr, isString)
	setNode(fr, n.path, hugeString(r, schemaAt(fr.bodySchema(), n.path), fr.budget()+len(marshalJSON(n.v))))
	return true
}

func mutateBodyHostile(fz *fuzzer, r *rand.Rand, fr *fuzzReq) bool {
	if r.IntN(6) == 0 {
		// A hostile key.
		if n := pickNode(r, fr, isObject); isObject(n) {
			m := n.v.(map[string]any)
			for _, k := range sortedKeys(m) {
				m[hostileString(r, k)] = m[k]
				delete(m, k)
				return true
			}
		}
	}
	n := pickNode(r, fr, isString)
	s, _ := n.v.(string)
	if ss, ok := n.v.([]any); ok && len(ss) > 0 {
		n.path = append(n.path, 0)
		s, _ = ss[0].(string)
	}
	setNode(fr, n.path, hostileString(r, s))
	return true
}

func mutateBodyNumber(fz *fuzzer, r *rand.Rand, fr *fuzzReq) bool {
	n := pickNode(r, fr, isNumber)
	if !isLeaf(n) && len(n.path) == 0 {
		return false
	}
	vals := oddNumbers
	if s := schemaAt(fr.bodySchema(), n.path); s != nil {
		if s.Min != nil {
			vals = append(vals[:len(vals):len(vals)], strconv.FormatFloat(*s.Min-1, 'f', -1, 64))
		}
		if s.Max != nil {
			vals = append(vals[:len(vals):len(vals)], strconv.FormatFloat(*s.Max+1, 'f', -1, 64))
		}
	}
	setNode(fr, n.path, json.Number(vals[r.IntN(len(vals))]))
	return true
}

func mutateBodyArray(fz *fuzzer, r *rand.Rand, fr *fuzzReq) bool {
	n := pickNode(r, fr, isArray)
	a, ok := n.v.([]any)
	if !ok {
		return false
	}
	if r.IntN(3) == 0 {
		setNode(fr, n.path, []any{})
		return true
	}
	var item any = "x"
	if len(a) > 0 {
		item = a[0]
	}
	if r.IntN(2) == 0 {
		// Distinct valid items, as many as a bulk write may get.
		if items, owner, prop := arrayItems(fr.op, n.path); items != nil {
			b := &fzBuilder{fz: fz, r: r, op: fr.op, fr: fr, scope: fr.scope}
			budget := fr.budget() + len(marshalJSON(n.v))
			out := []any{}
			for want := pickOne(r, 1000, 3000, 7000, 12000); len(out) < want; {
				v := b.gen(items, owner, prop)
				if budget -= len(marshalJSON(v)) + 1; budget < 0 {
					break
				}
				out = append(out, v)
			}
			setNode(fr, n.path, out)
			return true
		}
	}
	count := pickOne(r, 100, 1000, 1000, 5000, 20000)
	if mi := maxItemsOf(schemaAt(fr.bodySchema(), n.path)); mi >= 0 && r.IntN(2) == 0 {
		count = mi + 1
	}
	size := len(marshalJSON(item)) + 1
	count = max(0, min(count, (fr.budget()+len(marshalJSON(n.v)))/size))
	out := make([]any, count)
	for i := range out {
		out[i] = clone(item) // equal items (duplicates are a case of their own), not one shared
	}
	setNode(fr, n.path, out)
	return true
}

// clone copies a JSON value, so that a later mutation changes one copy.
func clone(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, item := range x {
			m[k] = clone(item)
		}
		return m
	case []any:
		a := make([]any, len(x))
		for i, item := range x {
			a[i] = clone(item)
		}
		return a
	}
	return v
}

func mutateBodyDeep(fz *fuzzer, r *rand.Rand, fr *fuzzReq) bool {
	n := pickNode(r, fr, nil)
	depth := pickOne(r, 64, 512, 4096, 100000)
	open, close := "[", "]"
	if r.IntN(2) == 0 {
		open, close = `{"a":`, "}"
	}
	depth = max(0, min(depth, (fr.budget()+len(marshalJSON(n.v)))/(len(open)+len(close)+1)))
	setNode(fr, n.path, fzRawJSON(strings.Repeat(open, depth)+"1"+strings.Repeat(close, depth)))
	return true
}

func mutateEnumCase(fz *fuzzer, r *rand.Rand, fr *fuzzReq) bool {
	n := pickNode(r, fr, func(n fzNode) bool {
		return isString(n) && len(enumOf(schemaAt(fr.bodySchema(), n.path))) > 0
	})
	s, ok := n.v.(string)
	if !ok || len(enumOf(schemaAt(fr.bodySchema(), n.path))) == 0 {
		return false
	}
	setNode(fr, n.path, pickOne(r, strings.ToLower(s), swapCase(s), " "+s, s+" ", strings.ToLower(s[:1])+s[1:]))
	return true
}

func mutateMalformed(fz *fuzzer, r *rand.Rand, fr *fuzzReq) bool {
	body, _ := fr.body()
	if len(body) == 0 || fr.ctype != "" && !strings.Contains(fr.ctype, "json") {
		body = []byte(`{"name":"x"}`)
	}
	var out []byte
	switch r.IntN(9) {
	case 0:
		out = body[:r.IntN(len(body))]
	case 1:
		i := r.IntN(len(body) + 1)
		out = append(append(append([]byte{}, body[:i]...), pickOne[byte](r, '{', '}', '[', ']', ',', ':', '"', '\\', 0, 0xff, '\n')), body[i:]...)
	case 2:
		out = append(append([]byte{}, body...), pickOne(r, "}", "]", "x", ",", " null", "{}", "\x00")...)
	case 3:
		out = []byte(strings.Replace(string(body), `"`, "'", r.IntN(4)+1))
	case 4:
		out = append([]byte(pickOne(r, "\xef\xbb\xbf", "\xff\xfe", " ", "/* c */", "\x00")), body...)
	case 5:
		// The same object with its first key twice.
		if len(body) > 1 && body[0] == '{' && body[1] == '"' {
			end := strings.Index(string(body[1:]), `":`)
			if end > 0 {
				out = append([]byte("{"+string(body[1:end+3])+pickOne(r, "1", "null", `"dup"`, "{}")+","), body[1:]...)
			}
		}
	case 6:
		// UTF-16, which JSON does not allow.
		u := utf16.Encode([]rune(string(body)))
		for _, c := range u {
			out = append(out, byte(c), byte(c>>8))
		}
	case 7:
		out = []byte(strings.ReplaceAll(string(body), ":", pickOne(r, " ", "=", "::")))
	}
	if out == nil {
		out = []byte(pickOne(r, "NaN", "Infinity", "-Infinity", "undefined", "{'a':1}", `{"a":1,}`, "[1,]", `{"a" 1}`, `{"a":"\ud800"}`,
			`{"a":"\x41"}`, "{\"a\":\"\x01\"}", "{}{}", "[] []", "01", "1.", ".5", "-", "tru", `"unterminated`, "   ", "\n",
			`{"a":1e999999}`, `{"a":-}`, `{"__proto__":{"admin":true}}`, `[`+strings.Repeat(`"x",`, 1000)+`]`))
	}
	if len(out) > maxBody {
		out = out[:maxBody]
	}
	fr.raw, fr.hasRaw = out, true
	if fr.ctype == "" {
		fr.ctype = "application/json"
	}
	return true
}

func mutateContentType(fz *fuzzer, r *rand.Rand, fr *fuzzReq) bool {
	fr.ctype = pickOne(r, "text/plain", "APPLICATION/JSON", "", "application/json; charset=utf-8", "application/json;charset=UTF-16",
		"application/x-www-form-urlencoded", "multipart/form-data", "multipart/form-data; boundary=x", "application/xml",
		"application/json, text/plain", "application/*", "*/*", "application/merge-patch+json", "application/problem+json",
		"application/json; foo", ";;;", "application/vnd.ms-excel", "json", "application/json\t", "application/jsonx")
	if !fr.hasValue && !fr.hasRaw {
		fr.value, fr.hasValue = map[string]any{}, true
	}
	return true
}

func mutateNoBody(fz *fuzzer, r *rand.Rand, fr *fuzzReq) bool {
	fr.hasValue, fr.hasRaw, fr.value, fr.raw = false, false, nil, nil
	if r.IntN(2) == 0 {
		fr.ctype = ""
	} else if r.IntN(2) == 0 {
		fr.raw, fr.hasRaw = []byte{}, true // an empty body, still said to be JSON
	}
	return true
}

func mutateUnexpectedBody(fz *fuzzer, r *rand.Rand, fr *fuzzReq) bool {
	fr.raw, fr.hasRaw = []byte(pickOne(r, `{"a":1}`, "garbage", "[]", "null", strings.Repeat("x", 100000), "{")), true
	fr.ctype = pickOne(r, "application/json", "text/plain", "")
	return true
}
