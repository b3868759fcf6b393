package api_test

import (
	"cmp"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cleanmail/cleanmail/pkg/api"
)

// Keyset continuation (an extension): every paged list names its next page
// in a Link header, the same request with a cursor instead of an offset.

// nextLink is the rel="next" target of a response's Link header, "" when
// there is none; it must be a path-absolute reference unless base (the
// configured public URL) is set.
var nextLinkHeader = regexp.MustCompile(`^<([^<>\s]+)>; rel="next"$`)

func (r *resp) next(base string) string {
	r.t.Helper()
	h := r.Header.Values("Link")
	if len(h) == 0 {
		return ""
	}
	m := nextLinkHeader.FindStringSubmatch(h[0])
	if len(h) > 1 || m == nil {
		r.t.Fatalf("%s %s: Link %q, want one <URL>; rel=\"next\"", r.method, r.path, h)
	}
	if !strings.HasPrefix(m[1], base+"/") {
		r.t.Fatalf("%s %s: Link %q, want a URL under %q", r.method, r.path, m[1], base+"/")
	}
	return strings.TrimPrefix(m[1], base)
}

// itemKey names a list item: its id, or its name (the option catalog).
func itemKey(it map[string]any) string {
	if id, ok := it["id"].(string); ok {
		return id
	}
	return fmt.Sprint(it["name"])
}

// seedLists gives every paged list more rows than a page of two, with
// sort keys that tie, that differ only in case, and that are NULL (names,
// external ids, e-mail addresses and display names, which may be): the
// domain and the user whose lists these are.
func (e *env) seedLists(t *testing.T) (string, string) {
	t.Helper()
	domain := e.newDomain("stark.net")
	for i, x := range []struct{ name, ext, status string }{
		{"winterfell.net", "North", "ENABLED"}, {"wall.net", "NORTH", "DISABLED"}, {"dorne.net", "", "ENABLED"},
		{"reach.net", "reach", "PENDING"}, {"vale.net", "", "DISABLED"}, {"riverrun.net", "north", "ENABLED"},
	} {
		body := map[string]any{"status": x.status}
		if x.ext != "" {
			body["externalId"] = x.ext
		}
		if i%2 == 0 {
			body["defaultLanguage"] = "EN"
		}
		e.newDomain(x.name, body)
	}
	for _, n := range []string{"Alpha", "beta", "Gamma", "delta", "Epsilon"} {
		e.do(req{Method: "POST", Path: "/customers", Body: map[string]any{"name": n + " customer"}}).expect(201)
		e.do(req{Method: "POST", Path: "/brokers", Body: map[string]any{"name": n + " broker"}}).expect(201)
		e.do(req{Method: "POST", Path: "/outgoing-providers", Body: map[string]any{"name": n + " relay", "spfProvider": "_spf." + strings.ToLower(n) + ".example"}}).expect(201)
		e.do(req{Method: "POST", Path: "/domains/" + domain + "/policies", Body: map[string]any{"name": n, "quarantine": true, "retention": false, "incoming": true}}).expect(201)
		e.newEmailAlias(domain, strings.ToLower(n)+"@stark.net")
	}
	e.do(req{Method: "PUT", Path: "/domains/" + domain + "/aliases", Body: []string{"north.net", "b.stark.net", "a.stark.net", "z.stark.net", "m.stark.net"}}).expect(204)
	var user string
	for i, x := range []struct{ first, last string }{
		{"Ned", "Stark"}, {"NED", "stark"}, {"", ""}, {"arya", "STARK"}, {"Arya", ""}, {"", "Snow"}, {"bran", "snow"},
	} {
		body := map[string]any{"status": []string{"ENABLED", "DISABLED"}[i%2]}
		if x.first != "" {
			body["firstname"] = x.first
		}
		if x.last != "" {
			body["lastname"] = x.last
		}
		id := e.newUser(domain, fmt.Sprintf("u%d@stark.net", 7-i), body)
		if user == "" {
			user = id
		}
	}
	for _, x := range []struct{ login, name, email string }{
		{"jon", "Jon Snow", "jon@stark.net"}, {"JORY", "", ""}, {"sam", "jon snow", ""}, {"ygritte", "", "Ygritte@stark.net"}, {"tormund", "Giant", "JON@stark.net"},
	} {
		body := map[string]any{"login": x.login, "permissions": []string{"DOMAIN_READ"}}
		if x.name != "" {
			body["displayName"] = x.name
		}
		if x.email != "" {
			body["email"] = x.email
		}
		e.do(req{Method: "POST", Path: "/domains/" + domain + "/admins", Body: body}).expect(200)
	}
	for i, x := range [][2]string{{"DENY", "FILENAME"}, {"ALLOW", "FILENAME"}, {"DENY", "CONTENTTYPE"}, {"DENY", "FILENAME"}, {"ALLOW", "ARCHIVE-FILENAME"}, {"DENY", "ARCHIVE-CONTENTTYPE"}} {
		e.do(req{Method: "POST", Path: "/domains/" + domain + "/filters/attachments", Body: map[string]any{"action": x[0], "checkType": x[1], "filter": fmt.Sprintf(`\.ext%d$`, i)}}).expect(201)
	}
	for i, a := range []string{"BLACKLIST_URI_HOST", "WHITELIST_URI_HOST", "BLACKLIST_URI_HOST", "URIDNSBL_SKIP_DOMAIN", "BLACKLIST_URI_HOST", "WHITELIST_URI_HOST"} {
		e.do(req{Method: "POST", Path: "/domains/" + domain + "/filters/uris", Body: map[string]any{"action": a, "filter": fmt.Sprintf("host%d.example", 6-i)}}).expect(201)
	}
	later := time.Now().Add(30 * 24 * time.Hour).UnixMilli()
	var rules []map[string]any
	for i, v := range []string{"cersei@lannister.example", "Lannister.example", "joffrey@lannister.example", "frey.example", "walder@frey.example", "bolton.example"} {
		r := map[string]any{"value": v, "type": []string{"ALLOW", "BLOCK"}[i%2]}
		if i%3 != 0 {
			r["expireAt"] = later // ties; the others never expire
		}
		rules = append(rules, r)
	}
	e.do(req{Method: "POST", Path: "/domains/" + domain + "/wblist", Body: rules}).expect(201)
	e.do(req{Method: "POST", Path: "/users/" + user + "/wblist", Body: rules}).expect(201)
	return domain, user
}

