package api_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"mime/multipart"
	"net/url"
	"regexp"
	"regexp/syntax"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/getkin/kin-openapi/openapi3"
)

// The generator of valid requests: parameters and bodies that satisfy the
// operation's schemas (type, format, enum, bounds, lengths, simple
// patterns, required, nullable, allOf/oneOf/anyOf, array sizes), with the
// ids, names and addresses of the pool's objects where a field refers to
// one, so that requests get past the schema into the handlers and the
// database.

// fzBuilder builds one request.
type fzBuilder struct {
	fz    *fuzzer
	r     *rand.Rand
	op    *fuzzOp
	fr    *fuzzReq
	scope map[string]*fzObj // the domain, user, group, admin the request is about
	kind  string            // ListPermissions: the kind of object its scope names
}

func (fz *fuzzer) build(r *rand.Rand, op *fuzzOp) *fuzzReq {
	fr := &fuzzReq{op: op, objs: map[string]*fzObj{}, scope: map[string]*fzObj{}, pathVals: map[string]string{}}
	b := &fzBuilder{fz: fz, r: r, op: op, fr: fr, scope: fr.scope}
	path := op.path
	for _, name := range op.pathParams {
		v := b.pathValue(name)
		fr.pathVals[name] = v
		path = strings.Replace(path, "{"+name+"}", url.PathEscape(v), 1)
	}
	fr.path = path
	for _, p := range op.params {
		switch p.In {
		case "query":
			// username is optional (an end user's own), but an
			// administrator must name the user: mostly sent.
			if p.Required || r.IntN(100) < 35 || p.Name == "username" && r.IntN(100) < 85 {
				fr.query = append(fr.query, fzQuery{name: p.Name, value: b.queryValue(p)})
			}
		case "header":
			if p.Required || r.IntN(100) < 30 {
				fr.header = append(fr.header, [2]string{p.Name, b.scalarString(p.Schema, p.Name)})
			}
		}
	}
	if op.body != nil && (op.bodyRequired || r.IntN(100) < 80) {
		switch op.bodyType {
		case "application/json":
			fr.value = b.body()
			fr.hasValue, fr.ctype = true, "application/json"
		case "multipart/form-data":
			var buf bytes.Buffer
			w := multipart.NewWriter(&buf)
			fw, _ := w.CreateFormFile("file", "report.pdf")
			fw.Write([]byte("%PDF-1.4 fuzz"))
			w.Close()
			fr.raw, fr.hasRaw, fr.ctype = buf.Bytes(), true, w.FormDataContentType()
		}
	}
	return fr
}

// body generates a JSON body valid against the operation's schema: a few
// tries, then the plain sample of the schema.
func (b *fzBuilder) body() any {
	s := b.op.body.Value
	for range 4 {
		v := b.gen(b.op.body, b.op.id, "")
		if s.VisitJSON(v) == nil {
			return v
		}
	}
	return jsonify(sample(s))
}

