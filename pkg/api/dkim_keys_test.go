package api_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"

	msgauth "github.com/emersion/go-msgauth/dkim"

	"github.com/cleanmail/cleanmail/pkg/api"
	"github.com/cleanmail/cleanmail/pkg/dkim"
)

// records decodes a DKIM answer.
func records(t *testing.T, r *resp) []string {
	t.Helper()
	var out []string
	r.decode(&out)
	return out
}

// lookupOf is a DNS that serves records (the API's answer) as TXT.
func lookupOf(t *testing.T, records []string) func(string) ([]string, error) {
	zone := map[string]string{}
	for _, r := range records {
		name, txt, ok := strings.Cut(r, " TXT ")
		if !ok {
			t.Fatalf("record %q has no TXT", r)
		}
		zone[name] = txt
	}
	return func(name string) ([]string, error) {
		if txt, ok := zone[name]; ok {
			return []string{txt}, nil
		}
		return nil, errors.New("NXDOMAIN " + name)
	}
}

// lockedBuffer collects a server's log from its concurrent requests.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestDkimKeys(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) {
		stark := e.newDomain("stark.net")
		path := "/domains/" + stark + "/dkim"
		e.do(req{Method: "GET", Path: path}).problem(404, "No DKIM values found. Or the domain may not exist")
		e.do(req{Method: "DELETE", Path: path}).problem(404, "No DKIM values found")
		e.do(req{Method: "POST", Path: "/domains/Zzzzzzz/dkim"}).problem(404, "")
		e.do(req{Method: "POST", Path: "/domains/" + stark + "/aliases", Body: []string{"winterfell.net", "north.example"}}).expect(201)

		// POST generates an RSA key under the default selector, and answers
		// one record for the domain, then one for each alias by name.
		created := records(t, e.do(req{Method: "POST", Path: path}).expect(201))
		if len(created) != 3 {
			t.Fatalf("records %v, want 3", created)
		}
		p := strings.TrimPrefix(created[0], "cleanmail._domainkey.stark.net TXT v=DKIM1; p=")
		want := []string{"cleanmail._domainkey.stark.net TXT v=DKIM1; p=" + p,
			"cleanmail._domainkey.north.example TXT v=DKIM1; p=" + p,
			"cleanmail._domainkey.winterfell.net TXT v=DKIM1; p=" + p}
		if strings.Join(created, "\n") != strings.Join(want, "\n") {
			t.Errorf("records:\n%s\nwant:\n%s", strings.Join(created, "\n"), strings.Join(want, "\n"))
		}
		der, err := base64.StdEncoding.DecodeString(p)
		if err != nil {
			t.Fatal(err)
		}
		pub, err := x509.ParsePKIXPublicKey(der)
		if err != nil {
			t.Fatalf("p= is not a SubjectPublicKeyInfo: %v", err)
		}
		if k, ok := pub.(*rsa.PublicKey); !ok || k.N.BitLen() != 1024 { // the test servers' DKIMKeyBits
			t.Errorf("generated key %T of %d bits", pub, k.N.BitLen())
		}
		got := records(t, e.do(req{Method: "GET", Path: path}).expect(200))
		if strings.Join(got, "\n") != strings.Join(created, "\n") {
			t.Errorf("GET answers %v, POST %v", got, created)
		}
		e.do(req{Method: "POST", Path: path}).problem(409, "has a DKIM key already")
		e.do(req{Method: "POST", Path: path, Body: map[string]any{"algorithm": "ED25519"}}).problem(409, "")

		// DELETE removes it.
		e.do(req{Method: "DELETE", Path: path}).expect(204)
		e.do(req{Method: "GET", Path: path}).problem(404, "No DKIM values found")
		e.do(req{Method: "DELETE", Path: path}).problem(404, "")

		// The selector is the domain's DKIM_SELECTOR, or the one given.
		e.do(req{Method: "POST", Path: "/domains/" + stark + "/options", Body: map[string]any{"name": "DKIM_SELECTOR", "value": "Protect"}}).expect(201)
		ed := records(t, e.do(req{Method: "POST", Path: path, Body: map[string]any{"algorithm": "ED25519"}}).expect(201))
		if !strings.HasPrefix(ed[0], "protect._domainkey.stark.net TXT v=DKIM1; k=ed25519; p=") {
			t.Errorf("Ed25519 record %q", ed[0])
		}
		raw, _ := base64.StdEncoding.DecodeString(ed[0][strings.Index(ed[0], "p=")+2:])
		if len(raw) != ed25519.PublicKeySize {
			t.Errorf("Ed25519 p= of %d bytes, want 32", len(raw))
		}
		e.do(req{Method: "DELETE", Path: path}).expect(204)
		given := records(t, e.do(req{Method: "POST", Path: path, Body: map[string]any{"selector": "S2026"}}).expect(201))
		if !strings.HasPrefix(given[0], "s2026._domainkey.stark.net TXT v=DKIM1; p=") {
			t.Errorf("record %q, want the selector given", given[0])
		}
		e.do(req{Method: "DELETE", Path: path}).expect(204)
		for _, body := range []map[string]any{
			{"selector": "bad selector"},
			{"algorithm": "DSA"},
			{"publicKey": "MIIB"},
			{"algorithm": "RSA", "privateKey": "-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n"},
		} {
			e.do(req{Method: "POST", Path: path, Body: body}).problem(400, "")
		}
		e.do(req{Method: "GET", Path: path}).problem(404, "")
	})
}

