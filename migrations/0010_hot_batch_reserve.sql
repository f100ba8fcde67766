-- 0010_hot_batch_reserve: what a hot wallet batch holds back, and items
-- the hot wallet did not send.
--
-- A batch of more than one message goes out as one message from the hot
-- wallet to itself carrying the list (nested every 253 messages), with
-- the values, the wrapper's own processing value and forward fees on top.
-- The worker reserves all of that when it writes the batch, and the
-- hot wallet's spendable TON is its balance less the reserves of the
-- batches still in flight. NULL: a batch written before this migration
-- (the worker counts its items as it used to).
ALTER TABLE hot_batches ADD COLUMN ton_reserve base_units;
COMMENT ON COLUMN hot_batches.ton_reserve IS 'Nanoton the batch needs on the hot wallet from its external until its last packed list ran: values sent, the wrappers'' own values, all fees, a margin.';

DROP TRIGGER hot_batches_immutable ON hot_batches;
CREATE TRIGGER hot_batches_immutable BEFORE UPDATE ON hot_batches FOR EACH ROW
    EXECUTE FUNCTION keep_columns('query_seq', 'created_at_chain', 'timeout_seconds', 'signed_message', 'message_hash', 'ton_reserve');

-- When the wallet executed the batch but did not send the packed list
-- holding an item (it skipped the wrapper, or the transaction that was to
-- send it failed its action phase), the query id is spent and nothing of
-- that list can go out any more: the item is returned (its request is
-- pending again, or its cold transfer failed) and no longer live, so the
-- request can go into a new batch.
ALTER TABLE hot_batch_items
    ADD COLUMN returned boolean NOT NULL DEFAULT false,
    ADD CONSTRAINT hot_batch_items_returned_seen CHECK (NOT returned OR sent_tx_hash IS NOT NULL);
COMMENT ON COLUMN hot_batch_items.returned IS 'The batch executed without sending this message (sent_tx_hash is the transaction that did not): its request went back to pending.';

CREATE OR REPLACE FUNCTION hot_batch_items_set_live() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- A missing batch is left to the foreign key to report.
    NEW.live := NOT NEW.returned AND coalesce((SELECT b.state <> 'expired' FROM hot_batches b WHERE b.id = NEW.batch_id), true);
    RETURN NEW;
END
$$;
COMMENT ON COLUMN hot_batch_items.live IS 'False once the batch expired or the item was returned. Maintained by triggers; a request has at most one live item.';

-- Returned items are final: a returned message cannot be sent any more.
CREATE FUNCTION hot_batch_items_keep_returned() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.returned AND NOT NEW.returned THEN
        RAISE EXCEPTION 'hot_batch_items (%, %) was returned and cannot be live again', OLD.batch_id, OLD.msg_index
            USING ERRCODE = 'check_violation', TABLE = TG_TABLE_NAME, CONSTRAINT = 'hot_batch_items_returned_final';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER hot_batch_items_keep_returned BEFORE UPDATE OF returned ON hot_batch_items FOR EACH ROW
    EXECUTE FUNCTION hot_batch_items_keep_returned();

COMMENT ON COLUMN withdrawals.state IS 'pending -> processing -> processed | failed; processing -> pending only when its batch expired, or executed without sending its message (hot_batch_items.returned).';