// pathValue is a real id (or name) for a path parameter.
func (b *fzBuilder) pathValue(name string) string {
	o := b.op
	var obj *fzObj
	switch name {
	case "domainId":
		obj = b.domain()
	case "userId":
		obj = b.user()
		if obj != nil && b.r.IntN(10) < 3 && obj.name != "" {
			b.fr.objs[name] = obj
			return obj.name // an address names a user too
		}
	case "aliasId":
		obj = b.child("alias")
	case "groupId":
		obj = b.group()
	case "addressId":
		if g := b.group(); g != nil {
			obj = b.fz.need(b.r, "recipient", g.id)
		}
	case "adminId":
		if o.method() == "GET" && b.r.IntN(8) == 0 {
			return b.fz.sysadminID
		}
		if strings.HasPrefix(o.path, "/domains/{domainId}/admins") {
			obj = b.child("domainAdmin")
		} else {
			obj = b.fz.need(b.r, "admin", "")
		}
		if obj != nil && obj.id == b.fz.sysadminID && o.method() != "GET" {
			obj = nil // never disable, delete or demote the account the run acts as
		}
		if obj != nil {
			b.scope["admin"] = obj
		}
	case "tokenId":
		if a := b.scope["admin"]; a != nil {
			obj = b.fz.need(b.r, "token", a.id)
		}
	case "attachmentId":
		obj = b.child("attachment")
	case "uriId":
		obj = b.child("uri")
	case "wbItemId":
		if u := b.scope["user"]; u != nil && strings.HasPrefix(o.path, "/users/") {
			obj = b.fz.need(b.r, "wbUser", u.id)
		} else if d := b.scope["domain"]; d != nil {
			obj = b.fz.need(b.r, "wbDomain", d.id)
		}
	case "policyId":
		if o.method() == "DELETE" {
			obj = b.deletablePolicy()
		} else {
			obj = b.child("policy")
		}
	case "platformId":
		obj = b.child("platform")
	case "customerId":
		obj = b.fz.need(b.r, "customer", "")
	case "brokerId":
		obj = b.fz.need(b.r, "broker", "")
	case "optionName":
		scope, owner := "platform", "platform"
		for _, sc := range []string{"customer", "domain", "user"} {
			if strings.HasPrefix(o.path, "/"+sc+"s/") {
				scope, owner = sc, b.fr.pathVals[sc+"Id"]
				if x := b.fr.objs[sc+"Id"]; x != nil {
					owner = x.id
				}
			}
		}
		if set := b.fz.pool.all("option", owner); len(set) > 0 && o.method() == "DELETE" && b.r.IntN(4) > 0 {
			return set[b.r.IntN(len(set))].name
		}
		return b.optionName(scope)
	case "folderPath":
		return pickOne(b.r, "INBOX", "INBOX/Archives", "Sent", "Junk", "Quarantine")
	case "messageId", "uid":
		return strconv.Itoa(1 + b.r.IntN(200))
	case "partId":
		return pickOne(b.r, "1", "2", "1.2")
	case "filename":
		return pickOne(b.r, "report.pdf", "photo.jpg", "a.txt")
	}
	if obj == nil {
		return "zzzzzzz" // nothing of the kind left: an id that decodes to nothing
	}
	b.fr.objs[name] = obj
	return obj.id
}

// need picks an object of kind (of parent, when given), making one
// through the API when there is none left.
func (fz *fuzzer) need(r *rand.Rand, kind, parent string) *fzObj {
	if o := fz.pool.pick(r, kind, parent); o != nil {
		return o
	}
	if kind == "platform" {
		if d := fz.create("domain", ""); d != nil {
			return fz.pool.pick(r, kind, "")
		}
		return nil
	}
	return fz.create(kind, parent)
}

// domain is the domain the request is about, picked once.
func (b *fzBuilder) domain() *fzObj {
	if d := b.scope["domain"]; d != nil {
		return d
	}
	d := b.fz.need(b.r, "domain", "")
	if d != nil && d.dead && b.r.IntN(3) > 0 {
		// Mostly a live one: a DELETED domain refuses every change.
		if live := b.fz.create("domain", ""); live != nil {
			d = live
		}
	}
	b.scope["domain"] = d
	return d
}

// child is an object of kind owned by the request's domain.
func (b *fzBuilder) child(kind string) *fzObj {
	d := b.domain()
	if d == nil {
		return nil
	}
	return b.fz.need(b.r, kind, d.id)
}

// user is the user the request is about, of its domain.
func (b *fzBuilder) user() *fzObj {
	if u := b.scope["user"]; u != nil {
		return u
	}
	u := b.child("user")
	b.scope["user"] = u
	return u
}

func (b *fzBuilder) group() *fzObj {
	if g := b.scope["group"]; g != nil {
		return g
	}
	g := b.child("group")
	b.scope["group"] = g
	return g
}

