-- 0013_bicycle_takeover: what `processor takeover-bicycle` imports from a
-- gobicycle/bicycle deployment (internal/takeover) and what the processor
-- needs to carry on with it.
--
-- Deposit rows carry how their address was derived: this processor's
-- deposit key, bicycle's standard key (TON deposits, wallet V3R2) or a
-- bicycle jetton proxy (owned by bicycle's highload v2 hot wallet; its
-- jetton wallet holds the jettons). Sweeps sign with the row's key, and
-- proxies are never swept by the worker: only bicycle's hot wallet can
-- command them (processor takeover-bicycle sweep-jettons).
ALTER TABLE deposit_wallets
    ADD COLUMN derivation text NOT NULL DEFAULT 'processor'
        CONSTRAINT deposit_wallets_derivation_valid CHECK (derivation IN ('processor', 'bicycle', 'bicycle_proxy')),
    ADD COLUMN credited_before_lt bigint
        CONSTRAINT deposit_wallets_credited_before_lt_range CHECK (credited_before_lt IS NULL OR credited_before_lt >= 0),
    ADD CONSTRAINT deposit_wallets_derivation_currency CHECK (
        CASE derivation WHEN 'bicycle' THEN currency = 'TON' WHEN 'bicycle_proxy' THEN currency <> 'TON' ELSE true END);
COMMENT ON COLUMN deposit_wallets.derivation IS 'processor: deposit key (m/44''/607''/1''), V3R2. bicycle: the mnemonic''s standard key, V3R2 (imported). bicycle_proxy: bicycle''s jetton proxy, owned by its highload v2 hot wallet (imported).';
COMMENT ON COLUMN deposit_wallets.credited_before_lt IS 'Imported deposits: transactions originating before this logical time (the end of bicycle''s last scanned block) were credited by bicycle and are never credited again; NULL: none.';

DROP TRIGGER deposit_wallets_immutable ON deposit_wallets;
CREATE TRIGGER deposit_wallets_immutable BEFORE UPDATE ON deposit_wallets FOR EACH ROW
    EXECUTE FUNCTION keep_columns('user_id', 'currency', 'subwallet_id', 'workchain', 'address',
                                  'jetton_master_workchain', 'jetton_master', 'jetton_wallet_workchain', 'jetton_wallet',
                                  'derivation', 'credited_before_lt');

-- Imported history: bicycle's rows from before its v0.5.0 have no
-- transaction hash, and they are real deposits (income totals count them).
ALTER TABLE incomes
    ADD COLUMN imported_from text CONSTRAINT incomes_imported_from_valid CHECK (imported_from IN ('bicycle')),
    ALTER COLUMN tx_hash DROP NOT NULL,
    ADD CONSTRAINT incomes_tx_hash_scanned CHECK (tx_hash IS NOT NULL OR imported_from IS NOT NULL);
COMMENT ON COLUMN incomes.imported_from IS 'NULL: credited by the scanner. bicycle: imported from bicycle''s external_incomes (mc_seqno 0; tx_hash NULL for its rows from before v0.5.0). Sweeps do not count imported rows: bicycle swept them.';

-- Imported withdrawals keep bicycle's ID and state; the ones bicycle
-- finished were sent by its hot wallet, in no batch of ours.
ALTER TABLE withdrawals
    ADD COLUMN imported_from text CONSTRAINT withdrawals_imported_from_valid CHECK (imported_from IN ('bicycle')),
    DROP CONSTRAINT withdrawals_state_fields,
    ADD CONSTRAINT withdrawals_state_fields CHECK (CASE state
        WHEN 'pending'    THEN batch_id IS NULL AND tx_hash IS NULL AND fail_reason IS NULL
        WHEN 'processing' THEN batch_id IS NOT NULL AND fail_reason IS NULL
        WHEN 'processed'  THEN (batch_id IS NOT NULL OR imported_from IS NOT NULL)
                               AND (tx_hash IS NOT NULL OR imported_from IS NOT NULL) AND fail_reason IS NULL
        WHEN 'failed'     THEN fail_reason IS NOT NULL
    END);
COMMENT ON COLUMN withdrawals.imported_from IS 'bicycle: imported with bicycle''s ID (query_id) and state; a processed one was sent by bicycle''s hot wallet (tx_hash: that transaction, NULL for rows from before bicycle v0.5.0).';

-- The takeover itself: what the processor keeps of bicycle (its hot
-- wallet, the proxy code every proxy command carries), where bicycle's
-- scanner stopped, and which stages are done.
CREATE TABLE bicycle_takeover (
    singleton          boolean PRIMARY KEY DEFAULT true CONSTRAINT bicycle_takeover_singleton CHECK (singleton),
    hot_address        bytes32 NOT NULL,
    proxy_code         bytea,
    cursor_shard       bigint NOT NULL,
    cursor_seqno       bigint NOT NULL,
    cursor_root_hash   bytes32 NOT NULL,
    cursor_file_hash   bytes32 NOT NULL,
    cursor_gen_utime   bigint NOT NULL,
    cutover_lt         bigint NOT NULL CONSTRAINT bicycle_takeover_cutover_lt_range CHECK (cutover_lt > 0),
    start_mc_seqno     bigint NOT NULL CONSTRAINT bicycle_takeover_start_mc_seqno_range CHECK (start_mc_seqno BETWEEN 0 AND 4294967295),
    next_subwallet_id  bigint NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER bicycle_takeover_immutable BEFORE UPDATE ON bicycle_takeover FOR EACH ROW
    EXECUTE FUNCTION keep_columns('hot_address', 'cursor_shard', 'cursor_seqno', 'cursor_root_hash', 'cursor_file_hash', 'cutover_lt', 'start_mc_seqno');
COMMENT ON TABLE bicycle_takeover IS 'The gobicycle/bicycle deployment this database took over (processor takeover-bicycle); one row.';
COMMENT ON COLUMN bicycle_takeover.hot_address IS 'bicycle''s highload v2 hot wallet (workchain 0): the only owner of its jetton proxies.';
COMMENT ON COLUMN bicycle_takeover.proxy_code IS 'BoC of bicycle''s jetton proxy code (the operator''s copy, hash checked); NULL when bicycle had no jetton deposits.';
COMMENT ON COLUMN bicycle_takeover.cursor_seqno IS 'bicycle''s resume point (block_data row with the highest seqno): its last scanned workchain-0 shard block.';
COMMENT ON COLUMN bicycle_takeover.cutover_lt IS 'End logical time of that block: what originated before it bicycle credited (deposit_wallets.credited_before_lt).';
COMMENT ON COLUMN bicycle_takeover.start_mc_seqno IS 'Masterchain block the scanner continues after: the one that block names as its master, so no later block is skipped.';
COMMENT ON COLUMN bicycle_takeover.next_subwallet_id IS 'bicycle''s next subwallet id (MAX(ton_wallets.subwallet_id)+1) at the takeover.';

CREATE TABLE bicycle_takeover_stages (
    stage       text PRIMARY KEY CONSTRAINT bicycle_takeover_stages_stage_valid CHECK (stage IN ('state', 'addresses', 'history', 'withdrawals', 'cursor')),
    finished_at timestamptz NOT NULL DEFAULT now(),
    summary     jsonb NOT NULL
);
COMMENT ON TABLE bicycle_takeover_stages IS 'Takeover stages committed (each in one transaction) and what they imported.';
