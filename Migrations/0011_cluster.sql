-- Many nodes on one PostgreSQL: each `voltaic serve` process is a node with a lease it renews; a station belongs to
-- the node that holds its socket (stations.connected_node, a node id), with an epoch bumped at every new connection;
-- a command for a station held by another node travels through node_calls and NOTIFY on channel 'voltaic'.

CREATE TABLE nodes (
    -- Unique per process: the --node-id name and a random suffix.
    id          text PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 100),
    name        text NOT NULL,
    started_at  timestamptz NOT NULL DEFAULT now(),
    lease_until timestamptz NOT NULL,
    -- Set when the node left on purpose: a renewal still in flight then cannot bring it back.
    left_at     timestamptz
);

ALTER TABLE stations ADD COLUMN owner_epoch bigint NOT NULL DEFAULT 0;
CREATE INDEX stations_connected_node ON stations (connected_node) WHERE connected_node IS NOT NULL;

-- A CSMS→station CALL asked on one node for a station another node holds: the origin writes it and NOTIFYs the
-- target; the target makes the call and writes the answer (or a problem) and NOTIFYs the origin.
CREATE TABLE node_calls (
    id          uuid PRIMARY KEY,
    station_id  text NOT NULL,
    origin_node text NOT NULL,
    target_node text NOT NULL,
    action      text NOT NULL,
    payload     jsonb NOT NULL,
    state       text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'taken', 'answered')),
    answer      jsonb,
    deadline    timestamptz NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CHECK ((state = 'answered') = (answer IS NOT NULL))
);
CREATE INDEX node_calls_pending ON node_calls (target_node) WHERE state = 'pending';