// deletablePolicy is mostly a policy that is not its domain's default
// (which cannot be deleted).
func (b *fzBuilder) deletablePolicy() *fzObj {
	d := b.domain()
	if d == nil {
		return nil
	}
	var others []*fzObj
	for _, p := range b.fz.pool.all("policy", d.id) {
		if p.name != "default" {
			others = append(others, p)
		}
	}
	if len(others) == 0 || b.r.IntN(5) == 0 {
		return b.child("policy")
	}
	return others[b.r.IntN(len(others))]
}

func (b *fzBuilder) optionName(scope string) string {
	var names []string
	for _, o := range b.fz.catalog {
		if o.in(scope) {
			names = append(names, o.Name)
		}
	}
	if len(names) == 0 {
		return "APP_URL"
	}
	return names[b.r.IntN(len(names))]
}

// queryValue is a valid value for a query parameter.
func (b *fzBuilder) queryValue(p *openapi3.Parameter) string {
	r := b.r
	switch p.Name {
	case "offset":
		if r.IntN(10) == 0 {
			return strconv.Itoa(r.IntN(5000))
		}
		return strconv.Itoa(r.IntN(20))
	case "pageSize":
		if r.IntN(10) == 0 {
			return "1000"
		}
		return strconv.Itoa(1 + r.IntN(50))
	case "sort":
		fields := b.sortFields()
		if len(fields) == 0 {
			return b.scalarString(p.Schema, p.Name)
		}
		f := fields[r.IntN(len(fields))]
		if r.IntN(3) == 0 {
			f = "-" + f
		}
		return f
	case "customerId", "brokerId", "platformId":
		if o := b.fz.pool.pick(r, strings.TrimSuffix(p.Name, "Id"), ""); o != nil {
			return o.id
		}
	case "scope":
		if b.op.id == "ListPermissions" {
			s := pickOne(r, "DOMAIN", "DOMAIN", "CUSTOMER", "BROKER")
			b.kind = strings.ToLower(s)
			return s
		}
	case "id":
		if b.kind != "" {
			if o := b.fz.pool.pick(r, b.kind, ""); o != nil {
				return o.id
			}
		}
	case "username":
		if u := b.fz.pool.pick(r, "user", ""); u != nil {
			return u.name
		}
	case "sender":
		return b.senderValue()
	case "validity":
		return strconv.Itoa(1 + r.IntN(48))
	case "name", "email", "value", "recipient", "search", "externalId", "platformName", "from", "to", "cc", "subject":
		return b.filterValue()
	}
	return b.scalarString(p.Schema, p.Name)
}

// sortFields are the fields of the items the operation lists: what its
// sort parameter names.
func (b *fzBuilder) sortFields() []string {
	res := b.op.op.Responses.Status(200)
	if res == nil || res.Value == nil {
		return nil
	}
	mt := res.Value.Content.Get("application/json")
	if mt == nil || mt.Schema == nil || mt.Schema.Value.Items == nil {
		return nil
	}
	var fields []string
	for name, p := range mt.Schema.Value.Items.Value.Properties {
		if t := p.Value.Type; t == nil || !t.Is("object") && !t.Is("array") {
			fields = append(fields, name)
		}
	}
	sort.Strings(fields)
	return fields
}

// filterValue is a list filter: a real name, whole or with wildcards, or
// a word.
func (b *fzBuilder) filterValue() string {
	r := b.r
	var names []string
	for _, o := range b.fz.pool.objs {
		// Not a token's value, nor a huge name a mutation had accepted:
		// huge query strings are a mutation of their own.
		if o.name != "" && len(o.name) <= 200 && o.kind != "token" {
			names = append(names, o.name)
		}
	}
	if len(names) == 0 || r.IntN(5) == 0 {
		return pickOne(r, "fz*", "*example", "*user*", "nothing", "*")
	}
	n := names[r.IntN(len(names))]
	switch r.IntN(4) {
	case 0:
		return n
	case 1:
		return n[:len(n)/2] + "*"
	case 2:
		return "*" + n[len(n)/2:]
	}
	return "*" + n[len(n)/3:2*len(n)/3] + "*"
}

