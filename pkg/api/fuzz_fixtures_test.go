package api_test

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/cleanmail/cleanmail/db"
)

// The fuzz test's objects: fixtures made through the API as the sysadmin
// before the run (and again whenever the run has deleted the last of a
// kind), plus what the run itself creates. Requests take their ids, names
// and addresses from here.

// fzObj is an object the server holds.
type fzObj struct {
	kind   string
	id     string
	parent string // the owner's id: a domain, user, group or admin
	name   string // domain name, e-mail address, login
	dead   bool   // a DELETED domain
}

// fzPool lists the live objects in creation order (so that a seed picks
// the same ones), and the ids of deleted ones.
type fzPool struct {
	objs    []*fzObj
	deleted []string
}

// maxPerParent bounds the objects of one kind and owner the run keeps
// track of: enough to choose from, few enough to stay in reach.
const maxPerParent = 8

// kinds whose owner is a domain, a user, a group or an admin.
var fzParentKind = map[string]string{
	"alias": "domain", "policy": "domain", "platform": "domain", "user": "domain", "group": "domain",
	"attachment": "domain", "uri": "domain", "wbDomain": "domain", "domainAdmin": "domain",
	"wbUser": "user", "recipient": "group", "token": "admin",
}

// An option value set on an owner is an object of kind "option" whose
// parent is the owner's id (or "platform") and whose name is the option's.

func (p *fzPool) all(kind, parent string) []*fzObj {
	var out []*fzObj
	for _, o := range p.objs {
		if o.kind == kind && (parent == "" || o.parent == parent) {
			out = append(out, o)
		}
	}
	return out
}

func (p *fzPool) find(kind, id string) *fzObj {
	for _, o := range p.objs {
		if o.kind == kind && o.id == id {
			return o
		}
	}
	return nil
}

func (p *fzPool) add(o *fzObj) *fzObj {
	if old := p.find(o.kind, o.id); old != nil {
		old.name, old.parent, old.dead = o.name, o.parent, o.dead
		return old
	}
	if same := p.all(o.kind, o.parent); len(same) >= maxPerParent {
		// Forget one to make room (a DELETED domain first, else the
		// oldest): the newest objects are the likeliest to be usable.
		old := same[0]
		for _, x := range same {
			if x.dead {
				old = x
				break
			}
		}
		p.forget(old)
	}
	p.objs = append(p.objs, o)
	return o
}

// forget drops an object that still exists, and what it owns, from the
// pool.
func (p *fzPool) forget(o *fzObj) {
	keep := p.objs[:0]
	var owned []*fzObj
	for _, x := range p.objs {
		switch {
		case x == o:
		case fzParentKind[x.kind] == o.kind && x.parent == o.id:
			owned = append(owned, x)
		default:
			keep = append(keep, x)
		}
	}
	p.objs = keep
	for _, x := range owned {
		p.forget(x)
	}
}

// remove forgets an object, and the objects it owns.
func (p *fzPool) remove(kind, id string) {
	if id == "" {
		return
	}
	keep := p.objs[:0]
	removed := []*fzObj{}
	for _, o := range p.objs {
		if o.kind == kind && o.id == id || fzParentKind[o.kind] == kind && o.parent == id {
			removed = append(removed, o)
			continue
		}
		keep = append(keep, o)
	}
	p.objs = keep
	for _, o := range removed {
		p.deleted = append(p.deleted, o.id)
		if o.kind != kind {
			p.remove(o.kind, o.id)
		}
	}
	if len(p.deleted) > 64 {
		p.deleted = p.deleted[len(p.deleted)-64:]
	}
}

// replace sets the children of one kind of an owner to objs.
func (p *fzPool) replace(kind, parent string, objs []*fzObj) {
	keep := p.objs[:0]
	for _, o := range p.objs {
		if !(o.kind == kind && o.parent == parent) {
			keep = append(keep, o)
		}
	}
	p.objs = keep
	for _, o := range objs {
		p.add(o)
	}
}

func (p *fzPool) pick(r *rand.Rand, kind, parent string) *fzObj {
	objs := p.all(kind, parent)
	if kind == "domain" && r.IntN(10) > 0 {
		live := objs[:0:0]
		for _, o := range objs {
			if !o.dead {
				live = append(live, o)
			}
		}
		objs = live
	}
	if len(objs) == 0 {
		return nil
	}
	return objs[r.IntN(len(objs))]
}

