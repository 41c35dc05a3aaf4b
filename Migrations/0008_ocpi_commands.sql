-- OCPI commands (Voltaic the Receiver): an eMSP asks to start or stop a session or unlock a connector. The
-- command is kept with the OCPP CALL it becomes, answered ACCEPTED at once (or REJECTED when it cannot be tried),
-- sent by the node that holds the station's socket, and its result POSTed to the eMSP's response_url through
-- the push queue. A command is sent to the station at most once: it is marked sent before the CALL goes, and
-- one whose node died is given up as TIMEOUT when its deadline passes.
CREATE TABLE ocpi_commands (
    id                      uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    partner_id              bigint NOT NULL REFERENCES ocpi_partners (id) ON DELETE RESTRICT,
    command                 text NOT NULL CHECK (command IN ('START_SESSION', 'STOP_SESSION', 'RESERVE_NOW', 'CANCEL_RESERVATION', 'UNLOCK_CONNECTOR')),
    station_id              text NOT NULL REFERENCES stations (id) ON DELETE RESTRICT,
    -- The OCPP CALL it becomes, for the station's version.
    action                  text NOT NULL,
    payload                 jsonb NOT NULL,
    response_url            text NOT NULL,
    token_uid               text,
    authorization_reference text,
    -- OCPP 2.0.1 RequestStartTransaction's remoteStartId, which the transaction reports back.
    remote_start_id         integer,
    state                   text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'done')),
    lease_until             timestamptz,
    result                  text CHECK (result IN ('ACCEPTED', 'CANCELED_RESERVATION', 'EVSE_OCCUPIED', 'EVSE_INOPERATIVE', 'FAILED',
                                                   'NOT_SUPPORTED', 'REJECTED', 'TIMEOUT', 'UNKNOWN_RESERVATION')),
    message                 text,
    -- The transaction a START_SESSION started, once its session is made.
    transaction_id          bigint UNIQUE,
    created_at              timestamptz NOT NULL DEFAULT now(),
    deadline                timestamptz NOT NULL,
    completed_at            timestamptz
);
CREATE INDEX ocpi_commands_open ON ocpi_commands (created_at) WHERE state <> 'done';
CREATE INDEX ocpi_commands_started ON ocpi_commands (station_id, created_at) WHERE command = 'START_SESSION' AND transaction_id IS NULL;
CREATE SEQUENCE ocpi_remote_start_ids MAXVALUE 2147483647 CYCLE;