// scalarString is a valid value of a parameter's schema, as text.
func (b *fzBuilder) scalarString(ref *openapi3.SchemaRef, name string) string {
	if ref == nil {
		return "x"
	}
	switch v := b.gen(ref, b.op.id, name).(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case nil:
		return ""
	default:
		return fmt.Sprint(v)
	}
}

// gen generates a value for the schema of property prop of the object
// schema owner (or "[]" suffixed for an array's items).
func (b *fzBuilder) gen(ref *openapi3.SchemaRef, owner, prop string) any {
	if v, ok := b.hint(ref, owner, prop); ok {
		return v
	}
	name := owner
	if ref.Ref != "" {
		name = refName(ref.Ref)
	}
	return b.genSchema(ref.Value, name, prop)
}

func refName(ref string) string { return ref[strings.LastIndexByte(ref, '/')+1:] }

func (b *fzBuilder) genSchema(s *openapi3.Schema, name, prop string) any {
	r := b.r
	if s.Nullable && r.IntN(12) == 0 {
		return nil
	}
	switch {
	case len(s.AllOf) > 0:
		// Either objects to merge, or the usual [$ref] with a description.
		merged := map[string]any{}
		var other any
		for _, sub := range s.AllOf {
			v := b.gen(sub, name, prop)
			if m, ok := v.(map[string]any); ok {
				for k, x := range m {
					merged[k] = x
				}
			} else if other == nil {
				other = v
			}
		}
		if other != nil {
			return other
		}
		return merged
	case len(s.OneOf) > 0:
		return b.gen(s.OneOf[r.IntN(len(s.OneOf))], name, prop)
	case len(s.AnyOf) > 0:
		return b.gen(s.AnyOf[r.IntN(len(s.AnyOf))], name, prop)
	case len(s.Enum) > 0:
		var vals []any
		for _, v := range s.Enum {
			if v != nil {
				vals = append(vals, v)
			}
		}
		if len(vals) == 0 {
			return nil
		}
		return vals[r.IntN(len(vals))]
	}
	t := s.Type
	switch {
	case t.Is("object") || t == nil && len(s.Properties) > 0:
		m := map[string]any{}
		keys := make([]string, 0, len(s.Properties))
		for k := range s.Properties {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if slices.Contains(s.Required, k) || r.IntN(100) < 45 {
				m[k] = b.gen(s.Properties[k], name, k)
			}
		}
		if len(m) == 0 && len(keys) > 0 {
			// Not an empty object: an update that changes nothing is dull.
			k := keys[r.IntN(len(keys))]
			m[k] = b.gen(s.Properties[k], name, k)
		}
		if ap := s.AdditionalProperties; (ap.Has != nil && *ap.Has || ap.Schema != nil) && r.IntN(2) == 0 {
			if ap.Schema != nil {
				m[b.fz.uniq("key")] = b.gen(ap.Schema, name, prop+"{}")
			} else {
				m[b.fz.uniq("key")] = b.word(1, 12)
			}
		}
		return m
	case t.Is("array"):
		lo := int(s.MinItems)
		hi := lo + 3
		if s.MaxItems != nil && int(*s.MaxItems) < hi {
			hi = int(*s.MaxItems)
		}
		n := lo
		if hi > lo {
			n += r.IntN(hi - lo + 1)
		}
		out := make([]any, 0, n)
		for range n {
			v := b.gen(s.Items, name, prop+"[]")
			if s.UniqueItems && slices.ContainsFunc(out, func(x any) bool { return fmt.Sprint(x) == fmt.Sprint(v) }) {
				continue
			}
			out = append(out, v)
		}
		for len(out) < lo {
			out = append(out, b.gen(s.Items, name, prop+"[]"))
		}
		return out
	case t.Is("integer"):
		return float64(b.integer(s))
	case t.Is("number"):
		lo, hi := bounds(s, 0, 100)
		return math.Round((lo+r.Float64()*(hi-lo))*100) / 100
	case t.Is("boolean"):
		return r.IntN(2) == 0
	}
	return b.str(s, prop)
}

