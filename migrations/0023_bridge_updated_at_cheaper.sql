-- 0023_bridge_updated_at_cheaper: the same rule for bridge_payments.updated_at
-- (it moves when anything but the reconciler's scheduling changes: checks,
-- next_check_at), decided without converting both rows to jsonb.
--
-- 0011's trigger compared to_jsonb(NEW) and to_jsonb(OLD), the stored
-- request included, on every update: a tenth of a millisecond of server
-- CPU per status change, about a sixth of what a provider callback costs
-- the server (issue 17, callback ingestion). Comparing the row with the
-- scheduling columns copied over is a plain record comparison, and covers
-- columns added later without listing them.
CREATE OR REPLACE FUNCTION bridge_set_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    changed bridge_payments := NEW;
BEGIN
    changed.checks := OLD.checks;
    changed.next_check_at := OLD.next_check_at;
    changed.updated_at := OLD.updated_at;
    IF changed IS DISTINCT FROM OLD THEN
        NEW.updated_at := now();
    ELSE
        NEW.updated_at := OLD.updated_at;
    END IF;
    RETURN NEW;
END
$$;
