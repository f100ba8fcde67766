-- 0016_bridge_reversal_watch: succeeded bridge payments are polled for a
-- while after their success (BRIDGE_REVERSAL_WATCH), so a refund or
-- chargeback whose provider callback was lost is still learned
-- (internal/bridge).
--
-- reversal_watch_from is when the watch of a succeeded payment began (its
-- success); NULL once the watch is over, or for a payment never watched.
-- The reconciler's claim of watched payments uses its own partial index:
-- the due index leaves succeeded payments out.

ALTER TABLE bridge_payments ADD COLUMN reversal_watch_from timestamptz;
COMMENT ON COLUMN bridge_payments.reversal_watch_from IS
    'Succeeded payments: when the reconciler began polling for a reversal whose callback may be lost; NULL = not watched (any more).';

CREATE INDEX bridge_payments_reversal_watch_idx ON bridge_payments (next_check_at)
    WHERE status = 'succeeded' AND reversal_watch_from IS NOT NULL;

-- Starting or ending a watch is scheduling, not news about the payment:
-- updated_at stays.
CREATE OR REPLACE FUNCTION bridge_set_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (to_jsonb(NEW) - 'checks' - 'next_check_at' - 'reversal_watch_from' - 'updated_at')
       IS DISTINCT FROM (to_jsonb(OLD) - 'checks' - 'next_check_at' - 'reversal_watch_from' - 'updated_at') THEN
        NEW.updated_at := now();
    ELSE
        NEW.updated_at := OLD.updated_at;
    END IF;
    RETURN NEW;
END
$$;

-- Payments that succeeded in the last three days (the default watch) are
-- watched from their last change; the reconciler ends the watch at once
-- for providers whose status call cannot report a reversal.
UPDATE bridge_payments SET reversal_watch_from = updated_at, checks = 0, next_check_at = now()
    WHERE status = 'succeeded' AND updated_at > now() - interval '3 days';
