-- 0007_withdrawal_network_fee: the webhook event of a withdrawal reports the
-- total fees of the transaction named by tx_hash, read from that
-- transaction when the scanner sees it. For TON payments that is the hot
-- wallet's transaction, seen before the destination settles the payment,
-- so the fee is kept until the event is written.
ALTER TABLE withdrawals
    ADD COLUMN network_fee base_units,
    ADD CONSTRAINT withdrawals_network_fee_with_tx CHECK (network_fee IS NULL OR tx_hash IS NOT NULL);

COMMENT ON COLUMN withdrawals.network_fee IS 'total_fees (nanoton) of the transaction tx_hash, from the chain; NULL when unknown. That transaction may have sent other withdrawals of the batch too.';
