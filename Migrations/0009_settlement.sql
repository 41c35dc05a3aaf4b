-- Settlement: a double-entry ledger, funds holds before charging, capture after, revenue splits, signed receipts,
-- their Merkle batches and the anchor jobs that put the batch roots on chain.
--
-- Money is numeric with 2 decimals (minor units of the currencies Voltaic prices in), never floating point.
-- Balances are never stored: an account's balance is the sum of its postings.

CREATE TABLE accounts (
    id         bigserial PRIMARY KEY,
    -- driver: a driver's spendable funds; driver_hold: what is blocked for their sessions; host: the station owner or
    -- operator paid for a session; platform: Voltaic's operator; referrer: whoever brought the host; funding: the
    -- other side of top-ups (one per funds provider).
    kind       text NOT NULL CHECK (kind IN ('driver', 'driver_hold', 'host', 'platform', 'referrer', 'funding')),
    owner      text NOT NULL CHECK (length(owner) BETWEEN 1 AND 64),
    currency   text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (kind, owner, currency)
);

-- A driver, the tokens that identify them, and whether they pay after the fact (a fleet card: no hold).
CREATE TABLE drivers (
    id         text PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 64),
    postpaid   boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE driver_tokens (
    id_token  text PRIMARY KEY CHECK (length(id_token) BETWEEN 1 AND 255),
    driver_id text NOT NULL REFERENCES drivers (id)
);
CREATE INDEX driver_tokens_driver ON driver_tokens (driver_id);

