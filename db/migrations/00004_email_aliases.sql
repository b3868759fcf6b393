-- +goose Up
-- E-mail aliases (the doc's "groups"): an address of a domain that fans
-- mail out to its recipients. The alias's address is reserved in
-- mail_addresses, like a mailbox's, so an address used by a user or by
-- another alias is refused by the primary key there (stored lower-case);
-- releasing the reservation deletes the alias.

CREATE TABLE email_aliases (
    id {{.PK}},
    domain_id BIGINT NOT NULL REFERENCES domains (id) ON DELETE CASCADE,
    email TEXT NOT NULL REFERENCES mail_addresses (address) ON DELETE CASCADE
);
CREATE UNIQUE INDEX email_aliases_email_key ON email_aliases (email);
CREATE INDEX email_aliases_domain_idx ON email_aliases (domain_id);

-- A recipient is a mailbox of the alias's domain (USER), another e-mail
-- alias of any domain (ALIAS), or any other address (EXTERNAL_ADDRESS).
-- USER and ALIAS recipients reference what they name, ON DELETE CASCADE:
-- deleting a user or an alias removes its memberships in the same
-- statement, and the ALIAS references are the graph in which the store
-- refuses loops.
CREATE TABLE email_alias_recipients (
    id {{.PK}},
    alias_id BIGINT NOT NULL REFERENCES email_aliases (id) ON DELETE CASCADE,
    email TEXT NOT NULL,
    type TEXT NOT NULL,
    user_id BIGINT REFERENCES users (id) ON DELETE CASCADE,
    target_alias_id BIGINT REFERENCES email_aliases (id) ON DELETE CASCADE,
    CHECK ((type = 'USER' AND user_id IS NOT NULL AND target_alias_id IS NULL)
        OR (type = 'ALIAS' AND target_alias_id IS NOT NULL AND user_id IS NULL)
        OR (type = 'EXTERNAL_ADDRESS' AND user_id IS NULL AND target_alias_id IS NULL))
);
CREATE UNIQUE INDEX email_alias_recipients_key ON email_alias_recipients (alias_id, email);
CREATE INDEX email_alias_recipients_email_idx ON email_alias_recipients (email);
CREATE INDEX email_alias_recipients_user_idx ON email_alias_recipients (user_id);
CREATE INDEX email_alias_recipients_target_idx ON email_alias_recipients (target_alias_id);

-- +goose Down
DROP TABLE email_alias_recipients;
DROP TABLE email_aliases;
