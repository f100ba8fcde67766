-- 0003_withdrawal_delivery: what the scanner needs to follow each message
-- of a hot wallet batch to its destination.
--
-- A batch item's message is the internal message the hot wallet is asked
-- to send (msg_hash: hash of that message cell as signed). When the hot
-- wallet's transaction emits it, the emitted message (with source, lt and
-- fees filled in) gets another hash, sent_msg_hash: the destination's
-- transaction names it as its inbound message, and that transaction tells
-- whether the payment stayed (processed) or bounced back (failed).

ALTER TABLE hot_batch_items
    ADD COLUMN msg_hash      bytes32,
    ADD COLUMN sent_tx_hash  bytes32,
    ADD COLUMN sent_msg_hash bytes32,
    ADD COLUMN dest_workchain workchain_id,
    ADD COLUMN dest_address  bytes32;

COMMENT ON COLUMN hot_batch_items.msg_hash IS 'Hash of the internal message cell the batch asks the hot wallet to send.';
COMMENT ON COLUMN hot_batch_items.sent_tx_hash IS 'Hot wallet transaction that emitted the message (NULL until seen).';
COMMENT ON COLUMN hot_batch_items.sent_msg_hash IS 'Hash of the emitted message: the destination transaction''s inbound message.';
COMMENT ON COLUMN hot_batch_items.dest_address IS 'Account the message goes to (the destination, or the hot jetton wallet for jettons).';

-- The scanner finds items by the message it sees.
CREATE INDEX hot_batch_items_msg_idx ON hot_batch_items (batch_id, msg_hash) WHERE sent_tx_hash IS NULL;
CREATE INDEX hot_batch_items_sent_msg_idx ON hot_batch_items (sent_msg_hash) WHERE sent_msg_hash IS NOT NULL;
-- Destinations the scanner watches while their payments are in flight.
CREATE INDEX withdrawals_processing_idx ON withdrawals (id) WHERE state = 'processing';