// pagedList is an operation that pages by cursor: the sort values it
// declares ("" first: none sent), and its default.
type pagedList struct {
	sorts       []string
	defaultSort string
}

func pagedLists(t *testing.T) map[string]pagedList {
	lists := map[string]pagedList{}
	for _, o := range specOperations(t) {
		l := pagedList{sorts: []string{""}}
		cursor := false
		for _, p := range o.op.Parameters {
			switch p.Value.Name {
			case "cursor":
				cursor = true
			case "sort":
				l.defaultSort = p.Value.Schema.Value.Default.(string)
				for _, v := range p.Value.Schema.Value.Enum {
					l.sorts = append(l.sorts, v.(string))
				}
			}
		}
		if cursor {
			lists[o.path] = l
		}
	}
	return lists
}

// query is a list's query string: sort (when set) and the others.
func query(sort string, params ...string) string {
	if sort != "" {
		params = append([]string{"sort=" + url.QueryEscape(sort)}, params...)
	}
	return strings.Join(params, "&")
}

// Following Link from a list's first page to its last returns the rows of
// the offset walk, in its order, for every paged list and every sort both
// ways: keys that tie, that differ only in case (lower(…)), or are NULL
// (placed where each database puts them) included. The last page has no
// Link; each Link is the same request, its offset left out.
func TestKeysetWalkIsTheOffsetWalk(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) {
		domain, user := e.seedLists(t)
		lists := pagedLists(t)
		if len(lists) != 16 {
			t.Errorf("%d lists take a cursor, want 16: %v", len(lists), slices.Sorted(func(yield func(string) bool) {
				for p := range lists {
					if !yield(p) {
						return
					}
				}
			}))
		}
		for tmpl, l := range lists {
			path := strings.NewReplacer("{domainId}", domain, "{userId}", user).Replace(tmpl)
			for _, sort := range l.sorts {
				// The offset walk, a page of two at a time.
				var want []string
				total := ""
				for offset := 0; ; offset += 2 {
					r := e.do(req{Method: "GET", Path: path + "?" + query(sort, "pageSize=2", fmt.Sprintf("offset=%d", offset))}).expect(200)
					items := r.list()
					total = r.Header.Get("X-Total-Count")
					for _, it := range items {
						want = append(want, itemKey(it))
					}
					if len(items) < 2 {
						break
					}
				}
				if len(want) < 5 {
					t.Errorf("%s?sort=%s: %d rows, want 5 or more to walk", tmpl, sort, len(want))
				}
				// The Link walk, from the first page, and from an offset.
				for _, start := range []int{0, 1} {
					var got []string
					link := path + "?" + query(sort, "pageSize=2")
					if start > 0 {
						link += fmt.Sprintf("&offset=%d", start)
					}
					for pages := 0; link != ""; pages++ {
						if pages > len(want) {
							t.Fatalf("%s?sort=%s: the Link walk does not end", tmpl, sort)
						}
						r := e.do(req{Method: "GET", Path: link}).expect(200)
						items := r.list()
						for _, it := range items {
							got = append(got, itemKey(it))
						}
						if n := r.Header.Get("X-Total-Count"); n != total {
							t.Errorf("GET %s: X-Total-Count %s, want %s", link, n, total)
						}
						next := r.next("")
						if next == "" && len(got) < len(want)-start {
							t.Errorf("GET %s: no Link after %d of %d rows", link, len(got), len(want)-start)
						}
						if next != "" {
							u, err := url.Parse(next)
							if err != nil {
								t.Fatal(err)
							}
							// The sort the request left out is the default, said.
							q, wantSort := u.Query(), cmp.Or(sort, l.defaultSort)
							if u.Path != path || q.Get("pageSize") != "2" || q.Get("sort") != wantSort || q.Has("offset") || q.Get("cursor") == "" {
								t.Errorf("GET %s: Link to %s, want %s with this pageSize and sort, a cursor and no offset", link, next, path)
							}
						}
						link = next
					}
					if !slices.Equal(got, want[start:]) {
						t.Errorf("%s?sort=%s from offset %d:\nLink walk   %v\noffset walk %v", tmpl, sort, start, got, want[start:])
					}
				}
			}
		}
	})
}

