-- +goose Up
-- Dialect differences are template placeholders filled in by db.migrations():
-- {{.PK}} is the auto-increment primary key of the dialect (ids are never
-- reused: they are published, encoded, in URLs).

CREATE TABLE admins (
    id {{.PK}},
    login TEXT NOT NULL,
    email TEXT,
    display_name TEXT,
    password_hash TEXT,
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    language TEXT,
    totp BOOLEAN NOT NULL DEFAULT FALSE,
    sys_admin BOOLEAN NOT NULL DEFAULT FALSE,
    last_connection_date BIGINT,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX admins_login_key ON admins (lower(login));
CREATE INDEX admins_email_idx ON admins (lower(email));
{{.SortIndex "admins_login_sort_idx" "admins" "lower(login)"}}

CREATE TABLE personal_tokens (
    id {{.PK}},
    admin_id BIGINT NOT NULL REFERENCES admins (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    hash TEXT NOT NULL,
    expiration BIGINT,
    created_at BIGINT NOT NULL,
    last_use BIGINT
);
CREATE UNIQUE INDEX personal_tokens_hash_key ON personal_tokens (hash);
CREATE INDEX personal_tokens_admin_idx ON personal_tokens (admin_id);

CREATE TABLE brokers (
    id {{.PK}},
    name TEXT NOT NULL,
    description TEXT,
    external_id TEXT,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX brokers_name_key ON brokers (lower(name));

CREATE TABLE customers (
    id {{.PK}},
    broker_id BIGINT REFERENCES brokers (id),
    name TEXT NOT NULL,
    description TEXT,
    external_id TEXT,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX customers_name_key ON customers (lower(name));
CREATE INDEX customers_broker_idx ON customers (broker_id);
CREATE INDEX customers_external_idx ON customers (lower(external_id));

CREATE TABLE domains (
    id {{.PK}},
    name TEXT NOT NULL,
    description TEXT,
    status TEXT NOT NULL,
    wblist_priority TEXT NOT NULL,
    default_language TEXT NOT NULL,
    auto_provisioning_on BOOLEAN NOT NULL DEFAULT FALSE,
    sender_verify_on BOOLEAN NOT NULL DEFAULT TRUE,
    external_id TEXT,
    policy_id BIGINT,
    customer_id BIGINT REFERENCES customers (id),
    outgoing_subnets TEXT NOT NULL DEFAULT '[]',
    creation_date BIGINT NOT NULL,
    deletion_date BIGINT,
    purge_date BIGINT
);
CREATE UNIQUE INDEX domains_name_key ON domains (lower(name));
{{.PatternIndex "domains_name_pattern_idx" "domains" "lower(name)"}}
{{.SortIndex "domains_name_sort_idx" "domains" "lower(name)"}}
CREATE INDEX domains_status_idx ON domains (status, id);
CREATE INDEX domains_creation_idx ON domains (creation_date, id);
CREATE INDEX domains_customer_idx ON domains (customer_id);
CREATE INDEX domains_external_idx ON domains (lower(external_id));
CREATE INDEX domains_purge_idx ON domains (purge_date);

-- Every DNS name the gateway answers for, domain or domain alias: one unique
-- index makes "this name is taken" a database fact, whichever table took it.
CREATE TABLE domain_names (
    name TEXT PRIMARY KEY,
    domain_id BIGINT NOT NULL REFERENCES domains (id) ON DELETE CASCADE
);
CREATE INDEX domain_names_domain_idx ON domain_names (domain_id);

CREATE TABLE domain_aliases (
    id {{.PK}},
    domain_id BIGINT NOT NULL REFERENCES domains (id) ON DELETE CASCADE,
    name TEXT NOT NULL REFERENCES domain_names (name) ON DELETE CASCADE
);
CREATE UNIQUE INDEX domain_aliases_name_key ON domain_aliases (lower(name));
CREATE INDEX domain_aliases_domain_idx ON domain_aliases (domain_id);

CREATE TABLE policies (
    id {{.PK}},
    domain_id BIGINT NOT NULL REFERENCES domains (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    quarantine BOOLEAN NOT NULL DEFAULT FALSE,
    retention BOOLEAN NOT NULL DEFAULT FALSE,
    archive BOOLEAN NOT NULL DEFAULT FALSE,
    incoming BOOLEAN NOT NULL DEFAULT TRUE,
    outgoing BOOLEAN NOT NULL DEFAULT FALSE,
    mail_size_limit INTEGER NOT NULL,
    spam_score DOUBLE PRECISION NOT NULL,
    relay_props TEXT,
    quarantine_props TEXT,
    retention_props TEXT,
    archive_props TEXT
);
CREATE UNIQUE INDEX policies_domain_name_key ON policies (domain_id, lower(name));

CREATE TABLE platforms (
    id {{.PK}},
    domain_id BIGINT NOT NULL REFERENCES domains (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    transport_dest TEXT NOT NULL,
    transport_type TEXT NOT NULL,
    transport_port INTEGER NOT NULL,
    fallback_transport_dest TEXT,
    fallback_transport_type TEXT,
    fallback_transport_port INTEGER,
    api_type TEXT,
    api_data TEXT,
    auth_type TEXT,
    auth_data TEXT,
    is_default BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX platforms_domain_idx ON platforms (domain_id);
CREATE INDEX platforms_name_idx ON platforms (lower(name));

CREATE TABLE outgoing_providers (
    id {{.PK}},
    name TEXT NOT NULL,
    spf_provider TEXT NOT NULL,
    active BOOLEAN NOT NULL DEFAULT TRUE
);
CREATE UNIQUE INDEX outgoing_providers_name_key ON outgoing_providers (lower(name));

CREATE TABLE domain_outgoing_providers (
    domain_id BIGINT NOT NULL REFERENCES domains (id) ON DELETE CASCADE,
    outgoing_provider_id BIGINT NOT NULL REFERENCES outgoing_providers (id) ON DELETE CASCADE,
    PRIMARY KEY (domain_id, outgoing_provider_id)
);
CREATE INDEX domain_outgoing_providers_provider_idx ON domain_outgoing_providers (outgoing_provider_id);

-- +goose Down
DROP TABLE domain_outgoing_providers;
DROP TABLE outgoing_providers;
DROP TABLE platforms;
DROP TABLE policies;
DROP TABLE domain_aliases;
DROP TABLE domain_names;
DROP TABLE domains;
DROP TABLE customers;
DROP TABLE brokers;
DROP TABLE personal_tokens;
DROP TABLE admins;
