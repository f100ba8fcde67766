-- 0002_outbox_delivery: what internal/notify needs to deliver the outbox as
-- signed webhooks: a final "given up" state, a due index that leaves given-up
-- rows out, and a wake-up notification when events are inserted.

ALTER TABLE outbox ADD COLUMN given_up_at timestamptz;
-- An event ends either delivered or given up, never both.
ALTER TABLE outbox ADD CONSTRAINT outbox_delivered_or_given_up CHECK (delivered_at IS NULL OR given_up_at IS NULL);

-- Pending = neither delivered nor given up. The due index serves the claim
-- (next_attempt_at <= now()), the "next due" lookup (its first entry) and
-- the backlog metrics (count and oldest created_at, index-only).
DROP INDEX outbox_due_idx;
CREATE INDEX outbox_due_idx ON outbox (next_attempt_at, id) INCLUDE (created_at)
    WHERE delivered_at IS NULL AND given_up_at IS NULL;

-- Workers LISTEN on processor_outbox and wake at once instead of waiting for
-- their next poll. NOTIFY is transactional: the notification goes out when
-- the inserting transaction commits, and never if it rolls back. Statement
-- level: one notification per INSERT (PostgreSQL also folds duplicates
-- within a transaction); a spurious one (ON CONFLICT DO NOTHING) only costs
-- an empty claim.
CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('processor_outbox', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();
COMMENT ON FUNCTION outbox_notify() IS 'Wakes webhook workers (LISTEN processor_outbox) when outbox rows are committed.';

COMMENT ON TABLE outbox IS 'Notifications to the merchant backend, written in the same transaction as the change they report; delivered at least once, in no guaranteed order (the receiver deduplicates by event id, dedup_key).';
COMMENT ON COLUMN outbox.attempts IS 'Delivery attempts started (incremented when a worker claims the row).';
COMMENT ON COLUMN outbox.next_attempt_at IS 'Not before this time: retry backoff, or the lease of the worker delivering it now.';
COMMENT ON COLUMN outbox.last_error IS 'Why the last failed attempt failed (HTTP status, timeout, connection error); kept after delivery.';
COMMENT ON COLUMN outbox.given_up_at IS 'Set when an attempt failed after the retry period (from created_at) had passed; the event is then no longer sent.';
