-- OCPI pushes: what each partner is sent, in order, retried until delivered or given up (a dead letter an
-- admin can replay).
--
-- The outbox is relayed into this table by one node at a time (an advisory lock): each event becomes a push
-- per partner that receives its module, in the same transaction that marks the event processed, so an event is
-- relayed exactly once whatever the number of nodes, and a crash relays it again from the start.
--
-- A push names its object, not a copy of it: the body is read from the current state when it is sent. So a
-- push that waits (a partner that is down) sends the newest state when it goes, and a change to an object
-- that already has a push waiting, not yet sent, adds nothing (status updates of one EVSE are coalesced).
-- Pushes of one partner and one queue key (a location with its EVSEs, or a tariff) go one at a time, in id
-- order: a later push of an object never overtakes an earlier one.

CREATE TABLE ocpi_pushes (
    id              bigserial PRIMARY KEY,
    partner_id      bigint NOT NULL REFERENCES ocpi_partners (id) ON DELETE RESTRICT,
    module          text NOT NULL CHECK (module IN ('locations', 'tariffs', 'sessions', 'cdrs', 'commands')),
    method          text NOT NULL CHECK (method IN ('PUT', 'DELETE', 'POST')),
    -- The order key: 'location:<id>' for a location and its EVSEs, 'tariff:<id>', 'session:<id>' for a session and
    -- its CDR.
    queue_key       text NOT NULL,
    -- What is sent, for the API: <location>, <location>/<evse uid>, <tariff>, <session> or <cdr>.
    target          text NOT NULL,
    -- The CPO party of the object (the URL's {country_code}/{party_id}).
    country_code    text NOT NULL,
    party_id        text NOT NULL,
    location_id     text,
    evse_uid        text,
    tariff_id       text,
    session_id      text,
    cdr_id          text,
    command_id      uuid,
    -- Where it goes when that is not the partner's module endpoint (a command's response_url).
    url             text,
    -- What a partner answered a CDR POST with: the URL of its copy.
    response_location text,
    -- The outbox event that asked for it (the first one, when later ones were coalesced into it).
    outbox_id       bigint NOT NULL,
    -- Sent as X-Request-ID and X-Correlation-ID on every attempt: a partner can tell a retry from a new push.
    request_id      uuid NOT NULL DEFAULT gen_random_uuid(),
    -- superseded: not sent, since its object is gone by the time it went (a tariff deleted, an EVSE moved).
    state           text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'dead', 'superseded')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    -- A node sending it holds a lease; a node that dies mid-send loses it when it lapses.
    lease_token     uuid,
    lease_until     timestamptz,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz
);
-- The queue heads: per partner and key, the lowest pending id.
CREATE INDEX ocpi_pushes_queue ON ocpi_pushes (partner_id, queue_key, id) WHERE state = 'pending';
CREATE INDEX ocpi_pushes_due ON ocpi_pushes (next_attempt_at, id) WHERE state = 'pending';
CREATE INDEX ocpi_pushes_state ON ocpi_pushes (state, id);
-- Every push of a queue, whatever its state: was a partner ever sent this object, when was it last queued.
CREATE INDEX ocpi_pushes_key ON ocpi_pushes (queue_key, partner_id, created_at);

-- A station going online or offline, or decommissioned, changes the status of its EVSEs: the trigger that stamps
-- their last_updated also writes the outbox event that pushes them, in the same transaction, whoever wrote the
-- station row (a boot, the presence writer, an admin).
CREATE OR REPLACE FUNCTION catalog_stations_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM evses) THEN
        PERFORM catalog_touch_evses((
            SELECT jsonb_agg(jsonb_build_object('station_id', n.id, 'evse_id', 0))
            FROM new_rows n JOIN old_rows o USING (id)
            WHERE n.online IS DISTINCT FROM o.online OR n.decommissioned_at IS DISTINCT FROM o.decommissioned_at
        ));
        INSERT INTO outbox (topic, payload)
        SELECT 'station.presence', jsonb_build_object('stationId', n.id, 'online', n.online, 'decommissioned', n.decommissioned_at IS NOT NULL)
        FROM new_rows n JOIN old_rows o USING (id)
        WHERE (n.online IS DISTINCT FROM o.online OR n.decommissioned_at IS DISTINCT FROM o.decommissioned_at)
          AND EXISTS (SELECT 1 FROM evses e WHERE e.station_id = n.id)
        ORDER BY n.id;
    END IF;
    RETURN NULL;
END $$;

-- Events written before this relay existed were never meant for it: an upgraded database starts relaying from now
-- (partners pull what they missed), instead of replaying its whole history to them.
UPDATE outbox SET processed_at = now() WHERE processed_at IS NULL;

-- Processed events are purged after a while; this finds them.
CREATE INDEX outbox_processed ON outbox (processed_at) WHERE processed_at IS NOT NULL;
