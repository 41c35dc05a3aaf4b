-- History is never destroyed by an admin action: a removed station is decommissioned, and every row
-- that refers to it (its transactions, meter values, events and reservations) stays. A DELETE of a
-- station that has history is refused by the database itself.
ALTER TABLE stations ADD COLUMN decommissioned_at timestamptz;
-- Who made the row: an operator ('operator'), or auto-registration of an unknown station ('auto'),
-- which is capped.
ALTER TABLE stations ADD COLUMN registered_by text NOT NULL DEFAULT 'operator' CHECK (registered_by IN ('operator', 'auto'));

ALTER TABLE connectors DROP CONSTRAINT connectors_station_id_fkey,
    ADD CONSTRAINT connectors_station_id_fkey FOREIGN KEY (station_id) REFERENCES stations (id) ON DELETE RESTRICT;
ALTER TABLE status_history DROP CONSTRAINT status_history_station_id_fkey,
    ADD CONSTRAINT status_history_station_id_fkey FOREIGN KEY (station_id) REFERENCES stations (id) ON DELETE RESTRICT;
ALTER TABLE reservations DROP CONSTRAINT reservations_station_id_fkey,
    ADD CONSTRAINT reservations_station_id_fkey FOREIGN KEY (station_id) REFERENCES stations (id) ON DELETE RESTRICT;
ALTER TABLE transactions DROP CONSTRAINT transactions_station_id_fkey,
    ADD CONSTRAINT transactions_station_id_fkey FOREIGN KEY (station_id) REFERENCES stations (id) ON DELETE RESTRICT;
ALTER TABLE transaction_events DROP CONSTRAINT transaction_events_transaction_id_fkey,
    ADD CONSTRAINT transaction_events_transaction_id_fkey FOREIGN KEY (transaction_id) REFERENCES transactions (id) ON DELETE RESTRICT;
ALTER TABLE meter_values DROP CONSTRAINT meter_values_station_id_fkey,
    ADD CONSTRAINT meter_values_station_id_fkey FOREIGN KEY (station_id) REFERENCES stations (id) ON DELETE RESTRICT;
ALTER TABLE meter_values DROP CONSTRAINT meter_values_transaction_id_fkey,
    ADD CONSTRAINT meter_values_transaction_id_fkey FOREIGN KEY (transaction_id) REFERENCES transactions (id) ON DELETE RESTRICT;
ALTER TABLE station_events DROP CONSTRAINT station_events_station_id_fkey,
    ADD CONSTRAINT station_events_station_id_fkey FOREIGN KEY (station_id) REFERENCES stations (id) ON DELETE RESTRICT;

-- The OCPP version that reported a transaction is stored, not guessed from the shape of its id.
ALTER TABLE transactions ADD COLUMN ocpp_version text;
UPDATE transactions SET ocpp_version = CASE WHEN uid = id::text THEN 'ocpp1.6' ELSE 'ocpp2.0.1' END;
ALTER TABLE transactions ALTER COLUMN ocpp_version SET NOT NULL,
    ADD CONSTRAINT transactions_ocpp_version CHECK (ocpp_version IN ('ocpp1.6', 'ocpp2.0.1', 'ocpp2.1'));
DROP INDEX transactions_start_identity;
CREATE UNIQUE INDEX transactions_start_identity ON transactions (station_id, evse_id, id_token, started_at, meter_start_wh)
    WHERE ocpp_version = 'ocpp1.6';
CREATE INDEX transactions_active ON transactions (updated_at) WHERE state = 'Active';

-- A corrected reading (same sample, another value) is kept beside the first and flagged; only an exact
-- replay is stored once. The value is part of the identity through a digest (signed data can be long).
ALTER TABLE meter_values ADD COLUMN correction boolean NOT NULL DEFAULT false;
DROP INDEX meter_values_identity;
CREATE UNIQUE INDEX meter_values_identity
    ON meter_values (station_id, evse_id, coalesce(transaction_id, 0), sampled_at, measurand, phase, location, context, md5(raw_value));

-- The replies to station CALLs whose effect is not idempotent by content (boots, data transfers and
-- reports kept verbatim), kept for a while: a CALL replayed with the same id and payload (a lost
-- acknowledgement, an uncertain COMMIT, a reconnect) gets the same reply and is not applied again.
-- Only committed work writes here, so a failure is never replayed.
CREATE TABLE inbound_replies (
    station_id  text NOT NULL,
    message_id  text NOT NULL,
    action      text NOT NULL,
    digest      bytea NOT NULL,
    reply       jsonb NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (station_id, message_id, action, digest)
);
CREATE INDEX inbound_replies_age ON inbound_replies (received_at);
