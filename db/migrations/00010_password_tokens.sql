-- +goose Up
-- One-time links that set a user's password (the welcome mail's, the
-- password reset mail's): only the SHA-256 of the token is kept, never the
-- token. A link works once, until expires_at (epoch seconds); using one
-- marks it used and retires every other open link of the user, since the
-- password they would set has just been set.
CREATE TABLE password_tokens (
    id {{.PK}},
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX password_tokens_user_idx ON password_tokens (user_id);

-- +goose Down
DROP TABLE password_tokens;
