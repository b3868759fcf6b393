package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func call(t *testing.T, method, url, token, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// TestServeGeneratesTheSecretKeyBesideSQLite: without CLEANMAIL_SECRET_KEY
// on SQLite, the first start writes a key beside the database and says
// where; a DKIM key stored then is usable after a restart, which reads the
// same file and says so.
func TestServeGeneratesTheSecretKeyBesideSQLite(t *testing.T) {
	bin := build(t)
	dir := t.TempDir()
	const token = "00112233445566778899aabbccddeeff"
	env := []string{"CLEANMAIL_DATABASE_URL=sqlite:" + filepath.Join(dir, "c.db"), "CLEANMAIL_BOOTSTRAP_TOKEN=" + token,
		"CLEANMAIL_DKIM_KEY_BITS=1024"}
	url, cmd, logs := start(t, bin, env...)
	line := logs.wait(t, "CLEANMAIL_SECRET_KEY is not set: generated the secret key that encrypts the DKIM private keys into a file beside the database; back it up with the database (the keys do not decrypt without it), or set CLEANMAIL_SECRET_KEY to its content")
	file := filepath.Join(dir, "c.db.secret-key")
	if line["file"] != file {
		t.Errorf("the log names %v, want %s", line["file"], file)
	}
	st, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v, want 0600", file, st.Mode().Perm())
	}
	raw, _ := os.ReadFile(file)
	secret := strings.TrimSpace(string(raw))
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(secret) {
		t.Fatalf("%s holds %q", file, raw)
	}
	status, body := call(t, "POST", url+"/domains", token, `{"name":"stark.net","status":"ENABLED","quarantine":true,"retention":false,"archive":false,"defaultLanguage":"EN"}`)
	if status != 201 {
		t.Fatalf("POST /domains: %d %s", status, body)
	}
	var d struct{ ID string }
	json.Unmarshal([]byte(body), &d)
	status, records := call(t, "POST", url+"/domains/"+d.ID+"/dkim", token, "")
	if status != 201 || !strings.Contains(records, "cleanmail._domainkey.stark.net TXT v=DKIM1; p=") {
		t.Fatalf("POST dkim: %d %s", status, records)
	}
	cmd.Process.Kill()
	cmd.Wait()

	url, _, logs = start(t, bin, env...)
	line = logs.wait(t, "CLEANMAIL_SECRET_KEY is not set: the DKIM private keys are encrypted with the secret key of the file beside the database")
	if line["file"] != file {
		t.Errorf("the log names %v, want %s", line["file"], file)
	}
	if raw2, _ := os.ReadFile(file); string(raw2) != string(raw) {
		t.Error("the restart changed the secret key")
	}
	if status, again := call(t, "GET", url+"/domains/"+d.ID+"/dkim", token, ""); status != 200 || again != records {
		t.Errorf("GET dkim after restart: %d %s, want %s", status, again, records)
	}
	for _, m := range logs.all() {
		if b, _ := json.Marshal(m); strings.Contains(string(b), secret) {
			t.Errorf("the log holds the secret key: %s", b)
		}
	}
}
