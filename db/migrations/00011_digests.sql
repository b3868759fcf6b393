-- +goose Up
-- When each user was last sent each digest (kind: spam, the quarantine's;
-- clean, the delivered mail's), epoch milliseconds: the next lists what
-- came since.
CREATE TABLE digest_state (
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    last_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, kind)
);

-- The one-click release links of the digests that were used: a link
-- works once. Its id is random and says nothing; expires_at (epoch
-- seconds) is the link's own, after which the row may go.
CREATE TABLE release_links_used (
    link_id TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    used_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

-- +goose Down
DROP TABLE release_links_used;
DROP TABLE digest_state;
