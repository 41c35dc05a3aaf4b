-- Voltaic core schema: stations, connectors, tokens, transactions, meter values, reservations,
-- the raw station event log and the transactional outbox. All times are timestamptz (UTC inside).

CREATE TABLE stations (
    id                  text PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 48),
    password_hash       text,
    security_profile    smallint NOT NULL DEFAULT 0,
    registration_status text NOT NULL DEFAULT 'Accepted' CHECK (registration_status IN ('Accepted', 'Pending', 'Rejected')),
    ocpp_version        text,
    vendor              text,
    model               text,
    serial_number       text,
    firmware_version    text,
    iccid               text,
    imsi                text,
    meter_type          text,
    meter_serial_number text,
    boot_reason         text,
    online              boolean NOT NULL DEFAULT false,
    connected_node      text,
    last_boot_at        timestamptz,
    last_seen_at        timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now()
);

-- A 1.6 connector n is EVSE n with connector 1; EVSE 0 connector 0 is the station itself.
CREATE TABLE connectors (
    station_id        text NOT NULL REFERENCES stations (id) ON DELETE CASCADE,
    evse_id           integer NOT NULL CHECK (evse_id >= 0),
    connector_id      integer NOT NULL CHECK (connector_id >= 0),
    status            text NOT NULL,
    error_code        text,
    info              text,
    vendor_error_code text,
    status_at         timestamptz NOT NULL,
    PRIMARY KEY (station_id, evse_id, connector_id)
);

CREATE TABLE status_history (
    id                bigserial PRIMARY KEY,
    station_id        text NOT NULL REFERENCES stations (id) ON DELETE CASCADE,
    evse_id           integer NOT NULL,
    connector_id      integer NOT NULL,
    status            text NOT NULL,
    error_code        text,
    info              text,
    vendor_error_code text,
    reported_at       timestamptz NOT NULL,
    received_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (station_id, evse_id, connector_id, reported_at, status)
);

CREATE TABLE id_tokens (
    value      text PRIMARY KEY CHECK (length(value) BETWEEN 1 AND 255),
    type       text NOT NULL DEFAULT 'Central',
    status     text NOT NULL DEFAULT 'Accepted' CHECK (status IN ('Accepted', 'Blocked', 'Expired', 'Invalid')),
    expires_at timestamptz,
    group_id   text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE reservations (
    id             serial PRIMARY KEY,
    station_id     text NOT NULL REFERENCES stations (id) ON DELETE CASCADE,
    evse_id        integer,
    id_token       text NOT NULL,
    expires_at     timestamptz NOT NULL,
    status         text NOT NULL CHECK (status IN ('Pending', 'Accepted', 'Rejected', 'Cancelled', 'Used', 'Expired')),
    transaction_id bigint,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX reservations_station ON reservations (station_id, status);

-- id is the OCPP 1.6 integer transactionId; uid the 2.0.1 string id (the decimal id for 1.6).
CREATE TABLE transactions (
    id              bigserial PRIMARY KEY,
    uid             text NOT NULL,
    station_id      text NOT NULL REFERENCES stations (id) ON DELETE CASCADE,
    evse_id         integer NOT NULL,
    connector_id    integer NOT NULL,
    id_token        text,
    reservation_id  integer,
    remote_start_id integer,
    state           text NOT NULL CHECK (state IN ('Active', 'Ended')),
    charging_state  text,
    started_at      timestamptz,
    stopped_at      timestamptz,
    meter_start_wh  bigint,
    meter_stop_wh   bigint,
    energy_wh       bigint,
    stop_reason     text,
    suspect         boolean NOT NULL DEFAULT false,
    suspect_reasons text[] NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (station_id, uid)
);
CREATE INDEX transactions_active_token ON transactions (id_token) WHERE state = 'Active';
CREATE INDEX transactions_started ON transactions (started_at DESC);
-- A repeated 1.6 StartTransaction (same station, connector, token, time and meter) is the same transaction.
CREATE UNIQUE INDEX transactions_start_identity ON transactions (station_id, evse_id, id_token, started_at, meter_start_wh)
    WHERE uid ~ '^[0-9]+$';

-- 2.0.1 TransactionEvent bookkeeping: a repeated seqNo is acknowledged and not applied twice.
CREATE TABLE transaction_events (
    transaction_id bigint NOT NULL REFERENCES transactions (id) ON DELETE CASCADE,
    seq_no         integer NOT NULL,
    event_type     text NOT NULL,
    trigger_reason text NOT NULL,
    offline        boolean NOT NULL,
    occurred_at    timestamptz NOT NULL,
    received_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (transaction_id, seq_no)
);

-- Every sampled value, normalised to Wh / W / A / V; the reported value, unit and signed data verbatim.
CREATE TABLE meter_values (
    id             bigserial PRIMARY KEY,
    station_id     text NOT NULL REFERENCES stations (id) ON DELETE CASCADE,
    evse_id        integer NOT NULL,
    transaction_id bigint REFERENCES transactions (id) ON DELETE SET NULL,
    sampled_at     timestamptz NOT NULL,
    measurand      text NOT NULL,
    phase          text NOT NULL DEFAULT '',
    location       text NOT NULL DEFAULT '',
    context        text NOT NULL DEFAULT '',
    value          numeric,
    unit           text NOT NULL,
    raw_value      text NOT NULL,
    raw_unit       text,
    signed_data    text,
    received_at    timestamptz NOT NULL DEFAULT now()
);
-- Replayed meter values are stored once.
CREATE UNIQUE INDEX meter_values_identity ON meter_values (station_id, evse_id, coalesce(transaction_id, 0), sampled_at, measurand, phase, location, context);
CREATE INDEX meter_values_transaction ON meter_values (transaction_id, sampled_at);

-- Everything else a station reports (firmware, diagnostics, reports, events, data transfer), verbatim.
CREATE TABLE station_events (
    id          bigserial PRIMARY KEY,
    station_id  text NOT NULL REFERENCES stations (id) ON DELETE CASCADE,
    kind        text NOT NULL,
    payload     jsonb NOT NULL,
    suspect     boolean NOT NULL DEFAULT false,
    occurred_at timestamptz NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX station_events_station ON station_events (station_id, id DESC);

-- Commands sent to stations through the API, with the answers.
CREATE TABLE station_commands (
    id           bigserial PRIMARY KEY,
    station_id   text NOT NULL,
    action       text NOT NULL,
    request      jsonb NOT NULL,
    response     jsonb,
    outcome      text NOT NULL DEFAULT 'Sent',
    created_at   timestamptz NOT NULL DEFAULT now(),
    completed_at timestamptz
);

-- Domain events written in the same transaction as the change; workers drain it.
CREATE TABLE outbox (
    id           bigserial PRIMARY KEY,
    topic        text NOT NULL,
    payload      jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    processed_at timestamptz
);
CREATE INDEX outbox_pending ON outbox (id) WHERE processed_at IS NULL;
