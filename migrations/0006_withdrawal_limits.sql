-- 0006_withdrawal_limits: the per-currency daily withdrawal limit sums the
-- last 24 hours of a currency's withdrawals at every request.
CREATE INDEX withdrawals_currency_created_idx ON withdrawals (currency, created_at) INCLUDE (amount, state);