// A list's Link keeps every filter of the request, escaped anew, and
// answers the same matches; under CLEANMAIL_PUBLIC_URL it is an absolute
// URL, as a Location is.
func TestKeysetLinkKeepsTheRequest(t *testing.T) {
	t.Parallel()
	const public = "https://api.example.com"
	forEachDBWith(t, func(o *api.Options) { o.PublicURL = public }, func(t *testing.T, e *env) {
		for _, n := range []string{"a.net", "b.net", "c.net", "d.net", "e.net"} {
			e.newDomain(n, map[string]any{"externalId": "crm<" + n + ">"})
		}
		e.newDomain("f.org")
		r := e.do(req{Method: "GET", Path: "/domains?name=%2A.net&pageSize=2&sort=-name&externalId=crm%3C*"}).expect(200)
		link := r.next(public)
		u, err := url.Parse(link)
		if err != nil {
			t.Fatal(err)
		}
		if q := u.Query(); q.Get("name") != "*.net" || q.Get("externalId") != "crm<*" || q.Get("sort") != "-name" || q.Get("pageSize") != "2" {
			t.Errorf("Link %s: the request's filters are not all kept", link)
		}
		var names []string
		for link != "" {
			r := e.do(req{Method: "GET", Path: link}).expect(200)
			for _, d := range r.list() {
				names = append(names, d["name"].(string))
			}
			link = r.next(public)
		}
		if got := strings.Join(names, " "); got != "c.net b.net a.net" {
			t.Errorf("walked %s, want the rest of the matches by -name", got)
		}
	})
}

