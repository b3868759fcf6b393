-- +goose Up
-- Mailboxes of the filtered domains. An address is unique across the
-- gateway, case-insensitively; what belongs only to a user (options,
-- signature, sender rules, alias memberships) references it ON DELETE
-- CASCADE, so deleting the user removes them in the same statement.

-- Every mail address the gateway answers for, mailbox or e-mail alias:
-- one primary key makes "this address is taken" a database fact, whichever
-- table took it (stored lower-case).
CREATE TABLE mail_addresses (
    address TEXT PRIMARY KEY,
    domain_id BIGINT NOT NULL REFERENCES domains (id) ON DELETE CASCADE
);
CREATE INDEX mail_addresses_domain_idx ON mail_addresses (domain_id);

CREATE TABLE users (
    id {{.PK}},
    domain_id BIGINT NOT NULL REFERENCES domains (id) ON DELETE CASCADE,
    email TEXT NOT NULL,
    firstname TEXT,
    lastname TEXT,
    status TEXT NOT NULL,
    language TEXT NOT NULL,
    password_hash TEXT,
    policy_id BIGINT REFERENCES policies (id),
    platform_id BIGINT REFERENCES platforms (id) ON DELETE SET NULL,
    auth_id TEXT,
    sender_verify_on BOOLEAN NOT NULL DEFAULT TRUE,
    mfa_type TEXT,
    sign TEXT,
    creation_date BIGINT NOT NULL,
    last_connection_date BIGINT
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));
{{.PatternIndex "users_email_pattern_idx" "users" "lower(email)"}}
{{.SortIndex "users_email_sort_idx" "users" "lower(email)"}}
CREATE INDEX users_domain_idx ON users (domain_id, status);
CREATE INDEX users_policy_idx ON users (policy_id);
CREATE INDEX users_platform_idx ON users (platform_id);

-- +goose Down
DROP TABLE users;
DROP TABLE mail_addresses;
