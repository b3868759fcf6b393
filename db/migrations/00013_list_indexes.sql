-- +goose Up
-- The indexes behind the documented filters and sorts of the lists that
-- TestExplainLists (db/explain_test.go) found missing: at 50,000 domains
-- and 200,000 users, each of these calls read a whole table without them.

{{if .Postgres -}}
-- Wildcard filters on PostgreSQL: GIN indexes of pg_trgm's trigrams serve
-- `*ab*` and `*ab` (and `ab*` and exact values where no b-tree does), for
-- patterns of at least three characters. pg_trgm ships with PostgreSQL
-- (postgresql-contrib, part of Debian's server package) and is a trusted
-- extension: created here, in the first schema of the search path, unless
-- the database has it already.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
{{- end}}
{{.TrigramIndex "domains_name_trgm_idx" "domains" "lower(name)"}}
{{.TrigramIndex "domains_external_trgm_idx" "domains" "lower(external_id)"}}
{{.TrigramIndex "platforms_name_trgm_idx" "platforms" "lower(name)"}}
{{.TrigramIndex "users_email_trgm_idx" "users" "lower(email)"}}
-- The recipient filter of e-mail aliases looks up a recipient's own
-- address, its user's and its alias's (db/email_aliases.go recipientWhere).
{{.TrigramIndex "email_alias_recipients_email_trgm_idx" "email_alias_recipients" "lower(email)"}}
{{.TrigramIndex "email_aliases_email_trgm_idx" "email_aliases" "lower(email)"}}
-- The admin search matches login, e-mail or display name: one index each,
-- or the OR of the three reads the table.
{{.TrigramIndex "admins_login_trgm_idx" "admins" "lower(login)"}}
{{.TrigramIndex "admins_email_trgm_idx" "admins" "lower(email)"}}
{{.TrigramIndex "admins_display_name_trgm_idx" "admins" "lower(display_name)"}}

-- Sorts, each with the id tie-breaker (on SQLite the display name's also
-- serves the search's exact value).
{{.SortIndex "domains_external_sort_idx" "domains" "lower(external_id)"}}
{{.SortIndex "users_firstname_sort_idx" "users" "lower(firstname)"}}
{{.SortIndex "users_lastname_sort_idx" "users" "lower(lastname)"}}
CREATE INDEX users_status_idx ON users (status, id);
CREATE INDEX users_creation_idx ON users (creation_date, id);
{{.SortIndex "admins_email_sort_idx" "admins" "lower(email)"}}
{{.SortIndex "admins_display_name_sort_idx" "admins" "lower(display_name)"}}
CREATE INDEX admins_created_idx ON admins (created_at, id);
-- A domain's users and e-mail aliases in their default order.
{{.ScopedSortIndex "users_domain_email_idx" "users" "domain_id" "lower(email)" ""}}
{{.ScopedSortIndex "email_aliases_domain_email_idx" "email_aliases" "domain_id" "lower(email)" ""}}

{{if .Postgres -}}
-- The count of a status most domains have (ENABLED) reads its matches
-- from an index alone: (status) alone, whose equal keys PostgreSQL stores
-- once (deduplication), is a fifth of (status, id), and cheaper to read
-- than the table.
CREATE INDEX domains_status_count_idx ON domains (status);
{{- end}}

-- +goose Down
DROP INDEX IF EXISTS domains_status_count_idx;
DROP INDEX email_aliases_domain_email_idx;
DROP INDEX users_domain_email_idx;
DROP INDEX admins_created_idx;
DROP INDEX admins_display_name_sort_idx;
DROP INDEX admins_email_sort_idx;
DROP INDEX users_creation_idx;
DROP INDEX users_status_idx;
DROP INDEX users_lastname_sort_idx;
DROP INDEX users_firstname_sort_idx;
DROP INDEX domains_external_sort_idx;
DROP INDEX IF EXISTS admins_display_name_trgm_idx;
DROP INDEX IF EXISTS admins_email_trgm_idx;
DROP INDEX IF EXISTS admins_login_trgm_idx;
DROP INDEX IF EXISTS email_aliases_email_trgm_idx;
DROP INDEX IF EXISTS email_alias_recipients_email_trgm_idx;
DROP INDEX IF EXISTS users_email_trgm_idx;
DROP INDEX IF EXISTS platforms_name_trgm_idx;
DROP INDEX IF EXISTS domains_external_trgm_idx;
DROP INDEX IF EXISTS domains_name_trgm_idx;
