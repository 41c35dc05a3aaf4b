-- Meter values are the table that grows with every station message, so a row's insert is kept to its own
-- work: the heap tuple and its indexes.
--
-- 1. No foreign keys on meter_values. Each was a trigger that ran a locking lookup of the parent row for
--    every inserted sample (a sixth of PostgreSQL's time under a MeterValues load). The server writes only
--    samples of the authenticated station and of transactions it has read in the same transaction. Stations
--    and transactions are never deleted (a station is decommissioned); a DELETE, or a change of key, of one
--    that still has meter values is refused below, as the keys' RESTRICT refused it. On a distributed
--    PostgreSQL the transaction key could not be kept anyway: it does not carry the station id.
ALTER TABLE meter_values DROP CONSTRAINT meter_values_station_id_fkey;
ALTER TABLE meter_values DROP CONSTRAINT meter_values_transaction_id_fkey;

CREATE FUNCTION stations_keep_meter_values() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.id = NEW.id THEN
        RETURN NEW;
    END IF;
    IF EXISTS (SELECT 1 FROM meter_values WHERE station_id = OLD.id AND NOT correction)
        OR EXISTS (SELECT 1 FROM meter_values WHERE station_id = OLD.id AND correction) THEN
        RAISE EXCEPTION 'station % still has meter values', OLD.id USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
END $$;
CREATE TRIGGER stations_keep_meter_values BEFORE DELETE OR UPDATE OF id ON stations
    FOR EACH ROW EXECUTE FUNCTION stations_keep_meter_values();

CREATE FUNCTION transactions_keep_meter_values() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.id = NEW.id THEN
        RETURN NEW;
    END IF;
    IF EXISTS (SELECT 1 FROM meter_values WHERE transaction_id = OLD.id) THEN
        RAISE EXCEPTION 'transaction % still has meter values', OLD.id USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
END $$;
CREATE TRIGGER transactions_keep_meter_values BEFORE DELETE OR UPDATE OF id ON transactions
    FOR EACH ROW EXECUTE FUNCTION transactions_keep_meter_values();

-- 2. A correction is found by the insert itself, not by a lookup per row. The first value of a sample (same
--    station, EVSE, transaction, time, measurand, phase, location and context) is unique among first values;
--    a later, different value of it is a correction, unique by its digest among corrections. A sample is
--    inserted as a first value (ON CONFLICT on the first index), and only when that conflicts is it tried as
--    a correction, so the common case pays one unique index instead of an index and a lookup.
--    Two first values of one sample could exist when two transactions inserted them concurrently (each
--    looked for the other and did not see it): the later ones become corrections.
UPDATE meter_values m SET correction = true
FROM (
    SELECT id, row_number() OVER (PARTITION BY station_id, evse_id, coalesce(transaction_id, 0), sampled_at, measurand, phase, location, context ORDER BY id) AS n
    FROM meter_values WHERE NOT correction
) d
WHERE m.id = d.id AND d.n > 1;
CREATE UNIQUE INDEX meter_values_first
    ON meter_values (station_id, evse_id, coalesce(transaction_id, 0), sampled_at, measurand, phase, location, context)
    WHERE NOT correction;
CREATE UNIQUE INDEX meter_values_corrections
    ON meter_values (station_id, evse_id, coalesce(transaction_id, 0), sampled_at, measurand, phase, location, context, md5(raw_value))
    WHERE correction;
DROP INDEX meter_values_identity;