// fzOption is an option of the catalog (GET /options).
type fzOption struct {
	Name, Type                                      string
	Values                                          []string
	PtfScope, CustomerScope, DomainScope, UserScope bool
	Restricted                                      bool
}

func (o fzOption) in(scope string) bool {
	switch scope {
	case "platform":
		return o.PtfScope
	case "customer":
		return o.CustomerScope
	case "domain":
		return o.DomainScope
	case "user":
		return o.UserScope
	}
	return true
}

// sys sends a fixture request as the sysadmin, through e.do (so its
// response is checked against the spec too); it returns nil unless the
// status is want.
func (fz *fuzzer) sys(method, path string, body any, want int) *resp {
	fz.stats.setup++
	r := fz.e.do(req{Method: method, Path: path, Body: body})
	if r.Status != want {
		return nil
	}
	return r
}

func (fz *fuzzer) uniq(prefix string) string {
	fz.n++
	return fmt.Sprintf("%s%d", prefix, fz.n)
}

// setup makes the fixtures: two worlds of every kind of object, deleted
// objects of each kind, the option catalog and the callers' tokens.
func (fz *fuzzer) setup() {
	t := fz.t
	fz.sysadminID = fz.e.ids.Encode(1)
	r := fz.sys("GET", "/options?pageSize=1000", nil, 200)
	if r == nil {
		t.Fatal("GET /options failed")
	}
	r.decode(&fz.catalog)
	for range 2 {
		if fz.world() == nil {
			t.Fatal("could not create the fuzz fixtures")
		}
	}
	fz.setOption("platform", "platform", "/options/platform")

	// Objects of every kind, deleted: their ids are odd ids.
	d := fz.pool.pick(rand.New(rand.NewPCG(0, 0)), "domain", "")
	for _, kind := range []string{"user", "group", "policy", "attachment", "uri", "wbDomain", "alias", "domainAdmin"} {
		if o := fz.create(kind, d.id); o != nil {
			fz.destroy(o)
		}
	}
	if u := fz.pool.all("user", d.id); len(u) > 0 {
		if o := fz.create("wbUser", u[0].id); o != nil {
			fz.destroy(o)
		}
	}
	if o := fz.create("domain", ""); o != nil {
		fz.destroy(o)
	}

	fz.badTokens = []string{
		"Bearer 0123456789abcdef0123456789abcdee", "Bearer ", "Bearer", "Basic YWRtaW46YWRtaW4=", "Token " + adminToken,
		"Bearer " + adminToken + " extra", "Bearer " + strings.Repeat("a", 6000), "Bearer a.b.c", "Bearer ' OR '1'='1",
		"Bearer %00", "Bearer \xff\xfe", "Bearer " + strings.ToUpper(adminToken),
		"Bearer eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJhZG1pbiJ9.",
	}
	// A temporary token signed with another key, and an expired personal
	// token (the API refuses to make one: the store does).
	if u := fz.pool.pick(rand.New(rand.NewPCG(0, 0)), "user", ""); u != nil {
		forged, err := jwt.NewWithClaims(jwt.SigningMethodHS512, jwt.MapClaims{
			"sub": u.name, "iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix(), "version": 1,
		}).SignedString([]byte("not the server's key, not the server's key, not it"))
		if err == nil {
			fz.badTokens = append(fz.badTokens, "Bearer "+forged)
		}
	}
	past := time.Now().Add(-time.Hour).UnixMilli()
	expired := db.NewTokenValue()
	if err := fz.e.store.CreateToken(t.Context(), &db.PersonalToken{AdminID: 1, Name: "fuzz-expired", Expiration: &past}, expired); err == nil {
		fz.badTokens = append(fz.badTokens, "Bearer "+expired)
	}
}

