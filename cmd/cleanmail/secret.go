package main

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strings"

	"github.com/cleanmail/cleanmail/db"
	"github.com/cleanmail/cleanmail/pkg/config"
	"github.com/cleanmail/cleanmail/pkg/dkim"
)

// secretKeyFile is where serve keeps the secret key it generated for an
// SQLite database without CLEANMAIL_SECRET_KEY: beside the database,
// "cleanmail.db.secret-key" for "cleanmail.db".
func secretKeyFile(databaseURL string) string {
	path, _, _ := strings.Cut(strings.TrimPrefix(databaseURL, "sqlite:"), "?")
	return path + ".secret-key"
}

// dkimSealer is the sealer of the domains' DKIM private keys: under
// CLEANMAIL_SECRET_KEY; without it, on SQLite, under a key generated once
// into secretKeyFile (read again at every start: the keys it sealed open
// with it alone); without it on PostgreSQL, none (storing a key answers
// 422), since replicas must share one key that only the operator can give.
// Each start says which.
func dkimSealer(cfg config.Config, dialect db.Dialect, log *slog.Logger) (*dkim.Sealer, error) {
	if cfg.SecretKey != nil {
		return dkim.NewSealer(cfg.SecretKey)
	}
	if dialect != db.SQLite {
		log.Warn("CLEANMAIL_SECRET_KEY is not set: DKIM private keys cannot be stored (those requests answer 422), and mail of a domain that has one is not sent; set it to 64 hexadecimal characters, the same on every replica")
		return nil, nil
	}
	path := secretKeyFile(cfg.DatabaseURL)
	key, created, err := loadOrCreateSecretKey(path)
	if err != nil {
		return nil, fmt.Errorf("the secret key of the DKIM private keys: %w (or set CLEANMAIL_SECRET_KEY)", err)
	}
	if created {
		log.Warn("CLEANMAIL_SECRET_KEY is not set: generated the secret key that encrypts the DKIM private keys into a file beside the database; back it up with the database (the keys do not decrypt without it), or set CLEANMAIL_SECRET_KEY to its content", "file", path)
	} else {
		log.Info("CLEANMAIL_SECRET_KEY is not set: the DKIM private keys are encrypted with the secret key of the file beside the database", "file", path)
	}
	return dkim.NewSealer(key)
}

// loadOrCreateSecretKey reads the key of path, or creates the file (mode
// 0600) with a new one when there is none.
func loadOrCreateSecretKey(path string) (key []byte, created bool, err error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	switch {
	case err == nil:
		hex := dkim.NewSecretKey()
		if _, err := f.WriteString(hex + "\n"); err != nil {
			f.Close()
			os.Remove(path)
			return nil, false, err
		}
		if err := f.Close(); err != nil {
			os.Remove(path)
			return nil, false, err
		}
		key, err := dkim.ParseSecretKey(hex)
		return key, true, err
	case !errors.Is(err, fs.ErrExist):
		return nil, false, err
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, false, err
	}
	key, err = dkim.ParseSecretKey(strings.TrimSpace(string(raw)))
	if err != nil {
		return nil, false, fmt.Errorf("%s does not hold a secret key: %w", path, err)
	}
	return key, false, nil
}
