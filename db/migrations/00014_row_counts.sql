-- +goose Up
-- Exact row counts for the totals (X-Total-Count) of the unfiltered lists,
-- kept by triggers in the transaction of every insert and delete (db/counts.go
-- reads them): a list's total then costs one key lookup, not a walk of its
-- table or of its owner's rows.
CREATE TABLE row_counts (
    tbl TEXT NOT NULL,
    -- '' and 0 for the whole table; else a column and one of its values.
    col TEXT NOT NULL,
    val BIGINT NOT NULL,
    -- A count is the sum of its slots (on PostgreSQL, one per group of
    -- sessions: dialectSQL.Counted); a slot alone may be negative.
    slot INTEGER NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (tbl, col, val, slot)
);
{{.Counted "domains"}}
{{.Counted "customers"}}
{{.Counted "admins"}}
{{.Counted "users" "domain_id"}}
-- A domain's enabled users (its activeUsersCount).
{{.CountedWhere "users" "domain_id" "enabled" "%s.status = 'ENABLED'"}}
{{.Counted "email_aliases" "domain_id"}}
{{.Counted "wblist_rules" "domain_id" "user_id"}}
{{.Counted "attachment_filters" "domain_id"}}
{{.Counted "uri_filters" "domain_id"}}

-- A list of sender rules leaves out those that have expired and wait for
-- the purge: counted from here, at their owner and expiry (db/wblist.go).
CREATE INDEX wblist_rules_domain_expiry_idx ON wblist_rules (domain_id, expire_at) WHERE domain_id IS NOT NULL AND expire_at IS NOT NULL;
CREATE INDEX wblist_rules_user_expiry_idx ON wblist_rules (user_id, expire_at) WHERE user_id IS NOT NULL AND expire_at IS NOT NULL;

-- +goose Down
DROP INDEX wblist_rules_user_expiry_idx;
DROP INDEX wblist_rules_domain_expiry_idx;
{{.Uncounted "uri_filters"}}
{{.Uncounted "attachment_filters"}}
{{.Uncounted "wblist_rules"}}
{{.Uncounted "email_aliases"}}
{{.UncountedWhere "users" "enabled"}}
{{.Uncounted "users"}}
{{.Uncounted "admins"}}
{{.Uncounted "customers"}}
{{.Uncounted "domains"}}
DROP TABLE row_counts;
