-- +goose Up
-- The last diagnostic of each domain (POST /domains/{id}/health), as the
-- API shows it: when it ran (epoch seconds, as the doc's examples), whether
-- the domain is healthy, and its report (JSON). Replaced by each run, gone
-- with the domain.
CREATE TABLE domain_health (
    domain_id BIGINT PRIMARY KEY REFERENCES domains (id) ON DELETE CASCADE,
    performed_at BIGINT NOT NULL,
    status BOOLEAN NOT NULL,
    report TEXT NOT NULL
);
CREATE INDEX domain_health_failing_idx ON domain_health (status, domain_id);

-- The last diagnostic of each platform (POST /platforms/{id}/health: the
-- relay checks of its transports), the same way.
CREATE TABLE platform_health (
    platform_id BIGINT PRIMARY KEY REFERENCES platforms (id) ON DELETE CASCADE,
    performed_at BIGINT NOT NULL,
    status BOOLEAN NOT NULL,
    report TEXT NOT NULL
);
CREATE INDEX platform_health_failing_idx ON platform_health (status, platform_id);

-- The periodic re-check's claims: the replica that claims an entity checks
-- it; the claim lapses at until (epoch seconds), so a replica that dies
-- mid-round leaves its entities to the next one.
CREATE TABLE health_claims (
    kind TEXT NOT NULL,
    entity_id BIGINT NOT NULL,
    until BIGINT NOT NULL,
    PRIMARY KEY (kind, entity_id)
);

-- +goose Down
DROP TABLE health_claims;
DROP TABLE platform_health;
DROP TABLE domain_health;
