package api_test

import (
	"database/sql"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cleanmail/cleanmail/db/dbtest"
	"github.com/cleanmail/cleanmail/pkg/api"
)

// tcpProxy forwards a loopback port to a server, and can cut it: the
// listener closes (connections are refused) and every connection through
// it is dropped, as when the database goes down; restore brings it back
// on the same port.
type tcpProxy struct {
	t      *testing.T
	target string
	addr   string
	mu     sync.Mutex
	ln     net.Listener
	conns  []net.Conn
}

func newTCPProxy(t *testing.T, target string) *tcpProxy {
	p := &tcpProxy{t: t, target: target}
	p.listen("127.0.0.1:0")
	t.Cleanup(p.cut)
	return p
}

func (p *tcpProxy) listen(addr string) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		p.t.Fatal(err)
	}
	p.mu.Lock()
	p.ln, p.addr = ln, ln.Addr().String()
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, s)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(s, c); s.Close() }()
			go func() { _, _ = io.Copy(c, s); c.Close() }()
		}
	}()
}

func (p *tcpProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *tcpProxy) restore() { p.listen(p.addr) }

// secretsOfTheConnection are words of a database URL or a driver's error
// that must never reach a client.
var secretsOfTheConnection = []string{"postgres", "user=", "database=", "127.0.0.1", "dial", "search_path", "sqlite", "locked", ".db"}

// During a database outage every operation that needs the database is a
// 503 with Retry-After and a generic detail (not a 400 or a 404 naming
// the connection), logged with its request id; the probes say so; service
// resumes when the database is back.
func TestDatabaseOutageIs503(t *testing.T) {
	base := dbtest.Postgres(t)
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newTCPProxy(t, u.Host)
	u.Host = proxy.addr
	var logs syncBuffer
	e := newEnvWith(t, u.String(), func(o *api.Options) {
		o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
		o.Limits.RequestTimeout = 3 * time.Second
	})
	stark := e.newDomain("stark.net")
	e.do(req{Method: "GET", Path: "/readyz"}).expect(200)

	proxy.cut()
	defer func() {
		if t.Failed() {
			t.Log(logs.String())
		}
	}()
	for _, r := range []req{
		{Method: "GET", Path: "/domains"},
		{Method: "GET", Path: "/domains/" + stark},
		{Method: "POST", Path: "/users", Body: map[string]any{"email": "arya@stark.net", "domainId": stark, "status": "ENABLED"}},
		{Method: "PATCH", Path: "/domains/" + stark, Body: map[string]any{"description": "x"}},
		{Method: "GET", Path: "/readyz"},
	} {
		start := time.Now()
		rs := e.do(r)
		rs.problem(503, "")
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("%s %s: 503 after %v", r.Method, r.Path, d)
		}
		if rs.Header.Get("Retry-After") == "" {
			t.Errorf("%s %s: 503 without Retry-After", r.Method, r.Path)
		}
		detail := strings.ToLower(string(rs.Body))
		for _, w := range secretsOfTheConnection {
			if strings.Contains(detail, w) {
				t.Errorf("%s %s: the 503 shows %q: %s", r.Method, r.Path, w, rs.Body)
			}
		}
		if id := rs.json()["requestId"].(string); r.Path != "/readyz" && !strings.Contains(logs.String(), id) {
			t.Errorf("%s %s: request %s is not in the log:\n%s", r.Method, r.Path, id, logs.String())
		}
	}
	e.do(req{Method: "GET", Path: "/livez"}).expect(200)

	proxy.restore()
	deadline := time.Now().Add(10 * time.Second)
	for {
		rs := e.do(req{Method: "GET", Path: "/domains/" + stark})
		if rs.Status == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the outage: %d %s", rs.Status, rs.Body)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// On SQLite, a database whose write lock another process keeps is an
// outage for writes: 503 within the request's deadline, not a 400
// "database is locked"; reads go on (WAL).
func TestLockedSQLiteIs503(t *testing.T) {
	path := dbtest.SQLite(t)
	e := newEnvWith(t, path, func(o *api.Options) { o.Limits.RequestTimeout = time.Second })
	stark := e.newDomain("stark.net")

	// Another process holds the write lock.
	other, err := sql.Open("sqlite3", "file:"+strings.TrimPrefix(path, "sqlite:")+"?_pragma=busy_timeout(100)")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	conn, err := other.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, q := range []string{"BEGIN IMMEDIATE", "UPDATE domains SET description = 'x'"} {
		if _, err := conn.ExecContext(t.Context(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	start := time.Now()
	rs := e.do(req{Method: "PATCH", Path: "/domains/" + stark, Body: map[string]any{"description": "y"}})
	rs.problem(503, "")
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("503 after %v", d)
	}
	for _, w := range secretsOfTheConnection {
		if strings.Contains(strings.ToLower(string(rs.Body)), w) {
			t.Errorf("the 503 shows %q: %s", w, rs.Body)
		}
	}
	e.do(req{Method: "GET", Path: "/domains/" + stark}).expect(200)

	if _, err := conn.ExecContext(t.Context(), "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	e.do(req{Method: "PATCH", Path: "/domains/" + stark, Body: map[string]any{"description": "z"}}).expect(204)
}

// A database too slow to answer gives a 503 within the request's
// deadline, never a request that hangs.
func TestSlowDatabaseIs503WithinTheDeadline(t *testing.T) {
	e := newEnvWith(t, dbtest.Postgres(t), func(o *api.Options) { o.Limits.RequestTimeout = 500 * time.Millisecond })
	stark := e.newDomain("stark.net")
	sqlDB, err := e.store.SQL()
	if err != nil {
		t.Fatal(err)
	}
	tx, err := sqlDB.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.Exec("LOCK TABLE domains IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	e.do(req{Method: "GET", Path: "/domains/" + stark}).problem(503, "")
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("503 after %v, want about the 500 ms deadline", d)
	}
}
