-- 0005_sweeps: what the scanner and the worker need to execute sweeps and
-- service withdrawals from deposit wallets.
--
-- A deposit wallet message (V3R2 external) emits one internal message: to
-- the hot wallet (TON sweep, TON service withdrawal) or to the deposit's
-- jetton wallet (jetton sweep, jetton service withdrawal). The scanner
-- records that emitted message's hash when it confirms the external; the
-- receiving transaction names it as its inbound message and settles the
-- sweep or service withdrawal.

ALTER TABLE deposit_wallet_messages ADD COLUMN out_msg_hash bytes32;
COMMENT ON COLUMN deposit_wallet_messages.out_msg_hash IS 'Hash of the internal message the confirmed external emitted (NULL until seen, or when it emitted none).';
CREATE INDEX deposit_wallet_messages_out_msg_idx ON deposit_wallet_messages (out_msg_hash) WHERE out_msg_hash IS NOT NULL;

-- Jetton sweeps: incomes up to this id were covered when the sweep was
-- decided, so the next sweep is considered only for newer incomes.
ALTER TABLE sweeps ADD COLUMN last_income_id bigint;
COMMENT ON COLUMN sweeps.last_income_id IS 'Highest incomes.id of the deposit when the sweep was decided (jettons: what it covers).';

-- The worker finds open work by state.
CREATE INDEX sweeps_open_idx ON sweeps (state, id) WHERE state IN ('pending', 'topping_up', 'sent');
CREATE INDEX service_withdrawals_open_idx ON service_withdrawals (state, id) WHERE state IN ('pending', 'processing');