func TestDkimKeyPut(t *testing.T) {
	t.Parallel()
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pkcs1DER := x509.MarshalPKCS1PrivateKey(rk)
	pkcs8DER, _ := x509.MarshalPKCS8PrivateKey(rk)
	pkcs1 := string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: pkcs1DER}))
	pkcs8 := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8DER}))
	spki, _ := x509.MarshalPKIXPublicKey(&rk.PublicKey)
	pubPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki}))
	other, _ := rsa.GenerateKey(rand.Reader, 1024)
	otherSPKI, _ := x509.MarshalPKIXPublicKey(&other.PublicKey)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	edDER, _ := x509.MarshalPKCS8PrivateKey(edKey)
	edPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: edDER}))

	// Both servers log into one buffer, checked once both are done (the
	// subtests run in parallel, after this function's body).
	logs := &lockedBuffer{}
	t.Cleanup(func() {
		log := logs.String()
		if !strings.Contains(log, "/dkim") {
			t.Errorf("no request to /dkim was logged, so the check below proves nothing:\n%s", log)
		}
		for _, s := range []string{strings.Split(pkcs1, "\n")[1], strings.Split(pkcs8, "\n")[1], strings.Split(edPEM, "\n")[1]} {
			if strings.Contains(log, s) {
				t.Errorf("the log holds a private key")
			}
		}
	})
	forEachDBWith(t, func(o *api.Options) {
		o.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}, func(t *testing.T, e *env) {
		stark := e.newDomain("stark.net")
		path := "/domains/" + stark + "/dkim"
		var bodies [][]byte
		do := func(r req) *resp { res := e.do(r); bodies = append(bodies, res.Body); return res }

		// PUT stores a key where there is none, and replaces one.
		put := records(t, do(req{Method: "PUT", Path: path, Body: map[string]any{"privateKey": pkcs1, "publicKey": pubPEM, "selector": "protect"}}).expect(200))
		wantP := base64.StdEncoding.EncodeToString(spki)
		if len(put) != 1 || put[0] != "protect._domainkey.stark.net TXT v=DKIM1; p="+wantP {
			t.Errorf("PUT answers %v", put)
		}
		// POST finds it: 409.
		do(req{Method: "POST", Path: path, Body: map[string]any{"privateKey": pkcs8}}).problem(409, "")
		put = records(t, do(req{Method: "PUT", Path: path, Body: map[string]any{"privateKey": pkcs8, "publicKey": wantP}}).expect(200))
		if put[0] != "cleanmail._domainkey.stark.net TXT v=DKIM1; p="+wantP {
			t.Errorf("PUT without a selector answers %v (the DKIM_SELECTOR default is cleanmail)", put)
		}
		ed := records(t, do(req{Method: "PUT", Path: path, Body: map[string]any{"privateKey": edPEM, "selector": "ed"}}).expect(200))
		if ed[0] != "ed._domainkey.stark.net TXT v=DKIM1; k=ed25519; p="+base64.StdEncoding.EncodeToString(edKey.Public().(ed25519.PublicKey)) {
			t.Errorf("Ed25519 PUT answers %v", ed)
		}

		// 400s: a public key that is not the private key's, bad PEM, none.
		for _, body := range []map[string]any{
			{"privateKey": pkcs1, "publicKey": base64.StdEncoding.EncodeToString(otherSPKI)},
			{"privateKey": pkcs1, "publicKey": "not a key"},
			{"privateKey": "MIIEowIBAAKCAQEA" + strings.Repeat("A", 100)},
			{"privateKey": pubPEM},
			{"privateKey": strings.Replace(pkcs1, "MII", "MIJ", 1)},
			{"publicKey": pubPEM},
		} {
			r := do(req{Method: "PUT", Path: path, Body: body})
			r.problem(400, "")
			if body["publicKey"] != nil && body["privateKey"] == pkcs1 && !strings.Contains(string(r.Body), "publicKey") {
				t.Errorf("the 400 does not name publicKey: %s", r.Body)
			}
		}
		do(req{Method: "PUT", Path: path}).problem(400, "")
		// The failed PUTs changed nothing.
		if got := records(t, do(req{Method: "GET", Path: path}).expect(200)); got[0] != ed[0] {
			t.Errorf("after failed PUTs: %v", got)
		}

		// The stored row holds the private key sealed: neither its PEM nor
		// its DER (either form) is in the database.
		do(req{Method: "PUT", Path: path, Body: map[string]any{"privateKey": pkcs1}}).expect(200)
		sqlDB, err := e.store.SQL()
		if err != nil {
			t.Fatal(err)
		}
		var sealed []byte
		var public, selector, alg string
		if err := sqlDB.QueryRow("SELECT private_key, public_key, selector, algorithm FROM dkim_keys").Scan(&sealed, &public, &selector, &alg); err != nil {
			t.Fatal(err)
		}
		if public != wantP || selector != "cleanmail" || alg != "RSA" {
			t.Errorf("row: public %q, selector %q, algorithm %q", public, selector, alg)
		}
		for name, secret := range map[string][]byte{"PKCS#1 DER": pkcs1DER, "PKCS#8 DER": pkcs8DER, "PEM": []byte(pkcs1),
			"its base64": []byte(base64.StdEncoding.EncodeToString(pkcs8DER)[:64]), "a prime": rk.Primes[0].Bytes()} {
			if bytes.Contains(sealed, secret) || strings.Contains(public, string(secret)) {
				t.Errorf("the database holds the private key's %s in clear", name)
			}
		}
		if len(sealed) < len(pkcs8DER) {
			t.Errorf("sealed key of %d bytes, under the DER's %d", len(sealed), len(pkcs8DER))
		}

		// Nothing answered or logged holds the private key.
		pemBody := strings.Join(strings.Split(pkcs1, "\n")[1:3], "")
		for _, b := range bodies {
			for _, s := range []string{pemBody, strings.Split(edPEM, "\n")[1]} {
				if bytes.Contains(b, []byte(s)) {
					t.Errorf("a response holds a private key: %s", b)
				}
			}
		}
	})
}

