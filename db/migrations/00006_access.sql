-- +goose Up
-- What an administrator may do, object by object: a permission list on a
-- broker, a customer or a domain (exactly one of the three). An authority
-- on a broker or a customer covers everything beneath it. The foreign keys
-- remove an authority with its object (a purged domain) or its account.
CREATE TABLE authorities (
    id {{.PK}},
    admin_id BIGINT NOT NULL REFERENCES admins (id) ON DELETE CASCADE,
    broker_id BIGINT REFERENCES brokers (id) ON DELETE CASCADE,
    customer_id BIGINT REFERENCES customers (id) ON DELETE CASCADE,
    domain_id BIGINT REFERENCES domains (id) ON DELETE CASCADE,
    permissions TEXT NOT NULL DEFAULT '[]',
    CHECK ((broker_id IS NOT NULL AND customer_id IS NULL AND domain_id IS NULL)
        OR (broker_id IS NULL AND customer_id IS NOT NULL AND domain_id IS NULL)
        OR (broker_id IS NULL AND customer_id IS NULL AND domain_id IS NOT NULL))
);
CREATE UNIQUE INDEX authorities_broker_key ON authorities (admin_id, broker_id);
CREATE UNIQUE INDEX authorities_customer_key ON authorities (admin_id, customer_id);
CREATE UNIQUE INDEX authorities_domain_key ON authorities (admin_id, domain_id);
CREATE INDEX authorities_broker_idx ON authorities (broker_id);
CREATE INDEX authorities_customer_idx ON authorities (customer_id);
CREATE INDEX authorities_domain_idx ON authorities (domain_id);

-- The permissions the end users of a domain hold on their own mailbox.
CREATE TABLE domain_user_access (
    domain_id BIGINT PRIMARY KEY REFERENCES domains (id) ON DELETE CASCADE,
    permissions TEXT NOT NULL DEFAULT '[]'
);

-- +goose Down
DROP TABLE domain_user_access;
DROP TABLE authorities;