// world makes a broker, a customer, an outgoing provider and a domain
// with two aliases, a second policy, two users, an e-mail alias, sender
// rules of the domain and of a user, an attachment and a URI rule, a
// domain administrator with a token, and option values.
func (fz *fuzzer) world() *fzObj {
	b := fz.create("broker", "")
	c := fz.create("customer", "")
	p := fz.create("provider", "")
	if b == nil || c == nil || p == nil {
		return nil
	}
	d := fz.create("domain", "")
	if d == nil {
		return nil
	}
	for _, kind := range []string{"alias", "alias", "policy", "user", "user", "group", "wbDomain", "wbDomain", "attachment", "uri", "domainAdmin"} {
		fz.create(kind, d.id)
	}
	if u := fz.pool.all("user", d.id); len(u) > 0 {
		fz.create("wbUser", u[0].id)
		fz.create("wbUser", u[0].id)
		fz.setOption("user", u[0].id, "/users/"+u[0].id+"/options")
	}
	if a := fz.pool.all("domainAdmin", d.id); len(a) > 0 {
		fz.create("token", a[0].id)
	}
	fz.setOption("domain", d.id, "/domains/"+d.id+"/options")
	fz.setOption("customer", c.id, "/customers/"+c.id+"/options")
	return d
}

func (fz *fuzzer) setOption(scope, owner, path string) {
	for _, o := range fz.catalog {
		if o.in(scope) && o.Type == "BOOL" {
			if fz.sys("POST", path, map[string]any{"name": o.Name, "value": "false"}, 201) != nil {
				fz.pool.add(&fzObj{kind: "option", id: owner + "/" + o.Name, parent: owner, name: o.Name})
			}
			return
		}
	}
}

