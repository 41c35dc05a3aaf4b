-- OCPI tokens: the eMSPs' drivers' tokens, which they put in Voltaic's copy (Voltaic is the Receiver of the
-- tokens module). Keyed as OCPI keys them: the eMSP's party, the uid (a CiString: any case is the same
-- token) and the type. A station presenting the uid is authorized from this copy (see HotSQLs.Token).
CREATE TABLE ocpi_tokens (
    country_code text NOT NULL CHECK (country_code ~ '^[A-Z0-9]{2}$'),
    party_id     text NOT NULL CHECK (party_id ~ '^[A-Z0-9]{3}$'),
    uid          text NOT NULL CHECK (length(uid) BETWEEN 1 AND 36),
    type         text NOT NULL CHECK (type IN ('AD_HOC_USER', 'APP_USER', 'OTHER', 'RFID')),
    -- The partner that put it (only a partner with that party may change it).
    partner_id   bigint NOT NULL REFERENCES ocpi_partners (id) ON DELETE RESTRICT,
    valid        boolean NOT NULL,
    whitelist    text NOT NULL CHECK (whitelist IN ('ALWAYS', 'ALLOWED', 'ALLOWED_OFFLINE', 'NEVER')),
    group_id     text,
    -- The Token as the eMSP sent it, validated.
    body         jsonb NOT NULL,
    last_updated timestamptz NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX ocpi_tokens_key ON ocpi_tokens (country_code, party_id, lower(uid), type);
-- What a station presents is the uid alone.
CREATE INDEX ocpi_tokens_uid ON ocpi_tokens (lower(uid));
