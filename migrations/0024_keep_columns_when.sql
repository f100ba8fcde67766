-- 0024_keep_columns_when: the immutable-column triggers run only when an
-- immutable column changed.
--
-- keep_columns (0001) converts both rows to jsonb on every update to find
-- the column that changed: for hot_batches that is the 60 KB signed
-- message, hex-encoded twice, on every send attempt and confirmation
-- (7-11 ms of server CPU each); for withdrawals, the comment, on each of
-- the three updates a withdrawal goes through (issue 11: with 1000-byte
-- comments the database server used more CPU than the processor). A WHEN
-- clause compares the listed columns directly, in the executor, and calls
-- keep_columns (which then names the column and raises) only when one of
-- them differs; updates that keep them, all of the processor's, call no
-- function at all. The columns are those of each trigger's arguments
-- (store's TestImmutableTriggersHaveWhen checks that they agree).

DROP TRIGGER deposit_wallet_messages_immutable ON deposit_wallet_messages;
CREATE TRIGGER deposit_wallet_messages_immutable BEFORE UPDATE ON deposit_wallet_messages FOR EACH ROW
    WHEN (OLD.deposit_wallet_id IS DISTINCT FROM NEW.deposit_wallet_id
       OR OLD.seqno IS DISTINCT FROM NEW.seqno
       OR OLD.valid_until IS DISTINCT FROM NEW.valid_until
       OR OLD.signed_message IS DISTINCT FROM NEW.signed_message
       OR OLD.message_hash IS DISTINCT FROM NEW.message_hash)
    EXECUTE FUNCTION keep_columns('deposit_wallet_id', 'seqno', 'valid_until', 'signed_message', 'message_hash');

DROP TRIGGER cold_transfers_immutable ON cold_transfers;
CREATE TRIGGER cold_transfers_immutable BEFORE UPDATE ON cold_transfers FOR EACH ROW
    WHEN (OLD.currency IS DISTINCT FROM NEW.currency
       OR OLD.amount IS DISTINCT FROM NEW.amount
       OR OLD.destination_workchain IS DISTINCT FROM NEW.destination_workchain
       OR OLD.destination_address IS DISTINCT FROM NEW.destination_address)
    EXECUTE FUNCTION keep_columns('currency', 'amount', 'destination_workchain', 'destination_address');

DROP TRIGGER withdrawals_immutable ON withdrawals;
CREATE TRIGGER withdrawals_immutable BEFORE UPDATE ON withdrawals FOR EACH ROW
    WHEN (OLD.user_id IS DISTINCT FROM NEW.user_id
       OR OLD.query_id IS DISTINCT FROM NEW.query_id
       OR OLD.currency IS DISTINCT FROM NEW.currency
       OR OLD.amount IS DISTINCT FROM NEW.amount
       OR OLD.destination_workchain IS DISTINCT FROM NEW.destination_workchain
       OR OLD.destination_address IS DISTINCT FROM NEW.destination_address
       OR OLD.bounceable IS DISTINCT FROM NEW.bounceable
       OR OLD.comment IS DISTINCT FROM NEW.comment
       OR OLD.binary_comment IS DISTINCT FROM NEW.binary_comment
       OR OLD.request_hash IS DISTINCT FROM NEW.request_hash
       OR OLD.destination_jetton_wallet_workchain IS DISTINCT FROM NEW.destination_jetton_wallet_workchain
       OR OLD.destination_jetton_wallet IS DISTINCT FROM NEW.destination_jetton_wallet)
    EXECUTE FUNCTION keep_columns('user_id', 'query_id', 'currency', 'amount', 'destination_workchain', 'destination_address', 'bounceable', 'comment', 'binary_comment', 'request_hash', 'destination_jetton_wallet_workchain', 'destination_jetton_wallet');

DROP TRIGGER hot_batches_immutable ON hot_batches;
CREATE TRIGGER hot_batches_immutable BEFORE UPDATE ON hot_batches FOR EACH ROW
    WHEN (OLD.query_seq IS DISTINCT FROM NEW.query_seq
       OR OLD.created_at_chain IS DISTINCT FROM NEW.created_at_chain
       OR OLD.timeout_seconds IS DISTINCT FROM NEW.timeout_seconds
       OR OLD.signed_message IS DISTINCT FROM NEW.signed_message
       OR OLD.message_hash IS DISTINCT FROM NEW.message_hash
       OR OLD.ton_reserve IS DISTINCT FROM NEW.ton_reserve)
    EXECUTE FUNCTION keep_columns('query_seq', 'created_at_chain', 'timeout_seconds', 'signed_message', 'message_hash', 'ton_reserve');

DROP TRIGGER deposit_wallets_immutable ON deposit_wallets;
CREATE TRIGGER deposit_wallets_immutable BEFORE UPDATE ON deposit_wallets FOR EACH ROW
    WHEN (OLD.user_id IS DISTINCT FROM NEW.user_id
       OR OLD.currency IS DISTINCT FROM NEW.currency
       OR OLD.subwallet_id IS DISTINCT FROM NEW.subwallet_id
       OR OLD.workchain IS DISTINCT FROM NEW.workchain
       OR OLD.address IS DISTINCT FROM NEW.address
       OR OLD.jetton_master_workchain IS DISTINCT FROM NEW.jetton_master_workchain
       OR OLD.jetton_master IS DISTINCT FROM NEW.jetton_master
       OR OLD.jetton_wallet_workchain IS DISTINCT FROM NEW.jetton_wallet_workchain
       OR OLD.jetton_wallet IS DISTINCT FROM NEW.jetton_wallet
       OR OLD.derivation IS DISTINCT FROM NEW.derivation
       OR OLD.credited_before_lt IS DISTINCT FROM NEW.credited_before_lt)
    EXECUTE FUNCTION keep_columns('user_id', 'currency', 'subwallet_id', 'workchain', 'address', 'jetton_master_workchain', 'jetton_master', 'jetton_wallet_workchain', 'jetton_wallet', 'derivation', 'credited_before_lt');

DROP TRIGGER bicycle_takeover_immutable ON bicycle_takeover;
CREATE TRIGGER bicycle_takeover_immutable BEFORE UPDATE ON bicycle_takeover FOR EACH ROW
    WHEN (OLD.hot_address IS DISTINCT FROM NEW.hot_address
       OR OLD.cursor_shard IS DISTINCT FROM NEW.cursor_shard
       OR OLD.cursor_seqno IS DISTINCT FROM NEW.cursor_seqno
       OR OLD.cursor_root_hash IS DISTINCT FROM NEW.cursor_root_hash
       OR OLD.cursor_file_hash IS DISTINCT FROM NEW.cursor_file_hash
       OR OLD.cutover_lt IS DISTINCT FROM NEW.cutover_lt
       OR OLD.start_mc_seqno IS DISTINCT FROM NEW.start_mc_seqno)
    EXECUTE FUNCTION keep_columns('hot_address', 'cursor_shard', 'cursor_seqno', 'cursor_root_hash', 'cursor_file_hash', 'cutover_lt', 'start_mc_seqno');
