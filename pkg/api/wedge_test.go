package api_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// The worst requests the limits allow, on a large database, leave the
// server serving: the one that the limits refuse is refused at once (a
// 100 MB lastname froze the embedded default before), the largest
// accepted writes complete, another tenant's small writes made meanwhile
// all succeed (queued, not "database is locked"), and afterwards every
// kind of request is served at once.
func TestWorstRequestsLeaveTheServerServing(t *testing.T) {
	if testing.Short() {
		t.Skip("stores 200,000 sender rules")
	}
	forEachDBInTurn(t, func(t *testing.T, e *env) {
		stark := e.newDomain("stark.net")
		lannister := e.newDomain("lannister.net")
		ned := e.newUser(stark, "ned@stark.net")
		_, admin := e.domainAdmin(stark, "maester", "DOMAIN_READ", "USER_READ", "USER_EDIT", "FILTER_READ", "FILTER_EDIT")
		seedWblist(t, e, e.key(stark), 200_000)

		rules := func(n int, prefix string) []map[string]any {
			out := make([]map[string]any, n)
			for i := range out {
				out[i] = map[string]any{"value": fmt.Sprintf("%s%d@worst.example", prefix, i), "type": "BLOCK"}
			}
			return out
		}
		longest := strings.Repeat("é", 255) // a name at its maxLength

		// Meanwhile, another tenant writes, a request every 20 ms.
		stop := make(chan struct{})
		var wg sync.WaitGroup
		var mu sync.Mutex
		var others []string
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				case <-time.After(20 * time.Millisecond):
				}
				r := e.do(req{Method: "POST", Path: "/domains/" + lannister + "/wblist",
					Body: []map[string]any{{"value": fmt.Sprintf("spy%d@braavos.example", i), "type": "BLOCK"}}})
				mu.Lock()
				if r.Status != 201 {
					others = append(others, fmt.Sprintf("%d %s", r.Status, r.Body))
				}
				mu.Unlock()
			}
		}()

		// Refused before any work.
		status, _, body := e.send(t, "PATCH", "/users/"+ned, admin, endlessBody(t), 100<<20, nil)
		if status != 413 {
			t.Errorf("PATCH with a 100 MB body: %d %s", status, body)
		}
		e.do(req{Method: "PATCH", Path: "/users/" + ned, Token: admin,
			Body: map[string]any{"lastname": strings.Repeat("x", 256)}}).problem(400, "lastname")
		e.do(req{Method: "PUT", Path: "/domains/" + stark + "/wblist", Token: admin, Body: rules(10_001, "a")}).problem(400, "")
		// The largest accepted writes.
		e.do(req{Method: "PATCH", Path: "/users/" + ned, Token: admin,
			Body: map[string]any{"firstname": longest, "lastname": longest}}).expect(204)
		e.do(req{Method: "PUT", Path: "/users/" + ned + "/wblist", Token: admin, Body: rules(10_000, "b")}).expect(200)
		e.do(req{Method: "POST", Path: "/domains/" + stark + "/wblist", Token: admin, Body: rules(10_000, "c")}).expect(201)
		close(stop)
		wg.Wait()
		for _, o := range others {
			t.Errorf("another tenant's write during the big ones: %s", o)
		}

		// Everything is served at once afterwards.
		start := time.Now()
		e.do(req{Method: "GET", Path: "/readyz"}).expect(200)
		e.do(req{Method: "GET", Path: "/domains", Token: admin}).expect(200)
		e.do(req{Method: "GET", Path: "/domains/" + stark + "/wblist?pageSize=10", Token: admin}).expect(200)
		e.do(req{Method: "PATCH", Path: "/users/" + ned, Token: admin, Body: map[string]any{"lastname": "Stark"}}).expect(204)
		e.do(req{Method: "POST", Path: "/domains/" + lannister + "/wblist", Body: []map[string]any{{"value": "last@braavos.example", "type": "BLOCK"}}}).expect(201)
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("the requests after the worst ones took %v", d)
		}
	})
}
