-- What Voltaic publishes over OCPI (locations that group stations, the EVSEs' static data, tariffs) and
-- the OCPI partners it talks to.
--
-- last_updated follows OCPI's rule: a Location's is the latest of itself and its EVSEs (read as that greatest,
-- never written up: a status change locks only its own EVSE's row, so two batches reporting for stations of
-- the same sites in another order cannot deadlock on the location rows), an EVSE's the latest of itself, its
-- connectors and its status. Writes through the catalog service set their own; a status a station reports (or
-- a station going offline) is stamped on its EVSEs by the triggers below, in the same transaction, so that
-- `date_from` never misses a change. clock_timestamp(), not now(): a change is stamped when it is written, close
-- to its COMMIT, rather than when a long group-commit transaction began.

CREATE TABLE locations (
    id           text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9*_=:+|@.~-]{1,36}$'),
    country_code text NOT NULL CHECK (country_code ~ '^[A-Za-z0-9]{2}$'),
    party_id     text NOT NULL CHECK (party_id ~ '^[A-Za-z0-9]{3}$'),
    publish      boolean NOT NULL,
    time_zone    text NOT NULL,
    -- The OCPI Location's own fields as the operator gave them (no evses, no last_updated), validated.
    body         jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_updated timestamptz NOT NULL
);
-- OCPI ids are CiStrings: one location per id whatever its case.
CREATE UNIQUE INDEX locations_id_ci ON locations (lower(id));
-- The page order of every list: creation, then id. Stable while objects change (a change does not move an
-- object between pages), and a keyset for deep pages.
CREATE INDEX locations_page ON locations (created_at, id);

-- An EVSE of a station, placed at a location. uid is the stable OCPI id: a row is never deleted, so a uid is
-- never reused; a decommissioned station's EVSEs are REMOVED, and an EVSE taken out of service keeps its row.
CREATE TABLE evses (
    uid          text PRIMARY KEY CHECK (uid ~ '^[A-Za-z0-9*_=:+|@.~-]{1,36}$'),
    location_id  text NOT NULL REFERENCES locations (id) ON DELETE RESTRICT,
    station_id   text NOT NULL REFERENCES stations (id) ON DELETE RESTRICT,
    -- The OCPP EVSE (a 1.6 connector n is EVSE n).
    evse_id      integer NOT NULL CHECK (evse_id >= 1),
    -- OCPI's static EVSE fields (evse_id, capabilities, floor_level, coordinates, ...), validated.
    body         jsonb NOT NULL,
    removed_at   timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_updated timestamptz NOT NULL
);
CREATE UNIQUE INDEX evses_uid_ci ON evses (lower(uid));
CREATE UNIQUE INDEX evses_station_evse ON evses (station_id, evse_id) WHERE removed_at IS NULL;
CREATE INDEX evses_location ON evses (location_id, last_updated);
CREATE INDEX evses_station ON evses (station_id);

CREATE TABLE evse_connectors (
    evse_uid     text NOT NULL REFERENCES evses (uid) ON DELETE RESTRICT,
    connector_id integer NOT NULL CHECK (connector_id BETWEEN 1 AND 99),
    -- OCPI's static Connector fields (standard, format, power_type, max_voltage, ...), validated.
    body         jsonb NOT NULL,
    tariff_ids   text[] NOT NULL DEFAULT '{}',
    last_updated timestamptz NOT NULL,
    PRIMARY KEY (evse_uid, connector_id)
);

-- OCPI 2.2.1 Tariffs, stored in full. A deleted tariff keeps its row (sessions priced by it still name it).
CREATE TABLE tariffs (
    id           text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9*_=:+|@.~-]{1,36}$'),
    country_code text NOT NULL,
    party_id     text NOT NULL,
    currency     text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    body         jsonb NOT NULL,
    deleted_at   timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_updated timestamptz NOT NULL
);
CREATE UNIQUE INDEX tariffs_id_ci ON tariffs (lower(id));
CREATE INDEX tariffs_page ON tariffs (created_at, id) WHERE deleted_at IS NULL;

-- A reported status changes the OCPI status of its EVSE (connector 0: of every EVSE of the station), and a
-- station going online or offline (UNKNOWN) or decommissioned (REMOVED) changes all its EVSEs. Statement
-- triggers over transition tables: a boot storm's or a presence write's thousands of rows cost one join each.
CREATE FUNCTION catalog_touch_evses(changed jsonb) RETURNS void LANGUAGE sql AS $$
    WITH c AS (
        SELECT DISTINCT x.station_id, x.evse_id FROM jsonb_to_recordset(changed) AS x(station_id text, evse_id int)
    )
    UPDATE evses e SET last_updated = greatest(e.last_updated, clock_timestamp())
    FROM c WHERE e.station_id = c.station_id AND (c.evse_id = 0 OR e.evse_id = c.evse_id);
$$;

CREATE FUNCTION catalog_connectors_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM evses) THEN
        PERFORM catalog_touch_evses((SELECT jsonb_agg(jsonb_build_object('station_id', station_id, 'evse_id', evse_id)) FROM new_rows));
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER connectors_catalog_insert AFTER INSERT ON connectors
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION catalog_connectors_inserted();

CREATE FUNCTION catalog_connectors_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM evses) THEN
        PERFORM catalog_touch_evses((
            SELECT jsonb_agg(jsonb_build_object('station_id', n.station_id, 'evse_id', n.evse_id))
            FROM new_rows n JOIN old_rows o USING (station_id, evse_id, connector_id)
            WHERE n.status IS DISTINCT FROM o.status
        ));
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER connectors_catalog_update AFTER UPDATE ON connectors
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION catalog_connectors_updated();

CREATE FUNCTION catalog_stations_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM evses) THEN
        PERFORM catalog_touch_evses((
            SELECT jsonb_agg(jsonb_build_object('station_id', n.id, 'evse_id', 0))
            FROM new_rows n JOIN old_rows o USING (id)
            WHERE n.online IS DISTINCT FROM o.online OR n.decommissioned_at IS DISTINCT FROM o.decommissioned_at
        ));
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER stations_catalog AFTER UPDATE ON stations
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION catalog_stations_updated();

-- OCPI partners (eMSPs, hubs, map services). A partner that unregisters itself stays listed; one an admin
-- removes keeps its row (state 'removed', for the audit log) and is gone from the API. Tokens Voltaic only checks are kept as SHA-256 digests:
-- token A (issued here, for registration) and the token the partner calls Voltaic with. The token Voltaic
-- calls the partner with is kept as given, since it is sent.
CREATE TABLE ocpi_partners (
    id               bigserial PRIMARY KEY,
    name             text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    state            text NOT NULL CHECK (state IN ('pending', 'registered', 'suspended', 'unregistered', 'removed')),
    token_a_sha256   bytea UNIQUE CHECK (length(token_a_sha256) = 32),
    server_sha256    bytea UNIQUE CHECK (length(server_sha256) = 32),
    -- The token a PUT replaced, valid until the partner first uses the new one: an answer lost on the way
    -- (a timeout, a dropped connection) must not lock the partner out (ocpi#568).
    previous_sha256  bytea UNIQUE CHECK (length(previous_sha256) = 32),
    client_token     text,
    version          text CHECK (version IN ('2.1.1', '2.2.1')),
    versions_url     text,
    endpoints        jsonb NOT NULL DEFAULT '[]',
    roles            jsonb NOT NULL DEFAULT '[]',
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
