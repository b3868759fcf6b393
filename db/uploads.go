package db

import (
	"context"

	"gorm.io/gorm"
)

// UploadLifetime is how long an upload is kept, in milliseconds: a day.
const UploadLifetime int64 = 24 * 60 * 60 * 1000

// Upload is a file uploaded to be attached to an e-mail. Exactly one of
// AdminID and UserID is set: its owner.
type Upload struct {
	ID          int64 `gorm:"primaryKey"`
	UID         string
	AdminID     *int64
	UserID      *int64
	Name        string
	ContentType string
	Size        int64
	Content     []byte
	CreatedAt   int64
	ExpiresAt   int64
}

// UploadOwner is who an upload belongs to: an administrator (AdminID) or
// an end user (UserID).
type UploadOwner struct {
	AdminID, UserID int64
}

// where narrows a query to the owner's uploads that have not expired at now.
func (o UploadOwner) where(gdb *gorm.DB, now int64) *gorm.DB {
	if o.AdminID != 0 {
		gdb = gdb.Where("admin_id = ? AND user_id IS NULL", o.AdminID)
	} else {
		gdb = gdb.Where("user_id = ? AND admin_id IS NULL", o.UserID)
	}
	return gdb.Where("expires_at > ?", now)
}

// CreateUpload stores u for its owner, made now and expiring after
// UploadLifetime (CreatedAt and ExpiresAt are set).
func (s *Store) CreateUpload(ctx context.Context, owner UploadOwner, u *Upload) error {
	u.AdminID, u.UserID = nil, nil
	if owner.AdminID != 0 {
		u.AdminID = &owner.AdminID
	} else {
		u.UserID = &owner.UserID
	}
	u.CreatedAt = nowMillis()
	u.ExpiresAt = u.CreatedAt + UploadLifetime
	u.Size = int64(len(u.Content))
	return s.write(ctx, func(gdb *gorm.DB) error { return gdb.Create(u).Error })
}

// GetUpload loads the owner's upload uid, unexpired at now, with its bytes
// when content is set. Another owner's, an expired or an unknown upload is
// ErrNotFound alike.
func (s *Store) GetUpload(ctx context.Context, owner UploadOwner, uid string, now int64, content bool) (*Upload, error) {
	gdb, cancel := s.db(ctx)
	defer cancel()
	q := owner.where(gdb.Where("uid = ?", uid), now)
	if !content {
		q = q.Omit("content")
	}
	var u Upload
	if err := q.Take(&u).Error; err != nil {
		return nil, translate(err)
	}
	return &u, nil
}

// DeleteUpload deletes the owner's upload uid (ErrNotFound when it has no
// such upload, or it expired at now).
func (s *Store) DeleteUpload(ctx context.Context, owner UploadOwner, uid string, now int64) error {
	return s.write(ctx, func(gdb *gorm.DB) error {
		return deleted(owner.where(gdb.Where("uid = ?", uid), now).Delete(&Upload{}))
	})
}

// DeleteUploads deletes the owner's uploads among uids (those sent), expired
// or not; the others are left alone.
func (s *Store) DeleteUploads(ctx context.Context, owner UploadOwner, uids []string) error {
	if len(uids) == 0 {
		return nil
	}
	return s.write(ctx, func(gdb *gorm.DB) error {
		return owner.where(gdb.Where("uid IN ?", uids), 0).Delete(&Upload{}).Error
	})
}

// PurgeExpiredUploads deletes every upload expired at now and returns how
// many. Expired uploads are hidden already; this reclaims their bytes.
func (s *Store) PurgeExpiredUploads(ctx context.Context, now int64) (int64, error) {
	var n int64
	err := s.write(ctx, func(gdb *gorm.DB) error {
		res := gdb.Where("expires_at <= ?", now).Delete(&Upload{})
		n = res.RowsAffected
		return res.Error
	})
	return n, err
}
