-- +goose Up
-- Files uploaded to be attached to an e-mail (POST /emails/attachments):
-- in the database so that every replica sees them. Each belongs to its
-- uploader, an administrator or an end user (exactly one of the two), goes
-- with its account, expires a day after it was made (hidden from then on,
-- purged by the hourly purge) and is deleted once sent.
CREATE TABLE uploads (
    id {{.PK}},
    uid TEXT NOT NULL,
    admin_id BIGINT REFERENCES admins (id) ON DELETE CASCADE,
    user_id BIGINT REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size BIGINT NOT NULL,
    content {{.Blob}} NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    CHECK ((admin_id IS NOT NULL AND user_id IS NULL) OR (admin_id IS NULL AND user_id IS NOT NULL))
);
CREATE UNIQUE INDEX uploads_uid_key ON uploads (uid);
CREATE INDEX uploads_admin_idx ON uploads (admin_id);
CREATE INDEX uploads_user_idx ON uploads (user_id);
CREATE INDEX uploads_expires_idx ON uploads (expires_at);

-- +goose Down
DROP TABLE uploads;
