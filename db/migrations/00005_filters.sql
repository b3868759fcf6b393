-- +goose Up
-- Filtering rules: sender rules (the doc's wblist) of domains and
-- mailboxes, attachment rules and URI rules of domains. Everything
-- references its owner ON DELETE CASCADE: deleting a user, or purging a
-- domain, removes its rules in the same statement.

-- Sender rules. The owner is a domain or a mailbox, never both (the CHECK);
-- one table serves both so that the decision reads a mailbox's and its
-- domain's rules in one query. value is stored in canonical form (a
-- lower-case address or ASCII domain name); expire_at (epoch ms) NULL
-- means never; spf_on is set for ALLOW rules only.
CREATE TABLE wblist_rules (
    id {{.PK}},
    domain_id BIGINT REFERENCES domains (id) ON DELETE CASCADE,
    user_id BIGINT REFERENCES users (id) ON DELETE CASCADE,
    value TEXT NOT NULL,
    type TEXT NOT NULL,
    spf_on BOOLEAN,
    expire_at BIGINT,
    description TEXT,
    created_at BIGINT NOT NULL,
    CHECK ((domain_id IS NULL) <> (user_id IS NULL))
);
-- "An identical rule already exists" (409) is a database fact: same owner,
-- same value (any case), same type. The same keys serve the value filter
-- and the decision's lookup of a sender's candidate values.
CREATE UNIQUE INDEX wblist_rules_domain_key ON wblist_rules (domain_id, lower(value), type) WHERE domain_id IS NOT NULL;
CREATE UNIQUE INDEX wblist_rules_user_key ON wblist_rules (user_id, lower(value), type) WHERE user_id IS NOT NULL;
-- Behind the lists: the default sorts (owner and id: one owner per list,
-- so both are the id order), the type filter, and the other sorts, each
-- with the id tie-breaker. expire_at ends the first four so that a list's
-- count of active rules (X-Total-Count) reads the index alone.
CREATE INDEX wblist_rules_domain_idx ON wblist_rules (domain_id, id, expire_at) WHERE domain_id IS NOT NULL;
CREATE INDEX wblist_rules_user_idx ON wblist_rules (user_id, id, expire_at) WHERE user_id IS NOT NULL;
CREATE INDEX wblist_rules_domain_type_idx ON wblist_rules (domain_id, type, id, expire_at) WHERE domain_id IS NOT NULL;
CREATE INDEX wblist_rules_user_type_idx ON wblist_rules (user_id, type, id, expire_at) WHERE user_id IS NOT NULL;
{{.ScopedSortIndex "wblist_rules_domain_value_idx" "wblist_rules" "domain_id" "lower(value)" "domain_id IS NOT NULL"}}
{{.ScopedSortIndex "wblist_rules_user_value_idx" "wblist_rules" "user_id" "lower(value)" "user_id IS NOT NULL"}}
CREATE INDEX wblist_rules_domain_created_idx ON wblist_rules (domain_id, created_at, id) WHERE domain_id IS NOT NULL;
CREATE INDEX wblist_rules_user_created_idx ON wblist_rules (user_id, created_at, id) WHERE user_id IS NOT NULL;
-- The expireAt sort puts rules that never expire last on both databases
-- (their NULL sorts first in SQLite, last in PostgreSQL).
CREATE INDEX wblist_rules_domain_expire_idx ON wblist_rules (domain_id, COALESCE(expire_at, 9223372036854775807), id) WHERE domain_id IS NOT NULL;
CREATE INDEX wblist_rules_user_expire_idx ON wblist_rules (user_id, COALESCE(expire_at, 9223372036854775807), id) WHERE user_id IS NOT NULL;
-- The purge of expired rules.
CREATE INDEX wblist_rules_expire_idx ON wblist_rules (expire_at) WHERE expire_at IS NOT NULL;

-- Attachment rules of a domain. filter is a regular expression, kept as
-- written (case matters in a regexp); priority numbers the domain's rules
-- in order of creation.
CREATE TABLE attachment_filters (
    id {{.PK}},
    domain_id BIGINT NOT NULL REFERENCES domains (id) ON DELETE CASCADE,
    action TEXT NOT NULL,
    check_type TEXT NOT NULL,
    filter TEXT NOT NULL,
    description TEXT,
    priority INTEGER NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX attachment_filters_rule_key ON attachment_filters (domain_id, action, check_type, filter);
CREATE INDEX attachment_filters_domain_idx ON attachment_filters (domain_id, id);
CREATE INDEX attachment_filters_action_idx ON attachment_filters (domain_id, action, id);
CREATE INDEX attachment_filters_check_type_idx ON attachment_filters (domain_id, check_type, id);
CREATE INDEX attachment_filters_priority_idx ON attachment_filters (domain_id, priority, id);
CREATE INDEX attachment_filters_created_idx ON attachment_filters (domain_id, created_at, id);

-- URI rules of a domain. filter is a host or domain name, stored in
-- canonical (lower-case ASCII) form.
CREATE TABLE uri_filters (
    id {{.PK}},
    domain_id BIGINT NOT NULL REFERENCES domains (id) ON DELETE CASCADE,
    action TEXT NOT NULL,
    filter TEXT NOT NULL,
    description TEXT,
    priority INTEGER NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX uri_filters_rule_key ON uri_filters (domain_id, action, lower(filter));
CREATE INDEX uri_filters_domain_idx ON uri_filters (domain_id, id);
CREATE INDEX uri_filters_action_idx ON uri_filters (domain_id, action, id);
{{.ScopedSortIndex "uri_filters_filter_idx" "uri_filters" "domain_id" "lower(filter)" ""}}
CREATE INDEX uri_filters_priority_idx ON uri_filters (domain_id, priority, id);
CREATE INDEX uri_filters_created_idx ON uri_filters (domain_id, created_at, id);

-- +goose Down
DROP TABLE uri_filters;
DROP TABLE attachment_filters;
DROP TABLE wblist_rules;