func TestDkimKeysWithoutSecretKey(t *testing.T) {
	t.Parallel()
	forEachDBWith(t, func(o *api.Options) { o.DKIMSealer = nil }, func(t *testing.T, e *env) {
		stark := e.newDomain("stark.net")
		path := "/domains/" + stark + "/dkim"
		e.do(req{Method: "POST", Path: path}).problem(422, "secret key is not configured")
		k, _ := dkim.Generate(dkim.Ed25519, 0)
		der, _ := k.MarshalPrivate()
		e.do(req{Method: "PUT", Path: path, Body: map[string]any{"privateKey": string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))}}).
			problem(422, "secret key is not configured")
		e.do(req{Method: "GET", Path: path}).problem(404, "")
	})
}

func TestDkimAccess(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) {
		stark := e.newDomain("stark.net")
		path := "/domains/" + stark + "/dkim"
		e.do(req{Method: "POST", Path: path}).expect(201)
		_, reader := e.domainAdmin(stark, "maester", "DKIM_READ")
		_, other := e.domainAdmin(stark, "steward", "DOMAIN_READ")
		e.do(req{Method: "GET", Path: path, Token: reader}).expect(200)
		e.do(req{Method: "GET", Path: path, Token: other}).problem(403, "")
		for _, m := range []string{"POST", "PUT", "DELETE"} {
			e.do(req{Method: m, Path: path, Token: reader, Body: map[string]any{"privateKey": "x"}}).problem(403, "")
		}
		e.do(req{Method: "GET", Path: path}).expect(200)
	})
}

