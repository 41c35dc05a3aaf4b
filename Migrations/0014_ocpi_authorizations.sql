-- Real-time authorizations (OCPI tokens module, `POST {tokens}/{uid}/authorize` to the token's eMSP): what the eMSP
-- answered, kept in the transaction of the station message that asked. A roaming token whose copy says to ask
-- (whitelist NEVER, or ALLOWED_OFFLINE) is decided by the answer of the last 15 minutes; an ALLOWED answer's
-- reference is carried into the OCPI Session and CDR.
CREATE TABLE ocpi_authorizations (
    id                      bigserial PRIMARY KEY,
    partner_id              bigint NOT NULL REFERENCES ocpi_partners (id),
    token_uid               text NOT NULL CHECK (length(token_uid) BETWEEN 1 AND 36),
    token_type              text NOT NULL,
    station_id              text NOT NULL,
    location_id             text,
    allowed                 text NOT NULL CHECK (allowed IN ('ALLOWED', 'BLOCKED', 'EXPIRED', 'NO_CREDIT', 'NOT_ALLOWED', 'UNREACHABLE')),
    authorization_reference text CHECK (length(authorization_reference) <= 36),
    created_at              timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ocpi_authorizations_token ON ocpi_authorizations (lower(token_uid), id DESC);
