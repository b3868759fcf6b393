-- +goose Up
-- The domains of one status, in the default order (name, then id): the
-- status filter compares the stored (canonical) value exactly, which
-- this index serves with the sort.
{{.ScopedSortIndex "domains_status_name_idx" "domains" "status" "lower(name)" ""}}

-- +goose Down
DROP INDEX domains_status_name_idx;