// Rows created or deleted during a walk neither repeat nor hide the rows
// that stayed: every row there from the start to the end is read once,
// and what the walk read is in the order of the list at its end.
func TestKeysetWalkThroughChanges(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) {
		domain := e.newDomain("stark.net")
		names := []string{"Stark", "stark", "", "Snow", "Bolton", "", "Umber", "karstark", "Manderly", "Tully", "", "Reed"}
		ids := map[string]bool{}
		for i, n := range names {
			body := map[string]any{}
			if n != "" {
				body["lastname"] = n
			}
			ids[e.newUser(domain, fmt.Sprintf("u%02d@stark.net", i), body)] = true
		}
		list := "/domains/" + domain + "/users"
		added := 0
		for _, sort := range []string{"lastname", "-lastname", "email", "-email", "-creationDate"} {
			stayed := map[string]bool{}
			for id := range ids {
				stayed[id] = true
			}
			seen := map[string]bool{}
			var read []string
			link := list + "?sort=" + sort + "&pageSize=3"
			for page := 0; link != ""; page++ {
				r := e.do(req{Method: "GET", Path: link}).expect(200)
				items := r.list()
				for _, u := range items {
					id := u["id"].(string)
					if seen[id] {
						t.Errorf("sort=%s: %s read twice", sort, u["email"])
					}
					seen[id] = true
					read = append(read, id)
				}
				link = r.next("")
				if link == "" || page > 1 {
					continue
				}
				// Between pages: one row read goes, one not read yet goes,
				// and two come, sorting before and after the position.
				del := func(id string) {
					e.do(req{Method: "DELETE", Path: "/users/" + id}).expect(204)
					delete(stayed, id)
					delete(ids, id)
				}
				del(items[0]["id"].(string))
				for id := range stayed {
					if !seen[id] {
						del(id)
						break
					}
				}
				for _, n := range []string{"Aaa", "Zzz"} {
					added++
					email := fmt.Sprintf("%s%d@stark.net", strings.ToLower(n), added)
					ids[e.newUser(domain, email, map[string]any{"lastname": n})] = true
				}
			}
			for id := range stayed {
				if !seen[id] {
					t.Errorf("sort=%s: %s was there throughout and never read", sort, id)
				}
			}
			var now []string
			for _, u := range e.do(req{Method: "GET", Path: list + "?sort=" + sort + "&pageSize=1000"}).expect(200).list() {
				now = append(now, u["id"].(string))
			}
			var kept []string
			for _, id := range read {
				if slices.Contains(now, id) {
					kept = append(kept, id)
				}
			}
			var order []string
			for _, id := range now {
				if slices.Contains(kept, id) {
					order = append(order, id)
				}
			}
			if !slices.Equal(kept, order) {
				t.Errorf("sort=%s: read %v, not in the list's order %v", sort, kept, order)
			}
		}
	})
}

