package db

import (
	"context"
	"errors"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/cleanmail/cleanmail/pkg/fault"
)

// DigestState is when a user was last sent a digest of a kind.
type DigestState struct {
	UserID int64  `gorm:"primaryKey"`
	Kind   string `gorm:"primaryKey"`
	LastAt int64
}

// TableName is the table's.
func (DigestState) TableName() string { return "digest_state" }

// LastDigest is when the user was last sent the digest of kind (zero:
// never).
func (s *Store) LastDigest(ctx context.Context, userID int64, kind string) (time.Time, error) {
	gdb, cancel := s.db(ctx)
	defer cancel()
	var st DigestState
	err := gdb.Where("user_id = ? AND kind = ?", userID, kind).First(&st).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, translate(err)
	}
	return time.UnixMilli(st.LastAt), nil
}

// SetLastDigest records that the user's digest of kind listed what came
// until at.
func (s *Store) SetLastDigest(ctx context.Context, userID int64, kind string, at time.Time) error {
	return s.write(ctx, func(gdb *gorm.DB) error {
		return gdb.Clauses(clause.OnConflict{
			Columns:   []clause.Column{{Name: "user_id"}, {Name: "kind"}},
			DoUpdates: clause.AssignmentColumns([]string{"last_at"}),
		}).Create(&DigestState{UserID: userID, Kind: kind, LastAt: at.UnixMilli()}).Error
	})
}

// ReleaseLinkUse is a release link that was used.
type ReleaseLinkUse struct {
	LinkID    string `gorm:"primaryKey"`
	UserID    int64
	UsedAt    int64
	ExpiresAt int64
}

// TableName is the table's.
func (ReleaseLinkUse) TableName() string { return "release_links_used" }

// ErrLinkUsed: the release link was used already.
var ErrLinkUsed = fault.Unprocessablef("token", "This release link has already been used.")

// UseReleaseLink records the use of the link id, once: ErrLinkUsed when it
// was used before. Records of links past their expiry are removed on the
// way (they could not be used anyway).
func (s *Store) UseReleaseLink(ctx context.Context, id string, userID int64, expires time.Time) error {
	now := time.Now()
	return s.tx(ctx, func(tx *gorm.DB) error {
		if err := tx.Where("expires_at < ?", now.Unix()).Delete(&ReleaseLinkUse{}).Error; err != nil {
			return err
		}
		res := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&ReleaseLinkUse{LinkID: id, UserID: userID, UsedAt: now.Unix(), ExpiresAt: expires.Unix()})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return ErrLinkUsed
		}
		return nil
	})
}

// ForgetReleaseLink undoes UseReleaseLink, when the release it allowed
// failed: the link works again.
func (s *Store) ForgetReleaseLink(ctx context.Context, id string) error {
	return s.write(ctx, func(gdb *gorm.DB) error {
		return gdb.Where("link_id = ?", id).Delete(&ReleaseLinkUse{}).Error
	})
}

// DigestUser is a user the daily digests may be for: enabled, in an
// enabled domain, with the services of its policy (its own, else its
// domain's).
type DigestUser struct {
	ID         int64
	Quarantine bool
	Retention  bool
}

// DigestUsers pages through the users the daily digests may be for, in id
// order after afterID, limit a page: those whose policy has the
// quarantine or the retention service.
func (s *Store) DigestUsers(ctx context.Context, afterID int64, limit int) ([]DigestUser, error) {
	gdb, cancel := s.db(ctx)
	defer cancel()
	var out []DigestUser
	err := gdb.Table("users").
		Select("users.id AS id, policies.quarantine AS quarantine, policies.retention AS retention").
		Joins("JOIN domains ON domains.id = users.domain_id").
		Joins("JOIN policies ON policies.id = COALESCE(users.policy_id, domains.policy_id)").
		Where("users.id > ? AND users.status = ? AND domains.status = ? AND (policies.quarantine OR policies.retention)", afterID, UserEnabled, StatusEnabled).
		Order("users.id").Limit(limit).Scan(&out).Error
	return out, translate(err)
}
