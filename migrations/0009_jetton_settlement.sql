-- 0009_jetton_settlement: jetton withdrawals settle on the destination's
-- jetton wallet, and jetton sweeps notice when their gas is gone.
--
-- A jetton withdrawal is paid only when the destination's jetton wallet
-- accepts the internal_transfer (a locked or otherwise refusing wallet
-- bounces it, and the jettons return to the hot jetton wallet). The
-- scanner must watch that wallet before the batch can execute, so its
-- address (get_wallet_address of the destination on the jetton master) is
-- stored with the request. NULL: a TON withdrawal, or a jetton withdrawal
-- accepted before this migration, which settles as before on the hot
-- jetton wallet's transfer.
ALTER TABLE withdrawals
    ADD COLUMN destination_jetton_wallet_workchain workchain_id,
    ADD COLUMN destination_jetton_wallet bytes32,
    ADD CONSTRAINT withdrawals_destination_jetton_wallet_fields
        CHECK ((destination_jetton_wallet_workchain IS NULL) = (destination_jetton_wallet IS NULL)),
    ADD CONSTRAINT withdrawals_destination_jetton_wallet_jettons_only
        CHECK (destination_jetton_wallet IS NULL OR currency <> 'TON');
COMMENT ON COLUMN withdrawals.destination_jetton_wallet IS 'Jetton wallet of the destination (get_wallet_address on the master, at request time); its transaction of the internal_transfer settles the withdrawal.';

-- Written with the request, like the destination it derives from.
DROP TRIGGER withdrawals_immutable ON withdrawals;
CREATE TRIGGER withdrawals_immutable BEFORE UPDATE ON withdrawals FOR EACH ROW
    EXECUTE FUNCTION keep_columns('user_id', 'query_id', 'currency', 'amount', 'destination_workchain', 'destination_address',
                                  'bounceable', 'comment', 'binary_comment', 'request_hash',
                                  'destination_jetton_wallet_workchain', 'destination_jetton_wallet');

-- The scanner watches these while their withdrawals are in flight.
CREATE INDEX withdrawals_jetton_in_flight_idx ON withdrawals (destination_jetton_wallet)
    WHERE state = 'processing' AND destination_jetton_wallet IS NOT NULL;

-- A jetton sweep's gas: the logical time of the deposit wallet's
-- transaction that received the sweep's top-up. A deposit wallet message
-- that executes after it and empties the wallet (a TON service withdrawal,
-- mode 128+32) took that gas, and the sweep, which would wait for it
-- forever, fails in the same scanner transaction.
ALTER TABLE sweeps ADD COLUMN topup_lt bigint;
COMMENT ON COLUMN sweeps.topup_lt IS 'Logical time of the deposit wallet transaction that received this sweep''s gas top-up; NULL until the scanner sees it.';

-- A deposit wallet's last confirmed message: its seqno is the floor of
-- the next one (a lagging liteserver may report an older seqno), and TON
-- sweeps count incomes after it.
CREATE INDEX deposit_wallet_messages_confirmed_idx ON deposit_wallet_messages (deposit_wallet_id, tx_lt) WHERE state = 'confirmed';