// A cursor this list did not give (made up, altered, cut, another list's,
// another domain's list's, another server key's), one sent with another
// sort, or beside a non-zero offset, is a 400 naming cursor.
func TestKeysetBadCursors(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) {
		stark := e.newDomain("stark.net")
		lannister := e.newDomain("lannister.net")
		for _, n := range []string{"a", "b", "c"} {
			e.newDomain(n + ".net")
			e.newUser(stark, n+"@stark.net")
			e.newUser(lannister, n+"@lannister.net")
		}
		cursorOf := func(path string) string {
			t.Helper()
			u, err := url.Parse(e.do(req{Method: "GET", Path: path}).expect(200).next(""))
			if err != nil || u.Query().Get("cursor") == "" {
				t.Fatalf("GET %s: no cursor (%v)", path, err)
			}
			return u.Query().Get("cursor")
		}
		c := cursorOf("/domains?sort=name&pageSize=1")
		e.do(req{Method: "GET", Path: "/domains?sort=name&pageSize=1&cursor=" + c}).expect(200)
		e.do(req{Method: "GET", Path: "/domains?sort=name&pageSize=1&offset=0&cursor=" + c}).expect(200)
		// Another letter of base64url in the middle (flipping a bit of
		// it could give one outside the alphabet: ',' from '-').
		altered := []byte(c)
		if mid := len(altered) / 2; altered[mid] == 'A' {
			altered[mid] = 'B'
		} else {
			altered[mid] = 'A'
		}
		for _, tc := range []struct{ path, want string }{
			{"/domains?cursor=abc", "not a cursor of this list"},
			{"/domains?cursor=" + strings.Repeat("A", 80), "not a cursor of this list"},
			{"/domains?sort=name&cursor=" + string(altered), "not a cursor of this list"},
			{"/domains?sort=name&cursor=" + c[:len(c)-2], "not a cursor of this list"},
			{"/domains?sort=-name&cursor=" + c, "sorted by name, not by -name"},
			{"/domains?sort=id&cursor=" + c, "sorted by name, not by id"},
			{"/domains?sort=name&offset=2&cursor=" + c, "offset"},
			{"/users?sort=email&cursor=" + cursorOf("/domains/"+stark+"/users?sort=email&pageSize=1"), "not a cursor of this list"},
			{"/domains/" + lannister + "/users?sort=email&cursor=" + cursorOf("/domains/"+stark+"/users?sort=email&pageSize=1"), "not a cursor of this list"},
			{"/options?cursor=" + cursorOf("/domains?pageSize=1"), "not a cursor of this list"},
			{"/domains?sort=name&cursor=+" + c, ""},                  // not base64url: the contract's pattern
			{"/domains?cursor=" + strings.Repeat("A", 2049), "2048"}, // the contract's maxLength
		} {
			r := e.do(req{Method: "GET", Path: tc.path})
			r.problem(400, "cursor")
			r.problem(400, tc.want)
		}
		// The catalog, held in memory, continues the same way.
		e.do(req{Method: "GET", Path: "/options?cursor=" + cursorOf("/options?pageSize=1")}).expect(200)
		// Another server (another key) opens none of this one's.
		e.twin(t, nil).do(req{Method: "GET", Path: "/domains?sort=name&cursor=" + c}).problem(400, "not a cursor of this list")
	})
}

// twin is another server on e's database, whose token key is key (nil: a
// random one, as a server without CLEANMAIL_JWT_KEY has).
func (e *env) twin(t *testing.T, key []byte) *env {
	h, err := api.New(api.Options{Store: e.store, IDs: e.ids, JWTKey: key, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	other := *e
	other.t, other.srv = t, srv
	return &other
}

// Servers that share CLEANMAIL_JWT_KEY (replicas, or one restarted) take
// each other's cursors.
func TestKeysetCursorAcrossReplicas(t *testing.T) {
	t.Parallel()
	key := []byte("0123456789abcdef0123456789abcdef")
	forEachDBWith(t, func(o *api.Options) { o.JWTKey = key }, func(t *testing.T, e *env) {
		for _, n := range []string{"a", "b", "c"} {
			e.newDomain(n + ".net")
		}
		link := e.do(req{Method: "GET", Path: "/domains?pageSize=2"}).expect(200).next("")
		if got := e.twin(t, key).do(req{Method: "GET", Path: link}).expect(200).list(); len(got) != 1 || got[0]["name"] != "c.net" {
			t.Errorf("the replica's page after the cursor: %v, want c.net", got)
		}
	})
}
