package config

import (
	"strings"
	"testing"
	"time"

	"github.com/cleanmail/cleanmail/pkg/submit"
)

func TestFromEnv(t *testing.T) {
	env := map[string]string{
		"CLEANMAIL_LISTEN":          "0.0.0.0:9000",
		"CLEANMAIL_DATABASE_URL":    "postgres://db/x",
		"CLEANMAIL_PURGE_DELAY":     "7d",
		"CLEANMAIL_LOG_JSON":        "true",
		"CLEANMAIL_BOOTSTRAP_TOKEN": "0123456789abcdef0123456789abcdef",
	}
	c, err := FromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "0.0.0.0:9000" || c.DatabaseURL != "postgres://db/x" || c.PurgeDelay != 7*24*time.Hour || !c.JSONLogs {
		t.Errorf("got %+v", c)
	}
}

func TestDefaults(t *testing.T) {
	c, err := FromEnv(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:8080" || c.DatabaseURL != "sqlite:cleanmail.db" || c.PurgeDelay != 30*24*time.Hour {
		t.Errorf("got %+v", c)
	}
}

func TestFromEnvRejects(t *testing.T) {
	for name, v := range map[string]string{
		"CLEANMAIL_PURGE_DELAY":     "soon",
		"CLEANMAIL_LOG_JSON":        "maybe",
		"CLEANMAIL_BOOTSTRAP_TOKEN": "short",
		"CLEANMAIL_JWT_KEY":         "too short",
	} {
		_, err := FromEnv(func(k string) string {
			if k == name {
				return v
			}
			return ""
		})
		if err == nil {
			t.Errorf("%s=%q accepted; want an error", name, v)
		}
	}
}

// TestFromEnvRejectsZeroIntervals: an interval or a timeout of zero would
// panic (time.NewTicker) or stop the server without a grace period; the
// error names the variable.
func TestFromEnvRejectsZeroIntervals(t *testing.T) {
	for _, name := range []string{"CLEANMAIL_PURGE_INTERVAL", "CLEANMAIL_SHUTDOWN_TIMEOUT"} {
		for _, v := range []string{"0s", "0", "0d", "0h0m"} {
			_, err := FromEnv(func(k string) string {
				if k == name {
					return v
				}
				return ""
			})
			if err == nil || !strings.Contains(err.Error(), name) {
				t.Errorf("%s=%q: %v; want an error naming %s", name, v, err, name)
			}
		}
	}
	// A purge delay of zero is a choice: deleted domains go at the next purge.
	c, err := FromEnv(func(k string) string {
		if k == "CLEANMAIL_PURGE_DELAY" {
			return "0d"
		}
		return ""
	})
	if err != nil || c.PurgeDelay != 0 {
		t.Errorf("CLEANMAIL_PURGE_DELAY=0d: %v, %v; want accepted", c.PurgeDelay, err)
	}
}

