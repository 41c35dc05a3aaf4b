-- OCPI sessions and CDRs: the transactions of roaming partners' tokens, seen as OCPI sees them.
--
-- A session row holds what was fixed when the transaction started: the token (as the eMSP's party, uid, type and
-- contract), where (the location, EVSE and connector the station's EVSE is placed at), and the tariff in force,
-- as it was. What changes (energy, periods, cost, status, end) is read from the transaction and its meter values
-- when the session is served or pushed. A CDR is made once, when the session ends, and never changes.

CREATE TABLE ocpi_sessions (
    id                  text PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 36),
    transaction_id      bigint NOT NULL UNIQUE REFERENCES transactions (id) ON DELETE RESTRICT,
    -- The eMSP platform that owns the token, and its party: only it is sent and shown the session.
    partner_id          bigint NOT NULL REFERENCES ocpi_partners (id) ON DELETE RESTRICT,
    token_country_code  text NOT NULL,
    token_party_id      text NOT NULL,
    cdr_token           jsonb NOT NULL,
    auth_method         text NOT NULL CHECK (auth_method IN ('AUTH_REQUEST', 'COMMAND', 'WHITELIST')),
    -- The eMSP's reference, from the START_SESSION that started it.
    authorization_reference text,
    -- The CPO party (the location's).
    country_code        text NOT NULL,
    party_id            text NOT NULL,
    location_id         text NOT NULL,
    evse_uid            text NOT NULL,
    connector_id        text NOT NULL,
    -- The CdrLocation, as it was at the start.
    cdr_location        jsonb NOT NULL,
    time_zone           text NOT NULL,
    currency            text NOT NULL,
    -- The tariff in force at the start, as it was (none: the session is not priced).
    tariff              jsonb,
    created_at          timestamptz NOT NULL DEFAULT now(),
    last_updated        timestamptz NOT NULL
);
CREATE INDEX ocpi_sessions_page ON ocpi_sessions (token_country_code, token_party_id, created_at, id);

CREATE TABLE ocpi_cdrs (
    id                  text PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 39),
    session_id          text NOT NULL UNIQUE REFERENCES ocpi_sessions (id) ON DELETE RESTRICT,
    partner_id          bigint NOT NULL REFERENCES ocpi_partners (id) ON DELETE RESTRICT,
    token_country_code  text NOT NULL,
    token_party_id      text NOT NULL,
    -- The CDR as made, with its totals from the pricing engine; never changed.
    body                jsonb NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    last_updated        timestamptz NOT NULL
);
CREATE INDEX ocpi_cdrs_page ON ocpi_cdrs (token_country_code, token_party_id, created_at, id);

-- A session's last_updated is the latest of its row, its transaction and its meter values' arrival.
CREATE INDEX meter_values_arrival ON meter_values (transaction_id, received_at);
