-- 0022_sweeps_failed_idx: a deposit's next sweep waits longer after each
-- failed one (withdrawals.SweepConfig.RetryBackoff); the worker looks up
-- every candidate's failed sweeps since its last confirmed one.
CREATE INDEX sweeps_failed_idx ON sweeps (deposit_wallet_id, id) INCLUDE (updated_at) WHERE state = 'failed';