// bounds are the schema's numeric bounds, within lo and hi when it has
// none (exclusive bounds moved in by one).
func bounds(s *openapi3.Schema, lo, hi float64) (float64, float64) {
	if s.Min != nil {
		lo = *s.Min
		if s.ExclusiveMin.IsTrue() {
			lo++
		}
		if s.Max == nil {
			hi = lo + 100
		}
	}
	if s.Max != nil {
		hi = *s.Max
		if s.ExclusiveMax.IsTrue() {
			hi--
		}
		if s.Min == nil {
			lo = math.Max(hi-100, math.Min(lo, hi))
		}
	}
	if hi < lo {
		hi = lo
	}
	return lo, hi
}

func (b *fzBuilder) integer(s *openapi3.Schema) int64 {
	lo, hi := bounds(s, 0, 100)
	return int64(lo) + b.r.Int64N(int64(hi-lo)+1)
}

// str generates a string of the schema's format, pattern and length.
func (b *fzBuilder) str(s *openapi3.Schema, prop string) string {
	r := b.r
	lo := int(s.MinLength)
	hi := max(lo, 12)
	if s.MaxLength != nil {
		hi = min(hi, int(*s.MaxLength))
	}
	fits := func(v string) bool {
		n := utf8.RuneCountInString(v)
		return n >= lo && (s.MaxLength == nil || n <= int(*s.MaxLength))
	}
	var v string
	switch s.Format {
	case "email":
		v = b.fz.uniq("someone") + "@elsewhere.example"
	case "date-time":
		v = time.Now().Add(time.Duration(r.IntN(1000)) * time.Hour).UTC().Format(time.RFC3339)
	case "date":
		v = time.Now().AddDate(0, 0, r.IntN(100)).Format(time.DateOnly)
	case "uri", "uri-reference", "url":
		v = "https://www.example.net/" + b.word(1, 8)
	case "uuid":
		v = fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", r.Uint32(), r.IntN(1<<16), r.IntN(1<<12), r.IntN(1<<12), r.Int64N(1<<48))
	case "byte":
		v = "aGVsbG8="
	case "ipv4":
		v = fmt.Sprintf("192.0.2.%d", r.IntN(256))
	}
	if v == "" && s.Pattern != "" {
		if p, ok := genPattern(r, s.Pattern, hi); ok {
			v = p
		}
	}
	if v == "" {
		if ex, ok := s.Example.(string); ok && r.IntN(3) == 0 {
			v = ex
		} else {
			v = b.word(max(lo, 1), max(hi, 1))
		}
	}
	if !fits(v) {
		v = b.word(lo, max(hi, lo))
	}
	return v
}

// word is lower-case letters and digits, between lo and hi characters.
func (b *fzBuilder) word(lo, hi int) string {
	n := lo
	if hi > lo {
		n += b.r.IntN(hi - lo + 1)
	}
	const letters = "abcdefghijklmnopqrstuvwxyz0123456789"
	out := make([]byte, n)
	for i := range out {
		out[i] = letters[b.r.IntN(len(letters))]
	}
	return string(out)
}

