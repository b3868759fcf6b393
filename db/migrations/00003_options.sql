-- +goose Up
-- Option values, set at one of four scopes: the platform (the whole
-- service), a customer, a domain or a user. The catalog of options (names,
-- types, scopes, defaults) is data shipped with the server (db/option_defs.go),
-- not a table: only values are stored, under the catalog's canonical name.
--
-- object_id is the id of the customer, domain or user the value belongs to
-- (0 for the platform): one unique key then covers every scope. The same id
-- is also held in the scope's own foreign-key column, so that deleting a
-- customer, a domain or a user deletes its values in the same statement
-- (and a user's values go with its domain's cascade to users). The CHECK
-- keeps the two in step (IS NOT NULL: a comparison with NULL is unknown,
-- and an unknown CHECK passes).
CREATE TABLE option_values (
    id {{.PK}},
    scope TEXT NOT NULL,
    object_id BIGINT NOT NULL,
    customer_id BIGINT REFERENCES customers (id) ON DELETE CASCADE,
    domain_id BIGINT REFERENCES domains (id) ON DELETE CASCADE,
    user_id BIGINT REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    CONSTRAINT option_values_owner_check CHECK (
        (scope = 'PLATFORM' AND object_id = 0 AND customer_id IS NULL AND domain_id IS NULL AND user_id IS NULL) OR
        (scope = 'CUSTOMER' AND customer_id IS NOT NULL AND customer_id = object_id AND domain_id IS NULL AND user_id IS NULL) OR
        (scope = 'DOMAIN' AND domain_id IS NOT NULL AND domain_id = object_id AND customer_id IS NULL AND user_id IS NULL) OR
        (scope = 'USER' AND user_id IS NOT NULL AND user_id = object_id AND customer_id IS NULL AND domain_id IS NULL)
    )
);
CREATE UNIQUE INDEX option_values_key ON option_values (scope, object_id, name);
CREATE INDEX option_values_customer_idx ON option_values (customer_id);
CREATE INDEX option_values_domain_idx ON option_values (domain_id);
CREATE INDEX option_values_user_idx ON option_values (user_id);

-- +goose Down
DROP TABLE option_values;
