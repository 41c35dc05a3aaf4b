-- API keys with roles, and the audit log of the admin API.

-- A key's secret is shown once when it is made; only its SHA-256 digest is kept. A revoked key stays
-- here (revoked_at set) so that the audit log keeps naming it.
CREATE TABLE api_keys (
    id            bigserial PRIMARY KEY,
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
    role          text NOT NULL CHECK (role IN ('admin', 'operator', 'viewer')),
    secret_sha256 bytea NOT NULL UNIQUE CHECK (length(secret_sha256) = 32),
    created_at    timestamptz NOT NULL DEFAULT now(),
    revoked_at    timestamptz
);

-- Every mutating admin API call and every command sent to a station, whatever its outcome.
-- key_id is NULL for the bootstrap admin token and for a caller without a valid key.
CREATE TABLE audit_log (
    id       bigserial PRIMARY KEY,
    at       timestamptz NOT NULL DEFAULT now(),
    key_id   bigint,
    actor    text NOT NULL,
    role     text,
    method   text NOT NULL,
    path     text NOT NULL,
    action   text NOT NULL,
    target   text,
    status   integer NOT NULL,
    result   text
);
CREATE INDEX audit_log_at ON audit_log (at DESC, id DESC);