// genPattern generates a string matching a simple regular expression
// (literals, classes, repetitions, alternations, groups), at most about
// hi characters per unbounded repetition.
func genPattern(r *rand.Rand, pattern string, hi int) (string, bool) {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return "", false
	}
	re = re.Simplify()
	var sb strings.Builder
	var walk func(re *syntax.Regexp) bool
	repeat := func(re *syntax.Regexp, lo, hiN int) bool {
		if hiN < 0 {
			hiN = lo + min(3, max(hi, 1))
		}
		n := lo
		if hiN > lo {
			n += r.IntN(hiN - lo + 1)
		}
		for range n {
			if !walk(re.Sub[0]) {
				return false
			}
		}
		return true
	}
	walk = func(re *syntax.Regexp) bool {
		switch re.Op {
		case syntax.OpLiteral:
			sb.WriteString(string(re.Rune))
		case syntax.OpCharClass:
			if len(re.Rune) == 0 {
				return false
			}
			i := r.IntN(len(re.Rune)/2) * 2
			lo, hiR := re.Rune[i], re.Rune[i+1]
			if hiR-lo > 200 {
				hiR = lo + 200
			}
			sb.WriteRune(lo + rune(r.IntN(int(hiR-lo)+1)))
		case syntax.OpAnyChar, syntax.OpAnyCharNotNL:
			sb.WriteByte("abcxyz019"[r.IntN(9)])
		case syntax.OpStar:
			return repeat(re, 0, -1)
		case syntax.OpPlus:
			return repeat(re, 1, -1)
		case syntax.OpQuest:
			return repeat(re, 0, 1)
		case syntax.OpRepeat:
			return repeat(re, re.Min, re.Max)
		case syntax.OpConcat:
			for _, sub := range re.Sub {
				if !walk(sub) {
					return false
				}
			}
		case syntax.OpAlternate:
			return walk(re.Sub[r.IntN(len(re.Sub))])
		case syntax.OpCapture:
			return walk(re.Sub[0])
		case syntax.OpEmptyMatch, syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText, syntax.OpEndText,
			syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		default:
			return false
		}
		return true
	}
	if !walk(re) {
		return "", false
	}
	out := sb.String()
	if ok, _ := regexp.MatchString(pattern, out); !ok {
		return "", false
	}
	return out, true
}

// hint gives the fields that name other objects, or that the server
// checks beyond their schema, a value the server can accept: without
// them most requests would stop at the first semantic check.
func (b *fzBuilder) hint(ref *openapi3.SchemaRef, owner, prop string) (any, bool) {
	r, fz := b.r, b.fz
	id := func(o *fzObj) (any, bool) {
		if o == nil {
			return nil, false
		}
		return o.id, true
	}
	if ref.Ref != "" && refName(ref.Ref) == "OptionAdd" {
		return b.option(), true
	}
	switch owner + "." + prop {
	case "AdminAdd.id":
		a := fz.pool.pick(r, "admin", "")
		if a == nil || a.id == fz.sysadminID {
			return nil, false
		}
		return a.id, true
	case "Platform.id":
		if d := b.domain(); d != nil {
			return id(fz.pool.pick(r, "platform", d.id))
		}
	case "UserAdd.email", "UserUpdate.email", "EmailAliasAdd.email", "EmailAliasUpdate.email":
		return b.newAddress(), true
	case "AdminAdd.email", "AdminUpdate.email":
		return fz.uniq("admin") + "@elsewhere.example", true
	case "DomainAdd.name", "DomainUpdate.name", "SetDomainAliases.[]", "AddDomainAlias.[]":
		return b.newDomainName(), true
	case "SetDomainUsersAccess.[]":
		return endUserPermissions[r.IntN(len(endUserPermissions))], true
	case "PermissionNames.[]", "SetDomainAdminAuthorities.[]", "AdminAdd.permissions[]":
		perms := allPermissions()
		return perms[r.IntN(len(perms))], true
	case "AddEmailAliasAddresses.[]":
		return b.recipient(), true
	case "WblistRuleAdd.value", "WblistEntry.value":
		return b.senderValue(), true
	case "WblistEntry.owner":
		var owners []string
		for _, o := range fz.pool.objs {
			if (o.kind == "domain" || o.kind == "user" || o.kind == "alias") && !o.dead {
				owners = append(owners, o.name)
			}
		}
		if len(owners) > 0 {
			return owners[r.IntN(len(owners))], true
		}
	case "AttachmentFilterAdd.filter", "AttachmentFilterUpdate.filter":
		return pickOne(r, `\.`, `^`, `(?i)\.`) + fz.uniq("x") + pickOne(r, `$`, `\.zip$`, ""), true
	case "UriFilterAdd.filter", "UriFilterUpdate.filter":
		return fz.uniq("bad") + pickOne(r, ".example", ".example.net", ".test"), true
	case "Policy.name", "PolicyUpdate.name":
		return fz.uniq("policy-"), true
	case "AdminAdd.login":
		return fz.uniq("fz-admin-"), true
	case "OutgoingProviderAdd.name":
		return fz.uniq("provider-"), true
	case "OutgoingProviderAdd.spfProvider":
		return "_spf." + fz.uniq("provider") + ".example", true
	case "BrokerAdd.name":
		return fz.uniq("broker-"), true
	case "CustomerAdd.name":
		return fz.uniq("customer-"), true
	case "Platform.name", "PlatformUpdate.name":
		return fz.uniq("relay-"), true
	case "PersonalTokenAdd.name":
		return fz.uniq("token-"), true
	}
	switch prop {
	case "domainId":
		return id(b.domain())
	case "policyId":
		return id(b.child("policy"))
	case "platformId":
		return id(b.child("platform"))
	case "customerId":
		return id(fz.pool.pick(r, "customer", ""))
	case "brokerId":
		return id(fz.pool.pick(r, "broker", ""))
	case "outgoingProvidersIds[]":
		return id(fz.pool.pick(r, "provider", ""))
	case "recipients[]":
		return b.recipient(), true
	case "expireAt", "expiration":
		return float64(time.Now().Add(time.Duration(1+r.IntN(1000)) * time.Hour).UnixMilli()), true
	case "transportDest", "fallbackTransportDest":
		return pickOne(r, "10.0.0.2", "mx.elsewhere.example", "192.0.2.25", "2001:db8::25"), true
	case "transportPort", "fallbackTransportPort":
		return float64(pickOne(r, 25, 465, 587, 2525)), true
	case "outgoingSubnets[]":
		return pickOne(r, "192.0.2.0/24", "198.51.100.7/32", "2001:db8::/32"), true
	case "spamScore", "spamScoreLimit":
		return float64(r.IntN(200)) / 10, true
	case "mailSizeLimit", "duration":
		return float64(1 + r.IntN(100)), true
	case "sign":
		return base64.StdEncoding.EncodeToString([]byte("<p>Regards, " + b.word(3, 8) + "</p>")), true
	case "password":
		return b.word(8, 24), true
	}
	return nil, false
}

