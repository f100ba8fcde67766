-- 0021_outbox_notify_coalesce: outbox inserts no longer serialize every
-- commit behind one fsync each.
--
-- A transaction that has called NOTIFY takes, at commit, a lock that is
-- global to the server (PostgreSQL's async.c: "serialize writers"), and
-- holds it until its commit record is flushed. With one NOTIFY per outbox
-- insert, every transaction that writes an event therefore committed
-- alone: no group commit, about one fsync per event (issue 17: bridge
-- callback ingestion capped at ~1/fsync latency, 1,396/s on a machine
-- whose PostgreSQL commits 8,500 plain rows/s).
--
-- The wake-up is only ever a hint (workers claim everything due when they
-- wake, and poll every PollInterval), and one notification wakes them for
-- every row committed before it. So, at its commit, a transaction notifies
-- only when a notification after its own commit is not already certain:
--   * slot 1 free: it takes slot 1 and notifies (the usual case, and the
--     only one without concurrency);
--   * slot 1 held: another transaction is committing with a notification;
--     it takes slot 2 and notifies too, queueing behind that one;
--   * both held: one transaction is committing with a notification and
--     another is queued to notify after it (it waits for the first's
--     commit to end): this one skips. Its commit runs alongside theirs and
--     the queued notification, one more serialized flush away, is sent
--     after it in practice; should both finish first, the event waits for
--     the next notification or the workers' poll (PollInterval), the
--     fallback the wake-up always had for a lost notification.
-- At most two transactions are thus in the serialized NOTIFY commit at a
-- time; every other one commits in parallel (group commit).
--
-- The check runs at commit (a deferred constraint trigger), so a long
-- transaction holds no slot while it works; it runs once per transaction
-- (transaction-local flag), however many rows it inserts. The slots are
-- transaction-level advisory locks in the two-int4 key space, which the
-- processor's bigint job locks (store.LockKey) never use.
DROP TRIGGER outbox_notify ON outbox;

CREATE OR REPLACE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('processor.outbox_notify_checked', true) = 'on' THEN
        RETURN NULL;
    END IF;
    PERFORM set_config('processor.outbox_notify_checked', 'on', true);
    IF pg_try_advisory_xact_lock(1869968992, 1) OR pg_try_advisory_xact_lock(1869968992, 2) THEN
        PERFORM pg_notify('processor_outbox', '');
    END IF;
    RETURN NULL;
END
$$;

CREATE CONSTRAINT TRIGGER outbox_notify AFTER INSERT ON outbox
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION outbox_notify();
COMMENT ON FUNCTION outbox_notify() IS 'Wakes webhook workers (LISTEN processor_outbox) when outbox rows are committed; at most two notifying commits at a time (0021).';
