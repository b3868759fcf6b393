package config

import (
	"testing"
	"time"
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