// newAddress is an unused address of the request's domain (or of one of
// its aliases).
func (b *fzBuilder) newAddress() string {
	local := b.fz.uniq("fz.user")
	d := b.domain()
	if d == nil {
		return local + "@nowhere.example"
	}
	if as := b.fz.pool.all("alias", d.id); len(as) > 0 && b.r.IntN(4) == 0 {
		return local + "@" + as[b.r.IntN(len(as))].name
	}
	return local + "@" + d.name
}

func (b *fzBuilder) newDomainName() string {
	n := b.fz.uniq("fz")
	switch b.r.IntN(8) {
	case 0:
		return "bücher-" + n + ".example" // an IDN, mapped to ASCII
	case 1:
		return strings.ToUpper(n) + ".Example."
	}
	return n + pickOne(b.r, ".example", ".example.net", ".test")
}

// recipient is an e-mail alias's recipient: a mailbox of the domain,
// another alias, or an outside address.
func (b *fzBuilder) recipient() string {
	r := b.r
	switch r.IntN(3) {
	case 0:
		if d := b.domain(); d != nil {
			if u := b.fz.pool.pick(r, "user", d.id); u != nil {
				return u.name
			}
		}
	case 1:
		if g := b.fz.pool.pick(r, "group", ""); g != nil {
			return g.name
		}
	}
	return b.fz.uniq("friend") + "@elsewhere.example"
}

// senderValue is a sender rule's value: an address or a domain.
func (b *fzBuilder) senderValue() string {
	r := b.r
	switch r.IntN(4) {
	case 0:
		return b.fz.uniq("spam") + ".example"
	case 1:
		if u := b.fz.pool.pick(r, "user", ""); u != nil {
			return u.name
		}
	}
	return b.fz.uniq("sender") + "@" + pickOne(r, "elsewhere.example", "spam.example.net", "sub.elsewhere.example")
}