// TestSendEmailIsDkimSigned: mail a user sends carries a DKIM-Signature
// of its domain's key that verifies against the record the API gave, for
// RSA and Ed25519, from the domain and from an alias; a domain without a
// key sends unsigned.
func TestSendEmailIsDkimSigned(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) {
		stark := e.newDomain("stark.net")
		e.do(req{Method: "POST", Path: "/domains/" + stark + "/aliases", Body: []string{"winterfell.net"}}).expect(201)
		ned := e.newUser(stark, "ned@stark.net")
		arya := e.newUser(stark, "arya@winterfell.net")
		send := func(user string) []byte {
			t.Helper()
			before := len(e.smtp.Received())
			e.do(req{Method: "POST", Path: "/users/" + user + "/emails/send", Body: map[string]any{
				"to": []string{"jon@wall.example"}, "subject": "Winter", "body": "<p>Winter is <b>coming</b></p>"}}).expect(200)
			got := e.smtp.Received()
			if len(got) != before+1 {
				t.Fatalf("the relay has %d messages, want %d", len(got), before+1)
			}
			return got[before].Data
		}
		if raw := send(ned); bytes.Contains(raw, []byte("DKIM-Signature")) {
			t.Errorf("signed without a key:\n%s", raw)
		}
		path := "/domains/" + stark + "/dkim"
		for _, alg := range []string{"RSA", "ED25519"} {
			e.do(req{Method: "DELETE", Path: path})
			recs := records(t, e.do(req{Method: "POST", Path: path, Body: map[string]any{"algorithm": alg, "selector": "s-" + strings.ToLower(alg)}}).expect(201))
			for _, c := range []struct{ user, domain string }{{ned, "stark.net"}, {arya, "winterfell.net"}} {
				raw := send(c.user)
				vs, err := msgauth.VerifyWithOptions(bytes.NewReader(raw), &msgauth.VerifyOptions{LookupTXT: lookupOf(t, recs)})
				if err != nil {
					t.Fatal(err)
				}
				if len(vs) != 1 || vs[0].Err != nil || vs[0].Domain != c.domain {
					t.Fatalf("%s from %s: verifications %+v\n%s", alg, c.domain, vs[0], raw)
				}
				if !bytes.Contains(raw, []byte("s=s-"+strings.ToLower(alg))) || !bytes.Contains(raw, []byte("c=relaxed/relaxed")) {
					t.Errorf("%s: signature %s", alg, raw[:bytes.Index(raw, []byte("\r\n\r\n"))])
				}
				// Another key's record does not verify it: the check can fail.
				wrong, _ := dkim.Generate(dkim.Ed25519, 0)
				vs, _ = msgauth.VerifyWithOptions(bytes.NewReader(raw), &msgauth.VerifyOptions{LookupTXT: func(string) ([]string, error) {
					return []string{dkim.TXT(dkim.Ed25519, wrong.PublicKey())}, nil
				}})
				if len(vs) != 1 || vs[0].Err == nil {
					t.Errorf("%s: verifies with another key", alg)
				}
			}
		}
	})
}
