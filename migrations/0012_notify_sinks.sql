-- 0012_notify_sinks: delivery state per notification sink (internal/notify).
--
-- Until now the outbox row itself held the one webhook's attempts and
-- outcome. Each way out (signed webhook, bicycle's webhook, RabbitMQ) now
-- has its own row per event in outbox_deliveries, so a sink that is down
-- neither holds up the others nor loses anything: its events wait in its
-- rows. A trigger writes those rows in the enqueuing transaction for every
-- sink registered in outbox_sinks whose topics include the event's.

-- Events with the same order key reach each sink in enqueue order.
ALTER TABLE outbox ADD COLUMN order_key text;
COMMENT ON COLUMN outbox.order_key IS 'Optional: each sink gets this event only after every earlier event with the same key was delivered or given up.';

CREATE TABLE outbox_sinks (
    name          text PRIMARY KEY CONSTRAINT outbox_sinks_name_format CHECK (name ~ '^[a-z][a-z0-9_]{0,62}$'),
    topics        text[],
    registered_at timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE outbox_sinks IS 'Notification sinks (webhook, bicycle_webhook, rabbitmq, ...), registered by the processor at start when configured. DELETE a row to retire a sink: its pending deliveries go with it.';
COMMENT ON COLUMN outbox_sinks.topics IS 'Topics the sink takes; NULL: every topic. Applies to events enqueued after a change.';

CREATE TABLE outbox_deliveries (
    outbox_id       bigint NOT NULL REFERENCES outbox (id) ON DELETE CASCADE,
    sink            text NOT NULL REFERENCES outbox_sinks (name) ON DELETE CASCADE,
    order_key       text,
    created_at      timestamptz NOT NULL,
    attempts        integer NOT NULL DEFAULT 0 CONSTRAINT outbox_deliveries_attempts_range CHECK (attempts >= 0),
    next_attempt_at timestamptz NOT NULL,
    delivered_at    timestamptz,
    given_up_at     timestamptz,
    last_error      text,
    PRIMARY KEY (outbox_id, sink),
    CONSTRAINT outbox_deliveries_delivered_or_given_up CHECK (delivered_at IS NULL OR given_up_at IS NULL)
);
COMMENT ON TABLE outbox_deliveries IS 'One outbox event for one sink: that sink''s attempts and outcome. Pending = neither delivered nor given up.';
COMMENT ON COLUMN outbox_deliveries.order_key IS 'Copy of outbox.order_key, so the claim can hold back later events of a key without a join.';
COMMENT ON COLUMN outbox_deliveries.created_at IS 'Copy of outbox.created_at: the retry period and the backlog age count from it.';
COMMENT ON COLUMN outbox_deliveries.attempts IS 'Attempts started (incremented when a worker claims the row).';
COMMENT ON COLUMN outbox_deliveries.next_attempt_at IS 'Not before this time: retry backoff, or the lease of the worker sending it now.';
COMMENT ON COLUMN outbox_deliveries.last_error IS 'Why the last failed attempt failed; kept after delivery.';
COMMENT ON COLUMN outbox_deliveries.given_up_at IS 'Set when an attempt failed after the retry period had passed; the event is then no longer sent to this sink.';

-- The claim (due rows of one sink, oldest due first), the next-due lookup
-- and the backlog metrics (index-only).
CREATE INDEX outbox_deliveries_due_idx ON outbox_deliveries (sink, next_attempt_at, outbox_id) INCLUDE (created_at)
    WHERE delivered_at IS NULL AND given_up_at IS NULL;
-- "Is an earlier event of this key still pending for this sink?"
CREATE INDEX outbox_deliveries_order_idx ON outbox_deliveries (sink, order_key, outbox_id)
    WHERE order_key IS NOT NULL AND delivered_at IS NULL AND given_up_at IS NULL;

-- The webhook worker's state moves over: an existing database keeps its
-- pending (and given-up) webhook events. A fresh database has no sink until
-- the processor starts with one configured.
INSERT INTO outbox_sinks (name) SELECT 'webhook' WHERE EXISTS (SELECT 1 FROM outbox);
INSERT INTO outbox_deliveries (outbox_id, sink, created_at, attempts, next_attempt_at, delivered_at, given_up_at, last_error)
SELECT o.id, 'webhook', o.created_at, o.attempts, o.next_attempt_at, o.delivered_at, o.given_up_at, o.last_error
FROM outbox o WHERE EXISTS (SELECT 1 FROM outbox_sinks WHERE name = 'webhook');

-- Fan-out: one delivery row per registered sink taking the topic, in the
-- enqueuing transaction (statement level: one INSERT ... SELECT per batch).
CREATE FUNCTION outbox_fan_out() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO outbox_deliveries (outbox_id, sink, order_key, created_at, next_attempt_at)
    SELECT n.id, s.name, n.order_key, n.created_at, n.next_attempt_at
    FROM new_rows n JOIN outbox_sinks s ON s.topics IS NULL OR n.topic = ANY (s.topics);
    RETURN NULL;
END
$$;
CREATE TRIGGER outbox_fan_out AFTER INSERT ON outbox REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_fan_out();
COMMENT ON FUNCTION outbox_fan_out() IS 'Writes one outbox_deliveries row per registered sink taking the new events'' topics.';

-- outbox.delivered_at / given_up_at stay meaningful for readers of the
-- outbox alone: delivered once every sink delivered, given up once every
-- sink finished and one gave up. With several sinks the event row is
-- locked first, so two sinks finishing together serialise and the second
-- sees the first's result (each statement of this function takes a fresh
-- snapshot); an event of one sink needs no lock.
CREATE FUNCTION outbox_delivery_summary() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    event_id  bigint;
    sinks     bigint;
    pending   boolean;
    gave_up   boolean;
    delivered timestamptz;
    given_up  timestamptz;
BEGIN
    IF TG_OP = 'DELETE' THEN
        event_id := OLD.outbox_id;
    ELSE
        event_id := NEW.outbox_id;
    END IF;
    SELECT count(*) INTO sinks FROM outbox_deliveries d WHERE d.outbox_id = event_id;
    IF sinks > 1 THEN
        SELECT o.delivered_at, o.given_up_at INTO delivered, given_up FROM outbox o WHERE o.id = event_id FOR UPDATE;
    ELSE
        SELECT o.delivered_at, o.given_up_at INTO delivered, given_up FROM outbox o WHERE o.id = event_id;
    END IF;
    IF NOT FOUND THEN
        RETURN NULL; -- the event itself is being deleted
    END IF;
    SELECT coalesce(bool_or(d.delivered_at IS NULL AND d.given_up_at IS NULL), true),
           coalesce(bool_or(d.given_up_at IS NOT NULL), false)
      INTO pending, gave_up FROM outbox_deliveries d WHERE d.outbox_id = event_id;
    IF pending THEN
        delivered := NULL;
        given_up := NULL;
    ELSIF gave_up THEN
        delivered := NULL;
        given_up := coalesce(given_up, now());
    ELSE
        delivered := coalesce(delivered, now());
        given_up := NULL;
    END IF;
    UPDATE outbox o SET delivered_at = delivered, given_up_at = given_up
    WHERE o.id = event_id AND (o.delivered_at IS DISTINCT FROM delivered OR o.given_up_at IS DISTINCT FROM given_up);
    RETURN NULL;
END
$$;
CREATE TRIGGER outbox_delivery_summary AFTER UPDATE OF delivered_at, given_up_at ON outbox_deliveries
    FOR EACH ROW WHEN (OLD.delivered_at IS DISTINCT FROM NEW.delivered_at OR OLD.given_up_at IS DISTINCT FROM NEW.given_up_at)
    EXECUTE FUNCTION outbox_delivery_summary();
CREATE TRIGGER outbox_delivery_summary_delete AFTER DELETE ON outbox_deliveries
    FOR EACH ROW EXECUTE FUNCTION outbox_delivery_summary();
COMMENT ON FUNCTION outbox_delivery_summary() IS 'Keeps outbox.delivered_at and given_up_at as the summary of the event''s per-sink deliveries.';

COMMENT ON TABLE outbox IS 'Notifications to the merchant backend, written in the same transaction as the change they report; delivered at least once to each sink (outbox_deliveries), in no guaranteed order except per order_key (the receiver deduplicates by event id, dedup_key).';
COMMENT ON COLUMN outbox.delivered_at IS 'Set once every sink has delivered the event (summary of outbox_deliveries).';
COMMENT ON COLUMN outbox.given_up_at IS 'Set once every sink has finished with the event and one of them gave up (summary of outbox_deliveries).';
COMMENT ON COLUMN outbox.attempts IS 'No longer maintained (before 0012: webhook attempts); see outbox_deliveries.';
COMMENT ON COLUMN outbox.next_attempt_at IS 'When the event became due (its transaction''s start); retries are scheduled per sink in outbox_deliveries.';
COMMENT ON COLUMN outbox.last_error IS 'No longer maintained (before 0012: the webhook''s last error); see outbox_deliveries.';