// create makes one object of kind (owned by parent, or by any live owner)
// through the API, and adds it to the pool; nil when it cannot.
func (fz *fuzzer) create(kind, parent string) *fzObj {
	r := rand.New(rand.NewPCG(uint64(fz.n), 7))
	if pk := fzParentKind[kind]; pk != "" && parent == "" {
		p := fz.pool.pick(r, pk, "")
		if p == nil || p.dead {
			if p = fz.create(pk, ""); p == nil {
				return nil
			}
		}
		parent = p.id
	}
	domainName := func(id string) string {
		if d := fz.pool.find("domain", id); d != nil {
			return d.name
		}
		return "nowhere.example"
	}
	add := func(o *fzObj) *fzObj {
		if o.id == "" {
			return nil
		}
		fz.pool.add(o)
		return fz.pool.find(o.kind, o.id)
	}
	switch kind {
	case "broker", "customer", "provider":
		var path string
		body := map[string]any{}
		switch kind {
		case "broker":
			path, body["name"] = "/brokers", fz.uniq("broker-")
		case "customer":
			path, body["name"] = "/customers", fz.uniq("customer-")
			if b := fz.pool.pick(r, "broker", ""); b != nil {
				body["brokerId"] = b.id
			}
		case "provider":
			path, body["name"], body["spfProvider"] = "/outgoing-providers", fz.uniq("provider-"), fz.uniq("_spf.provider")+".example"
		}
		if res := fz.sys("POST", path, body, 201); res != nil {
			return add(&fzObj{kind: kind, id: str(res.json()["id"]), name: body["name"].(string)})
		}
	case "domain":
		name := fz.uniq("fz") + ".example"
		body := map[string]any{"name": name, "status": "ENABLED", "quarantine": true, "retention": false, "archive": false,
			"defaultLanguage": "EN", "platforms": []any{map[string]any{"name": "relay", "transportDest": "127.0.0.1", "transportType": "SMTP", "transportPort": 9}}} // loopback: no fuzzed release relays off this machine
		if c := fz.pool.pick(r, "customer", ""); c != nil {
			body["customerId"] = c.id
		}
		if p := fz.pool.pick(r, "provider", ""); p != nil {
			body["outgoingProvidersIds"] = []any{p.id}
		}
		if res := fz.sys("POST", "/domains", body, 201); res != nil {
			return fz.learnDomain(res.json())
		}
	case "alias":
		name := fz.uniq("alias") + "-" + domainName(parent)
		if res := fz.sys("POST", "/domains/"+parent+"/aliases", []any{name}, 201); res != nil {
			for _, a := range res.list() {
				return add(&fzObj{kind: kind, id: str(a["id"]), parent: parent, name: str(a["name"])})
			}
		}
	case "policy":
		body := map[string]any{"name": fz.uniq("policy-"), "quarantine": true, "retention": false, "incoming": true}
		if res := fz.sys("POST", "/domains/"+parent+"/policies", body, 201); res != nil {
			return add(&fzObj{kind: kind, id: str(res.json()["id"]), parent: parent})
		}
	case "user":
		email := fz.uniq("user") + "@" + domainName(parent)
		body := map[string]any{"email": email, "status": "ENABLED", "domainId": parent, "firstname": "Ned", "lastname": "Stark"}
		if res := fz.sys("POST", "/users", body, 201); res != nil {
			return add(&fzObj{kind: kind, id: str(res.json()["id"]), parent: parent, name: email})
		}
	case "group":
		body := map[string]any{"email": fz.uniq("group") + "@" + domainName(parent), "recipients": []any{"someone@elsewhere.example"}}
		if u := fz.pool.all("user", parent); len(u) > 0 {
			body["recipients"] = []any{u[0].name, "someone@elsewhere.example"}
		}
		if res := fz.sys("POST", "/domains/"+parent+"/groups", body, 201); res != nil {
			return fz.learnGroup(parent, res.json())
		}
	case "recipient":
		g := fz.pool.find("group", parent)
		if g == nil {
			return nil
		}
		if res := fz.sys("POST", "/domains/"+g.parent+"/groups/"+parent+"/addresses", []any{fz.uniq("r") + "@elsewhere.example"}, 201); res != nil {
			fz.learnGroup(g.parent, res.json())
			if rs := fz.pool.all("recipient", parent); len(rs) > 0 {
				return rs[len(rs)-1]
			}
		}
	case "attachment":
		body := map[string]any{"action": "DENY", "checkType": "FILENAME", "filter": `\.` + fz.uniq("ext") + `$`}
		if res := fz.sys("POST", "/domains/"+parent+"/filters/attachments", body, 201); res != nil {
			return add(&fzObj{kind: kind, id: str(res.json()["id"]), parent: parent})
		}
	case "uri":
		body := map[string]any{"action": "BLACKLIST_URI_HOST", "filter": fz.uniq("bad") + ".example"}
		if res := fz.sys("POST", "/domains/"+parent+"/filters/uris", body, 201); res != nil {
			return add(&fzObj{kind: kind, id: str(res.json()["id"]), parent: parent})
		}
	case "wbDomain", "wbUser":
		path := "/domains/" + parent + "/wblist"
		if kind == "wbUser" {
			path = "/users/" + parent + "/wblist"
		}
		body := []any{map[string]any{"value": fz.uniq("sender") + "@elsewhere.example", "type": "BLOCK"}}
		if res := fz.sys("POST", path, body, 201); res != nil {
			for _, w := range res.list() {
				return add(&fzObj{kind: kind, id: str(w["id"]), parent: parent, name: str(w["value"])})
			}
		}
	case "domainAdmin", "admin":
		if kind == "admin" {
			d := fz.pool.pick(r, "domain", "")
			if d == nil || d.dead {
				return nil
			}
			parent = d.id
		}
		login := fz.uniq("fz-admin-")
		body := map[string]any{"login": login, "permissions": []any{"DOMAIN_READ", "USER_READ", "FILTER_READ"}}
		if res := fz.sys("POST", "/domains/"+parent+"/admins", body, 200); res != nil {
			id := str(res.json()["id"])
			fz.pool.add(&fzObj{kind: "admin", id: id, name: login})
			return add(&fzObj{kind: "domainAdmin", id: id, parent: parent, name: login})
		}
	case "token":
		if res := fz.sys("POST", "/admins/"+parent+"/tokens", map[string]any{"name": fz.uniq("token-")}, 201); res != nil {
			m := res.json()
			return add(&fzObj{kind: kind, id: str(m["id"]), parent: parent, name: str(m["value"])})
		}
	}
	return nil
}

