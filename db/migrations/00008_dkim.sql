-- +goose Up
-- A domain's DKIM key (5.6), one at most: its selector, its algorithm
-- (RSA, ED25519), the private key sealed with CLEANMAIL_SECRET_KEY
-- (AES-256-GCM of its PKCS#8 DER, the nonce first: never stored in clear)
-- and the public key as its DNS record's p= publishes it (base64), for the
-- records the API answers and the DNS checks. It goes with its domain.
CREATE TABLE dkim_keys (
    domain_id BIGINT PRIMARY KEY REFERENCES domains (id) ON DELETE CASCADE,
    selector TEXT NOT NULL,
    algorithm TEXT NOT NULL CHECK (algorithm IN ('RSA', 'ED25519')),
    private_key {{.Blob}} NOT NULL,
    public_key TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- +goose Down
DROP TABLE dkim_keys;
