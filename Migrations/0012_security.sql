-- Security profiles 2 and 3, the station certificate authority, and Plug & Charge contract status.
--
-- stations.security_profile (0001) is now the lowest profile a station may connect with: a connection at a higher
-- profile raises it (downgrade protection), and only an admin lowers it. What the last connection used is kept.
ALTER TABLE stations
    ADD CONSTRAINT stations_security_profile_range CHECK (security_profile BETWEEN 0 AND 3),
    ADD COLUMN last_security_profile smallint CHECK (last_security_profile BETWEEN 0 AND 3),
    -- The fingerprint of the client certificate of the last profile-3 connection.
    ADD COLUMN last_certificate text;

-- A station's SignCertificate, queued in the transaction that answers it; the certificate service signs it (or
-- forwards it to an external CA) and sends CertificateSigned.
CREATE TABLE certificate_signing_requests (
    id              bigserial PRIMARY KEY,
    station_id      text NOT NULL REFERENCES stations (id),
    csr             text NOT NULL CHECK (length(csr) <= 16384),
    certificate_use text NOT NULL CHECK (certificate_use IN ('ChargingStationCertificate', 'V2GCertificate')),
    received_at     timestamptz NOT NULL,
    state           text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'accepted', 'rejected', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    -- The certificate made for it, once made (sent again on a retry, never signed twice).
    certificate     text,
    last_error      text,
    done_at         timestamptz
);
CREATE INDEX certificate_signing_requests_due ON certificate_signing_requests (next_attempt_at) WHERE state = 'pending';
CREATE INDEX certificate_signing_requests_station ON certificate_signing_requests (station_id, received_at);

-- Every certificate the station CA issued.
CREATE TABLE station_certificates (
    fingerprint     text PRIMARY KEY CHECK (fingerprint ~ '^[0-9a-f]{64}$'),
    station_id      text NOT NULL REFERENCES stations (id),
    serial          text NOT NULL,
    certificate_use text NOT NULL,
    subject         text NOT NULL,
    not_before      timestamptz NOT NULL,
    not_after       timestamptz NOT NULL,
    pem             text NOT NULL,
    request_id      bigint REFERENCES certificate_signing_requests (id),
    issued_at       timestamptz NOT NULL DEFAULT now(),
    -- When the renewal worker last asked the station for a new CSR.
    renewal_triggered_at timestamptz
);
CREATE INDEX station_certificates_expiry ON station_certificates (not_after);
CREATE INDEX station_certificates_station ON station_certificates (station_id, issued_at);
CREATE UNIQUE INDEX station_certificates_serial ON station_certificates (serial);

-- Voltaic's revocation list for station (client) certificates, whoever issued them. Never deleted.
CREATE TABLE revoked_certificates (
    fingerprint text PRIMARY KEY CHECK (fingerprint ~ '^[0-9a-f]{64}$'),
    reason      text,
    revoked_at  timestamptz NOT NULL DEFAULT now()
);

-- The local status list of contract (ISO 15118) certificates the admin manages, by RFC 6960 CertID, as OCPP's
-- CertificateHashData names them: 'good' contracts known to be valid, and 'revoked' ones.
CREATE TABLE contract_certificate_status (
    hash_algorithm   text NOT NULL CHECK (hash_algorithm IN ('SHA256', 'SHA384', 'SHA512')),
    issuer_name_hash text NOT NULL CHECK (issuer_name_hash ~ '^[0-9a-f]{1,128}$'),
    issuer_key_hash  text NOT NULL CHECK (issuer_key_hash ~ '^[0-9a-f]{1,128}$'),
    serial           text NOT NULL CHECK (serial ~ '^[0-9a-f]{1,40}$'),
    status           text NOT NULL CHECK (status IN ('good', 'revoked')),
    emaid            text,
    reason           text,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (hash_algorithm, issuer_name_hash, issuer_key_hash, serial)
);