// destroy deletes a fixture through the API, and keeps its id as a
// deleted object's.
func (fz *fuzzer) destroy(o *fzObj) {
	paths := map[string]string{
		"user": "/users/" + o.id, "group": "/groups/" + o.id, "policy": "/policies/" + o.id,
		"attachment": "/filters/attachments/" + o.id, "uri": "/filters/uris/" + o.id,
		"wbDomain": "/domains/" + o.parent + "/wblist/" + o.id, "wbUser": "/users/" + o.parent + "/wblist/" + o.id,
		"alias": "/domains/" + o.parent + "/aliases/" + o.id, "domainAdmin": "/security/admins/" + o.id, "domain": "/domains/" + o.id,
	}
	if fz.sys("DELETE", paths[o.kind], nil, 204) == nil {
		return
	}
	if o.kind == "domainAdmin" {
		fz.pool.remove("admin", o.id)
	}
	fz.pool.remove(o.kind, o.id)
}

func (fz *fuzzer) learnDomain(d map[string]any) *fzObj {
	id := str(d["id"])
	if id == "" {
		return nil
	}
	o := fz.pool.add(&fzObj{kind: "domain", id: id, name: str(d["name"]), dead: d["status"] == "DELETED"})
	if o == nil {
		return nil
	}
	if p, ok := d["policy"].(map[string]any); ok {
		fz.pool.add(&fzObj{kind: "policy", id: str(p["id"]), parent: id, name: "default"})
	}
	if ps, ok := d["platforms"].([]any); ok {
		objs := []*fzObj{}
		for _, p := range ps {
			if m, ok := p.(map[string]any); ok && str(m["id"]) != "" {
				objs = append(objs, &fzObj{kind: "platform", id: str(m["id"]), parent: id, name: str(m["name"])})
			}
		}
		fz.pool.replace("platform", id, objs)
	}
	return o
}