-- Who is paid for a Location's sessions.
CREATE TABLE location_hosts (
    location_id text PRIMARY KEY REFERENCES locations (id),
    host        text NOT NULL CHECK (length(host) BETWEEN 1 AND 64),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Revenue split rules, versioned: a session uses the newest rule of its scope in force when it started.
-- scope: 'location:<id>', 'host:<id>' or 'default'.
CREATE TABLE split_rules (
    id          bigserial PRIMARY KEY,
    scope       text NOT NULL CHECK (scope = 'default' OR scope ~ '^(location|host):.+$'),
    host_bp     integer NOT NULL CHECK (host_bp BETWEEN 0 AND 10000),
    platform_bp integer NOT NULL CHECK (platform_bp BETWEEN 0 AND 10000),
    referrer_bp integer NOT NULL CHECK (referrer_bp BETWEEN 0 AND 10000),
    referrer    text CHECK (length(referrer) BETWEEN 1 AND 64),
    remainder   text NOT NULL CHECK (remainder IN ('host', 'platform', 'referrer')),
    valid_from  timestamptz NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (host_bp + platform_bp + referrer_bp = 10000),
    CHECK ((referrer_bp = 0 AND remainder <> 'referrer') OR referrer IS NOT NULL),
    UNIQUE (scope, valid_from)
);

-- A funds hold: money moved from a driver's account to their hold account until the session ends.
CREATE TABLE holds (
    id             bigserial PRIMARY KEY,
    driver_id      text NOT NULL REFERENCES drivers (id),
    currency       text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    amount         numeric(18, 2) NOT NULL CHECK (amount > 0),
    state          text NOT NULL DEFAULT 'held' CHECK (state IN ('held', 'captured', 'released', 'expired')),
    id_token       text NOT NULL,
    station_id     text NOT NULL,
    transaction_id bigint UNIQUE REFERENCES transactions (id),
    -- What the hold was sized by, and what its capture is priced by: the tariff in force at the start.
    tariff         jsonb,
    time_zone      text NOT NULL DEFAULT 'UTC',
    location_id    text,
    captured       numeric(18, 2) CHECK (captured >= 0 AND captured <= amount),
    -- Unattached holds (an Authorize that never became a transaction) lapse; attached ones last until the end.
    expires_at     timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    settled_at     timestamptz,
    -- When the session's cost reached the hold and the station was asked to stop.
    stop_requested_at timestamptz,
    CHECK ((state = 'captured') = (captured IS NOT NULL))
);
CREATE INDEX holds_open ON holds (id_token, station_id) WHERE state = 'held' AND transaction_id IS NULL;
CREATE INDEX holds_lapsing ON holds (expires_at) WHERE state = 'held' AND transaction_id IS NULL;
CREATE INDEX holds_charging ON holds (transaction_id) WHERE state = 'held' AND transaction_id IS NOT NULL;

-- Journal entries and their postings: immutable, and each entry's postings sum to zero in every currency.
CREATE TABLE journal_entries (
    id              bigserial PRIMARY KEY,
    kind            text NOT NULL CHECK (kind IN ('topup', 'hold', 'capture', 'release', 'expire')),
    hold_id         bigint REFERENCES holds (id),
    -- A top-up's reference from its provider, or the hold's step: the same key twice is the same entry.
    idempotency_key text NOT NULL UNIQUE,
    memo            text,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE postings (
    id         bigserial PRIMARY KEY,
    entry_id   bigint NOT NULL REFERENCES journal_entries (id),
    account_id bigint NOT NULL REFERENCES accounts (id),
    amount     numeric(18, 2) NOT NULL CHECK (amount <> 0)
);
CREATE INDEX postings_account ON postings (account_id);
CREATE INDEX postings_entry ON postings (entry_id);

CREATE FUNCTION ledger_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger rows are immutable (% on %)', TG_OP, TG_TABLE_NAME USING ERRCODE = 'restrict_violation';
END $$;
CREATE TRIGGER journal_entries_immutable BEFORE UPDATE OR DELETE ON journal_entries FOR EACH ROW EXECUTE FUNCTION ledger_immutable();
CREATE TRIGGER postings_immutable BEFORE UPDATE OR DELETE ON postings FOR EACH ROW EXECUTE FUNCTION ledger_immutable();

-- Checked after each INSERT statement into postings, over every entry it touched: an entry's postings are written by
-- one statement, and an unbalanced one fails that statement (immediately: group commit's savepoints keep working).
CREATE FUNCTION ledger_entries_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad record;
BEGIN
    SELECT p.entry_id, a.currency INTO bad FROM postings p JOIN accounts a ON a.id = p.account_id
    WHERE p.entry_id IN (SELECT DISTINCT entry_id FROM new_postings)
    GROUP BY p.entry_id, a.currency HAVING sum(p.amount) <> 0 LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'journal entry % does not sum to zero in %', bad.entry_id, bad.currency USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER postings_balanced AFTER INSERT ON postings REFERENCING NEW TABLE AS new_postings
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_entries_balanced();

-- Ended transactions waiting for settlement: the outbox relay puts them here, the settlement worker takes them.
CREATE TABLE settlement_queue (
    transaction_id bigint PRIMARY KEY REFERENCES transactions (id),
    queued_at      timestamptz NOT NULL DEFAULT now(),
    attempts       integer NOT NULL DEFAULT 0,
    not_before     timestamptz NOT NULL DEFAULT now(),
    last_error     text
);
-- The claim's order: without it every claim scans and sorts the whole queue.
CREATE INDEX settlement_queue_order ON settlement_queue (queued_at, transaction_id);

-- One receipt per captured session: canonical JSON (RFC 8785) kept exactly as signed.
CREATE TABLE receipts (
    id             uuid PRIMARY KEY,
    transaction_id bigint NOT NULL UNIQUE REFERENCES transactions (id),
    hold_id        bigint NOT NULL UNIQUE REFERENCES holds (id),
    body           bytea NOT NULL,
    signature      bytea NOT NULL,
    key_id         text NOT NULL,
    -- The driver's link: whoever has it reads the receipt and its proof. The salt of the token's pseudonym.
    secret         text NOT NULL,
    token_salt     text NOT NULL,
    batch_id       bigint,
    leaf_index     integer,
    created_at     timestamptz NOT NULL DEFAULT now(),
    CHECK ((batch_id IS NULL) = (leaf_index IS NULL))
);
CREATE INDEX receipts_unbatched ON receipts (created_at, id) WHERE batch_id IS NULL;

-- A batch is an RFC 9162 Merkle tree over its receipts' bytes, in leaf order.
CREATE TABLE receipt_batches (
    id            bigserial PRIMARY KEY,
    root          bytea NOT NULL CHECK (length(root) = 32),
    size          integer NOT NULL CHECK (size > 0),
    anchor_job_id uuid,
    created_at    timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE receipts ADD FOREIGN KEY (batch_id) REFERENCES receipt_batches (id);
CREATE UNIQUE INDEX receipts_leaf ON receipts (batch_id, leaf_index);

-- Anchor jobs as the Chain library keeps them (signed bytes saved before broadcast).
CREATE TABLE anchor_jobs (
    id         uuid PRIMARY KEY,
    body       jsonb NOT NULL,
    finished   boolean NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX anchor_jobs_unfinished ON anchor_jobs (updated_at) WHERE NOT finished;