// option is an OptionAdd: an option of the catalog with a value of its
// type.
func (b *fzBuilder) option() map[string]any {
	r := b.r
	scope := "platform"
	for _, s := range []string{"customer", "domain", "user"} {
		if strings.HasPrefix(b.op.path, "/"+s+"s/") {
			scope = s
		}
	}
	var opts []fzOption
	for _, o := range b.fz.catalog {
		if o.in(scope) || r.IntN(10) == 0 {
			opts = append(opts, o)
		}
	}
	if len(opts) == 0 {
		return map[string]any{"name": "APP_URL", "value": "www.example.net"}
	}
	o := opts[r.IntN(len(opts))]
	var v string
	switch o.Type {
	case "EMAIL":
		v = b.fz.uniq("notify") + "@elsewhere.example"
	case "URL":
		v = "https://portal.example.net/" + b.word(1, 6)
	case "HOST":
		v = b.fz.uniq("host") + ".example.net"
	case "BOOL":
		v = pickOne(r, "true", "false")
	case "COLOR":
		v = pickOne(r, "#fff", "#1a2b3c", "#000000")
	case "LIST":
		if len(o.Values) > 0 {
			v = o.Values[r.IntN(len(o.Values))]
		}
	case "TIMEZONE":
		v = pickOne(r, "Europe/Paris", "UTC", "America/New_York")
	case "INTEGER":
		v = strconv.Itoa(1 + r.IntN(30))
	case "TEXT":
		v = "Line one\nLine two: " + b.word(3, 20)
	default:
		v = b.word(1, 20)
	}
	return map[string]any{"name": o.Name, "value": v}
}

func pickOne[T any](r *rand.Rand, vs ...T) T { return vs[r.IntN(len(vs))] }

// marshalJSON writes v as JSON, keys sorted, with what encoding/json would
// repair left as it is: invalid UTF-8 is sent raw, so that the server sees
// it. json.Number and fzRawJSON are written verbatim.
func marshalJSON(v any) []byte {
	var buf bytes.Buffer
	writeJSON(&buf, v)
	return buf.Bytes()
}

// fzRawJSON is JSON text inserted as it is (deep nesting, for one).
type fzRawJSON string

func writeJSON(buf *bytes.Buffer, v any) {
	switch x := v.(type) {
	case nil:
		buf.WriteString("null")
	case bool:
		buf.WriteString(strconv.FormatBool(x))
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1e21 {
			buf.WriteString(strconv.FormatFloat(x, 'f', -1, 64))
		} else {
			buf.WriteString(strconv.FormatFloat(x, 'g', -1, 64))
		}
	case int:
		buf.WriteString(strconv.Itoa(x))
	case json.Number:
		buf.WriteString(string(x))
	case fzRawJSON:
		buf.WriteString(string(x))
	case string:
		writeJSONString(buf, x)
	case []any:
		buf.WriteByte('[')
		for i, item := range x {
			if i > 0 {
				buf.WriteByte(',')
			}
			writeJSON(buf, item)
		}
		buf.WriteByte(']')
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		buf.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				buf.WriteByte(',')
			}
			writeJSONString(buf, k)
			buf.WriteByte(':')
			writeJSON(buf, x[k])
		}
		buf.WriteByte('}')
	default:
		b, _ := json.Marshal(x)
		buf.Write(b)
	}
}

func writeJSONString(buf *bytes.Buffer, s string) {
	buf.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			buf.WriteByte('\\')
			buf.WriteByte(c)
		case c < 0x20:
			fmt.Fprintf(buf, `\u%04x`, c)
		default:
			buf.WriteByte(c)
		}
	}
	buf.WriteByte('"')
}

func unmarshalJSON(b []byte, v any) error { return json.Unmarshal(b, v) }