func (fz *fuzzer) learnGroup(domain string, g map[string]any) *fzObj {
	id := str(g["id"])
	if id == "" {
		return nil
	}
	o := fz.pool.add(&fzObj{kind: "group", id: id, parent: domain, name: str(g["email"])})
	if o == nil {
		return nil
	}
	objs := []*fzObj{}
	if rs, ok := g["recipients"].([]any); ok {
		for _, x := range rs {
			if m, ok := x.(map[string]any); ok && str(m["id"]) != "" {
				objs = append(objs, &fzObj{kind: "recipient", id: str(m["id"]), parent: id, name: str(m["email"])})
			}
		}
	}
	fz.pool.replace("recipient", id, objs)
	return o
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// learn keeps the pool in step with what a successful request did:
// objects created, renamed, replaced or deleted.
func (fz *fuzzer) learn(fr *fuzzReq, status int, body []byte) {
	var m map[string]any
	var list []map[string]any
	_ = unmarshalJSON(body, &m)
	_ = unmarshalJSON(body, &list)
	in, _ := fr.value.(map[string]any)
	pv := fr.pathVals
	obj := func(name string) *fzObj { return fr.objs[name] }
	switch fr.op.id {
	case "CreateDomain":
		fz.learnDomain(m)
	case "UpdateDomain":
		if d := obj("domainId"); d != nil {
			if n, ok := in["name"].(string); ok {
				d.name = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(n), "."))
			}
			if s, ok := in["status"].(string); ok {
				d.dead = strings.EqualFold(s, "DELETED")
			}
			if _, ok := in["platforms"]; ok {
				if r := fz.sys("GET", "/domains/"+d.id, nil, 200); r != nil {
					fz.learnDomain(r.json())
				}
			}
		}
	case "DeleteDomain":
		if d := obj("domainId"); d != nil {
			d.dead = true
			fz.pool.deleted = append(fz.pool.deleted, d.id)
		}
	case "AddDomainAlias":
		for _, a := range list {
			fz.pool.add(&fzObj{kind: "alias", id: str(a["id"]), parent: pv["domainId"], name: str(a["name"])})
		}
	case "SetDomainAliases":
		if r := fz.sys("GET", "/domains/"+pv["domainId"]+"/aliases?pageSize=1000", nil, 200); r != nil {
			objs := []*fzObj{}
			for _, a := range r.list() {
				objs = append(objs, &fzObj{kind: "alias", id: str(a["id"]), parent: pv["domainId"], name: str(a["name"])})
			}
			fz.pool.replace("alias", pv["domainId"], objs)
		}
	case "SetDomainOption", "SetUserOption", "SetCustomerOption", "SetPlatformOption":
		owner := "platform"
		for _, p := range []string{"domainId", "userId", "customerId"} {
			if o := obj(p); o != nil {
				owner = o.id
			} else if v, ok := pv[p]; ok {
				owner = v
			}
		}
		if n := str(in["name"]); n != "" {
			fz.pool.add(&fzObj{kind: "option", id: owner + "/" + strings.ToUpper(n), parent: owner, name: strings.ToUpper(n)})
		}
	case "DeleteDomainOption", "DeleteUserOption", "DeleteCustomerOption", "DeletePlatformOption":
		owner := "platform"
		for _, p := range []string{"domainId", "userId", "customerId"} {
			if o := obj(p); o != nil {
				owner = o.id
			} else if v, ok := pv[p]; ok {
				owner = v
			}
		}
		fz.pool.remove("option", owner+"/"+pv["optionName"])
	case "CreatePolicy":
		fz.pool.add(&fzObj{kind: "policy", id: str(m["id"]), parent: pv["domainId"]})
	case "CreateUser":
		fz.pool.add(&fzObj{kind: "user", id: str(m["id"]), parent: str(m["domainId"]), name: str(m["email"])})
	case "UpdateUser":
		if u := obj("userId"); u != nil {
			if e, ok := in["email"].(string); ok {
				u.name = strings.ToLower(strings.TrimSpace(e))
			}
		}
	case "CreateEmailAlias", "AddEmailAliasAddresses":
		fz.learnGroup(pv["domainId"], m)
	case "UpdateEmailAlias":
		if r := fz.sys("GET", "/domains/"+pv["domainId"]+"/groups/"+pv["groupId"], nil, 200); r != nil {
			fz.learnGroup(pv["domainId"], r.json())
		}
	case "AddDomainAttachmentFilter":
		fz.pool.add(&fzObj{kind: "attachment", id: str(m["id"]), parent: pv["domainId"]})
	case "AddDomainUriFilter":
		fz.pool.add(&fzObj{kind: "uri", id: str(m["id"]), parent: pv["domainId"]})
	case "AddDomainWblistRules", "SetDomainWblistRules", "AddUserWblistRules", "SetUserWblistRules":
		kind, owner := "wbDomain", pv["domainId"]
		if strings.HasPrefix(fr.op.path, "/users/") {
			kind, owner = "wbUser", ""
			if u := obj("userId"); u != nil {
				owner = u.id
			}
		}
		if owner == "" {
			break
		}
		objs := []*fzObj{}
		for _, w := range list {
			objs = append(objs, &fzObj{kind: kind, id: str(w["id"]), parent: owner, name: str(w["value"])})
		}
		if strings.HasPrefix(fr.op.id, "Set") {
			fz.pool.replace(kind, owner, objs)
		} else {
			for _, o := range objs {
				fz.pool.add(o)
			}
		}
	case "CreateDomainAdmin":
		fz.pool.add(&fzObj{kind: "admin", id: str(m["id"]), name: str(m["login"])})
		fz.pool.add(&fzObj{kind: "domainAdmin", id: str(m["id"]), parent: pv["domainId"], name: str(m["login"])})
	case "CreateToken":
		fz.pool.add(&fzObj{kind: "token", id: str(m["id"]), parent: pv["adminId"], name: str(m["value"])})
	case "CreateBroker":
		fz.pool.add(&fzObj{kind: "broker", id: str(m["id"]), name: str(m["name"])})
	case "CreateCustomer":
		fz.pool.add(&fzObj{kind: "customer", id: str(m["id"]), name: str(m["name"])})
	case "CreateOutgoingProvider":
		fz.pool.add(&fzObj{kind: "provider", id: str(m["id"]), name: str(m["name"])})
	case "RevokeDomainAdmin":
		// Revoking an account's last access deletes it: whether it did is
		// not in the answer, so the account is forgotten either way.
		fz.pool.remove("domainAdmin", pv["adminId"])
		fz.pool.remove("admin", pv["adminId"])
	case "UpdateAdmin":
		if e, ok := in["enabled"].(bool); ok && !e && fz.domainAdmin != nil && fz.domainAdmin.admin == pv["adminId"] {
			fz.domainAdmin = nil
		}
	case "DeleteAdmin":
		fz.pool.remove("domainAdmin", pv["adminId"])
		fz.pool.remove("admin", pv["adminId"])
	default:
		if fr.op.method() != http.MethodDelete {
			break
		}
		// A deletion: the object of the path's last parameter.
		kinds := map[string]string{
			"DeleteDomainAlias": "alias", "DeletePolicy": "policy", "DeleteUser": "user", "DeleteEmailAlias": "group",
			"DeleteEmailAliasRecipient": "recipient", "DeleteAttachmentFilter": "attachment", "DeleteUriFilter": "uri",
			"DeleteDomainWblistRule": "wbDomain", "DeleteUserWblistRule": "wbUser", "DeleteToken": "token",
		}
		if kind := kinds[fr.op.id]; kind != "" && len(fr.op.pathParams) > 0 {
			last := fr.op.pathParams[len(fr.op.pathParams)-1]
			if o := obj(last); o != nil {
				fz.pool.remove(kind, o.id)
			} else {
				fz.pool.remove(kind, pv[last])
			}
		}
	}
}

