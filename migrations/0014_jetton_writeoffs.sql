-- 0014_jetton_writeoffs: jettons credited to a deposit that its jetton
-- wallet no longer holds. A governed jetton's admin (USDT's can) may move
-- or burn jettons out of any jetton wallet, ours included. Each row
-- records such a difference once, and moves the jetton sweep watermark
-- past the incomes it covers, so the deposit is not a sweep candidate for
-- jettons that are gone (it would be one for ever, starving the others).
-- A row with gone = 0 only moves the watermark: an earlier sweep already
-- moved those incomes' jettons (it takes the whole balance at signing).
CREATE TABLE jetton_writeoffs (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    deposit_wallet_id bigint NOT NULL,
    currency          currency_code NOT NULL,
    last_income_id    bigint NOT NULL,
    gone              base_units NOT NULL CONSTRAINT jetton_writeoffs_gone_range CHECK (gone >= 0),
    balance           base_units NOT NULL CONSTRAINT jetton_writeoffs_balance_range CHECK (balance >= 0),
    mc_seqno          bigint NOT NULL CONSTRAINT jetton_writeoffs_mc_seqno_range CHECK (mc_seqno >= 0),
    sweep_id          bigint REFERENCES sweeps (id),
    created_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT jetton_writeoffs_deposit_wallet_fkey FOREIGN KEY (deposit_wallet_id, currency) REFERENCES deposit_wallets (id, currency)
);
CREATE INDEX jetton_writeoffs_deposit_idx ON jetton_writeoffs (deposit_wallet_id, last_income_id);

COMMENT ON TABLE jetton_writeoffs IS 'Jettons credited to a deposit and neither swept nor in its jetton wallet any more (moved or burnt by the jetton''s admin); written by the sweep planner.';
COMMENT ON COLUMN jetton_writeoffs.last_income_id IS 'Incomes up to this id are settled: the jetton sweep watermark, as sweeps.last_income_id of confirmed sweeps.';
COMMENT ON COLUMN jetton_writeoffs.gone IS 'Credited - swept - written off before - balance, when this row was written.';
COMMENT ON COLUMN jetton_writeoffs.sweep_id IS 'Set when found while signing that sweep: its jetton wallet held less than when it was decided.';
COMMENT ON COLUMN jetton_writeoffs.balance IS 'The jetton wallet''s balance (get_wallet_data) at mc_seqno.';
