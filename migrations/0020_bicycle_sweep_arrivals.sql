-- 0020_bicycle_sweep_arrivals: gobicycle/bicycle's sweep arrivals
-- (payments.internal_incomes), imported by `processor takeover-bicycle`
-- (history stage), so that /v1/income with INCOME_COUNTING_SIDE=hot_wallet
-- (bicycle's DEPOSIT_SIDE_BALANCE=false) continues from bicycle's totals.
-- Kept apart from sweeps: bicycle's arrivals have no transaction hash nor
-- a sweep of this processor behind them, and nothing but the totals reads
-- them.
CREATE TABLE bicycle_sweep_arrivals (
    memo              uuid NOT NULL,
    lt                bigint NOT NULL,
    deposit_wallet_id bigint NOT NULL REFERENCES deposit_wallets (id),
    utime             bigint NOT NULL,
    amount            base_units NOT NULL,
    imported_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (memo, lt)
);
CREATE INDEX bicycle_sweep_arrivals_deposit_idx ON bicycle_sweep_arrivals (deposit_wallet_id) INCLUDE (amount);
COMMENT ON TABLE bicycle_sweep_arrivals IS 'bicycle''s internal_incomes rows (what reached its hot wallet from each deposit, failed transactions'' rows included, as bicycle counted them), keyed as in bicycle (memo, lt); added to confirmed sweeps by /v1/income with INCOME_COUNTING_SIDE=hot_wallet.';
COMMENT ON COLUMN bicycle_sweep_arrivals.deposit_wallet_id IS 'The imported deposit: bicycle''s deposit_address is the TON deposit, or the jetton deposit''s jetton wallet.';
COMMENT ON COLUMN bicycle_sweep_arrivals.lt IS 'bicycle''s internal_incomes.lt, as stored.';
COMMENT ON COLUMN bicycle_sweep_arrivals.utime IS 'bicycle''s internal_incomes.utime, unix seconds.';