func TestSMTP(t *testing.T) {
	c, err := FromEnv(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if c.SMTPURL != "" || c.SMTPRelay != nil || c.SMTPTimeout != 30*time.Second || c.EmbeddedSMTPListen != "127.0.0.1:1025" {
		t.Errorf("SMTP defaults: %q %v %v %q", c.SMTPURL, c.SMTPRelay, c.SMTPTimeout, c.EmbeddedSMTPListen)
	}
	env := map[string]string{"CLEANMAIL_SMTP_URL": "smtp://relay:s3cret@mx.example.net:587?starttls=required", "CLEANMAIL_SMTP_TIMEOUT": "5s"}
	if c, err = FromEnv(func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if r := c.SMTPRelay; r == nil || r.Host != "mx.example.net" || r.Port != 587 || r.Username != "relay" || r.Password != "s3cret" ||
		r.Security != submit.StartTLS || c.SMTPTimeout != 5*time.Second {
		t.Errorf("CLEANMAIL_SMTP_URL parsed as %+v, timeout %v", c.SMTPRelay, c.SMTPTimeout)
	}
	for _, bad := range []string{"http://mx.example.net", "smtp://u:s3cret@mx.example.net:99999", "smtps://mx.example.net?starttls=may", "smtp://mx.example.net/x"} {
		_, err := FromEnv(func(k string) string {
			if k == "CLEANMAIL_SMTP_URL" {
				return bad
			}
			return ""
		})
		if err == nil || !strings.Contains(err.Error(), "CLEANMAIL_SMTP_URL") || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("CLEANMAIL_SMTP_URL=%q: %v; want an error naming the variable, without the password", bad, err)
		}
	}
	if _, err := FromEnv(func(k string) string {
		if k == "CLEANMAIL_SMTP_TIMEOUT" {
			return "0s"
		}
		return ""
	}); err == nil {
		t.Error("CLEANMAIL_SMTP_TIMEOUT=0s accepted")
	}
}

func TestRelayChecks(t *testing.T) {
	c, err := FromEnv(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if c.AllowPrivateTargets || c.ProbeSender != "" || c.CheckTimeout != 10*time.Second {
		t.Errorf("relay check defaults: %v %q %v", c.AllowPrivateTargets, c.ProbeSender, c.CheckTimeout)
	}
	env := map[string]string{"CLEANMAIL_ALLOW_PRIVATE_TARGETS": "true", "CLEANMAIL_PROBE_SENDER": "postmaster@cleanmail.example", "CLEANMAIL_CHECK_TIMEOUT": "3s",
		"CLEANMAIL_HELO_NAME": "MX1.Cleanmail.Example"}
	c, err = FromEnv(func(k string) string { return env[k] })
	if err != nil || !c.AllowPrivateTargets || c.ProbeSender != "postmaster@cleanmail.example" || c.CheckTimeout != 3*time.Second || c.HeloName != "mx1.cleanmail.example" {
		t.Errorf("relay checks configured: %+v, %v", c, err)
	}
	for k, v := range map[string]string{"CLEANMAIL_ALLOW_PRIVATE_TARGETS": "maybe", "CLEANMAIL_PROBE_SENDER": "a@b.example>\r\nDATA", "CLEANMAIL_CHECK_TIMEOUT": "0s",
		"CLEANMAIL_HELO_NAME": "mx1.example\r\nMAIL FROM:<x>"} {
		if _, err := FromEnv(func(name string) string {
			if name == k {
				return v
			}
			return ""
		}); err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("%s=%q: %v", k, v, err)
		}
	}
}

// TestDKIMSettings: the secret key is 64 hex characters (and an error
// never repeats it), the key size a number of bits from 1024 to 4096.
func TestDKIMSettings(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	c, err := FromEnv(env(nil))
	if err != nil || c.SecretKey != nil || c.DKIMKeyBits != 2048 {
		t.Fatalf("defaults: %v, key %x, bits %d", err, c.SecretKey, c.DKIMKeyBits)
	}
	hex := strings.Repeat("0f", 32)
	c, err = FromEnv(env(map[string]string{"CLEANMAIL_SECRET_KEY": hex, "CLEANMAIL_DKIM_KEY_BITS": "3072"}))
	if err != nil || len(c.SecretKey) != 32 || c.SecretKey[0] != 0x0f || c.DKIMKeyBits != 3072 {
		t.Fatalf("set: %v, key %x, bits %d", err, c.SecretKey, c.DKIMKeyBits)
	}
	for _, bad := range []map[string]string{
		{"CLEANMAIL_SECRET_KEY": hex[:62]},
		{"CLEANMAIL_SECRET_KEY": hex + "00"},
		{"CLEANMAIL_SECRET_KEY": strings.Repeat("zz", 32)},
		{"CLEANMAIL_DKIM_KEY_BITS": "1023"},
		{"CLEANMAIL_DKIM_KEY_BITS": "8192"},
		{"CLEANMAIL_DKIM_KEY_BITS": "2k"},
	} {
		_, err := FromEnv(env(bad))
		if err == nil {
			t.Errorf("%v accepted; want an error", bad)
			continue
		}
		if v := bad["CLEANMAIL_SECRET_KEY"]; v != "" && strings.Contains(err.Error(), v) {
			t.Errorf("the error repeats the secret key: %v", err)
		}
	}
}

// TestDBPool: the PostgreSQL pool's settings, and their refusals.
func TestDBPool(t *testing.T) {
	env := map[string]string{"CLEANMAIL_DB_MAX_OPEN": "40", "CLEANMAIL_DB_MAX_IDLE": "10", "CLEANMAIL_DB_MAX_IDLE_TIME": "90s", "CLEANMAIL_DB_MAX_LIFETIME": "1h"}
	c, err := FromEnv(func(k string) string { return env[k] })
	if err != nil || c.DBMaxOpen != 40 || c.DBMaxIdle != 10 || c.DBMaxIdleTime != 90*time.Second || c.DBMaxLifetime != time.Hour {
		t.Errorf("%+v, %v", c, err)
	}
	for k, v := range map[string]string{"CLEANMAIL_DB_MAX_OPEN": "0", "CLEANMAIL_DB_MAX_IDLE": "many", "CLEANMAIL_DB_MAX_LIFETIME": "soon"} {
		if _, err := FromEnv(func(name string) string {
			if name == k {
				return v
			}
			return ""
		}); err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("%s=%q: %v", k, v, err)
		}
	}
}