// pickCaller sets who sends the request: mostly the sysadmin, whose
// requests pass every access check and reach the handlers.
func (fz *fuzzer) pickCaller(r *rand.Rand, fr *fuzzReq) {
	n := r.IntN(100)
	switch {
	case n < 80:
		fr.caller, fr.auth = "sysadmin", "Bearer "+adminToken
	case n < 84:
		fr.caller, fr.auth = "anonymous", ""
	case n < 89:
		fr.caller, fr.auth = "badToken", fz.badTokens[r.IntN(len(fz.badTokens))]
	case n < 96:
		if c := fz.callerDomainAdmin(r); c != nil {
			fr.caller, fr.auth = "domainAdmin", "Bearer "+c.token
		} else {
			fr.caller, fr.auth = "sysadmin", "Bearer "+adminToken
		}
	default:
		if c := fz.callerEndUser(r); c != nil {
			fr.caller, fr.auth = "endUser", "Bearer "+c.token
		} else {
			fr.caller, fr.auth = "sysadmin", "Bearer "+adminToken
		}
	}
}

// callerDomainAdmin is an administrator of one live domain with some
// permissions (not all: both 403 and success are reached), made again
// when the run has revoked it.
func (fz *fuzzer) callerDomainAdmin(r *rand.Rand) *fzCaller {
	if c := fz.domainAdmin; c != nil {
		if d := fz.pool.find("domain", c.domain); d != nil && !d.dead && fz.pool.find("admin", c.admin) != nil {
			return c
		}
	}
	fz.domainAdmin = nil
	d := fz.pool.pick(r, "domain", "")
	if d == nil || d.dead {
		return nil
	}
	login := fz.uniq("fz-caller-")
	perms := []any{"DOMAIN_READ", "USER_READ", "USER_EDIT", "FILTER_READ", "FILTER_EDIT", "OPTION_READ", "GRANT"}
	res := fz.sys("POST", "/domains/"+d.id+"/admins", map[string]any{"login": login, "permissions": perms}, 200)
	if res == nil {
		return nil
	}
	id := str(res.json()["id"])
	fz.pool.add(&fzObj{kind: "admin", id: id, name: login})
	fz.pool.add(&fzObj{kind: "domainAdmin", id: id, parent: d.id, name: login})
	tok := fz.sys("POST", "/admins/"+id+"/tokens", map[string]any{"name": "fuzz"}, 201)
	if tok == nil {
		return nil
	}
	fz.domainAdmin = &fzCaller{token: str(tok.json()["value"]), admin: id, domain: d.id}
	return fz.domainAdmin
}

// callerEndUser holds a temporary token of a live user.
func (fz *fuzzer) callerEndUser(r *rand.Rand) *fzCaller {
	if c := fz.endUser; c != nil && fz.pool.find("user", c.user) != nil {
		return c
	}
	fz.endUser = nil
	u := fz.pool.pick(r, "user", "")
	if u == nil {
		return nil
	}
	res := fz.sys("GET", "/token?username="+u.name, nil, 202)
	if res == nil {
		return nil
	}
	fz.endUser = &fzCaller{token: str(res.json()["token"]), user: u.id, domain: u.parent}
	return fz.endUser
}
