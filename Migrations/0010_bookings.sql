-- Bookings of future slots and the car expected in them. The sharing windows of a private location are its OCPI
-- opening_times (regular hours on its clock, exceptional openings and closings), kept in the location's body.

-- btree_gist lets one exclusion constraint compare the station id (=) and the slot (&&). A trusted extension: the
-- database's owner may create it.
CREATE EXTENSION IF NOT EXISTS btree_gist;

-- A driver's booking of one EVSE for a slot. Two live bookings of one EVSE never overlap: PostgreSQL refuses it.
CREATE TABLE bookings (
    id             bigserial PRIMARY KEY,
    station_id     text NOT NULL REFERENCES stations (id),
    evse_id        integer NOT NULL CHECK (evse_id >= 1),
    -- The ledger driver who booked, or the roaming partner whose token did (OCPI RESERVE_NOW: no hold, the eMSP
    -- is billed by the CDR) with the partner's reservation id.
    driver_id      text REFERENCES drivers (id),
    partner_id     bigint REFERENCES ocpi_partners (id),
    ocpi_reservation_id text CHECK (length(ocpi_reservation_id) BETWEEN 1 AND 36),
    -- The token that pays (the hold's), or the roaming token.
    id_token       text NOT NULL,
    -- The identity expected at the EVSE during the slot: an RFID/app token, an eMAID or the EV's MAC address.
    expected_type  text NOT NULL CHECK (expected_type IN ('token', 'emaid', 'mac')),
    expected_value text NOT NULL CHECK (length(expected_value) BETWEEN 1 AND 255),
    slot           tstzrange NOT NULL CHECK (NOT isempty(slot) AND lower_inc(slot) AND NOT upper_inc(slot) AND NOT lower_inf(slot) AND NOT upper_inf(slot)),
    state          text NOT NULL DEFAULT 'booked' CHECK (state IN ('booked', 'reserved', 'used', 'cancelled', 'no_show')),
    hold_id        bigint REFERENCES holds (id),
    reservation_id integer,
    transaction_id bigint REFERENCES transactions (id),
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CHECK ((driver_id IS NULL) <> (partner_id IS NULL)),
    CHECK ((partner_id IS NULL) = (ocpi_reservation_id IS NULL)),
    EXCLUDE USING gist (station_id WITH =, evse_id WITH =, slot WITH &&) WHERE (state IN ('booked', 'reserved', 'used'))
);
CREATE INDEX bookings_due ON bookings (lower(slot)) WHERE state = 'booked';
CREATE INDEX bookings_open ON bookings (upper(slot)) WHERE state IN ('booked', 'reserved');
CREATE UNIQUE INDEX bookings_ocpi ON bookings (partner_id, lower(ocpi_reservation_id)) WHERE state IN ('booked', 'reserved');

ALTER TABLE holds ADD COLUMN booking_id bigint REFERENCES bookings (id);
