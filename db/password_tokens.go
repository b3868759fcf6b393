package db

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/cleanmail/cleanmail/pkg/fault"
)

// The purposes of a password link.
const (
	PurposeWelcome = "welcome" // the welcome mail's: set a first password
	PurposeReset   = "reset"   // the password reset mail's
)

// PasswordToken is a one-time link that sets a user's password: its hash
// only (the token is in the mail and nowhere else).
type PasswordToken struct {
	ID        int64 `gorm:"primaryKey"`
	UserID    int64
	Purpose   string
	TokenHash string
	CreatedAt int64 `gorm:"autoCreateTime:false"`
	ExpiresAt int64
	UsedAt    *int64
}

// ErrTokenUnusable: the link is unknown, expired or used already.
var ErrTokenUnusable = fault.Unprocessablef("token", "This link is invalid, has expired or has already been used: ask for a new one.")

func tokenHash(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// CreatePasswordToken makes a new one-time link for the user, valid for
// validity, and returns its token (32 random bytes, base64url): the
// caller puts it in the mail; only its hash is stored.
func (s *Store) CreatePasswordToken(ctx context.Context, userID int64, purpose string, validity time.Duration) (string, time.Time, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", time.Time{}, err
	}
	token := base64.RawURLEncoding.EncodeToString(b)
	now := time.Now()
	exp := now.Add(validity)
	err := s.write(ctx, func(gdb *gorm.DB) error {
		return gdb.Create(&PasswordToken{UserID: userID, Purpose: purpose, TokenHash: tokenHash(token),
			CreatedAt: now.Unix(), ExpiresAt: exp.Unix()}).Error
	})
	if err != nil {
		return "", time.Time{}, err
	}
	return token, exp, nil
}

// UsePasswordToken sets the password of the link's user to hash, once: in
// one transaction it finds the open link (row-locked on PostgreSQL, where
// two uses could race), marks it and every other open link of the user
// used, and stores the hash. It returns the user; ErrTokenUnusable when
// the link is unknown, expired or used.
func (s *Store) UsePasswordToken(ctx context.Context, token, hash string) (*User, error) {
	var u User
	err := s.tx(ctx, func(tx *gorm.DB) error {
		now := time.Now().Unix()
		q := tx
		if s.dialect == Postgres {
			q = tx.Clauses(clause.Locking{Strength: "UPDATE"})
		}
		var t PasswordToken
		err := q.Where("token_hash = ? AND used_at IS NULL AND expires_at > ?", tokenHash(token), now).First(&t).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return ErrTokenUnusable
		}
		if err != nil {
			return err
		}
		if err := tx.Model(&PasswordToken{}).Where("user_id = ? AND used_at IS NULL", t.UserID).Update("used_at", now).Error; err != nil {
			return err
		}
		if err := tx.First(&u, t.UserID).Error; err != nil {
			return err
		}
		u.PasswordHash = &hash
		return tx.Model(&User{ID: u.ID}).Update("password_hash", hash).Error
	})
	if err != nil {
		return nil, err
	}
	return &u, nil
}
