-- 0008_withdrawal_halts: a batch declared expired (its withdrawals returned
-- to pending) that the chain then shows executing means expiry rested on
-- wrong chain data, and those withdrawals may be paid twice. That is
-- recorded here and stops the hot wallet (no new batches, no re-sends, no
-- expiry) until a person clears it with `processor resume-withdrawals`.
CREATE TABLE withdrawal_halts (
    id         bigserial PRIMARY KEY,
    reason     text NOT NULL,
    batch_id   bigint REFERENCES hot_batches (id),
    tx_hash    bytea,
    created_at timestamptz NOT NULL DEFAULT now(),
    cleared_at timestamptz,
    cleared_by text,
    CONSTRAINT withdrawal_halts_batch_key UNIQUE (batch_id)
);

CREATE INDEX withdrawal_halts_open ON withdrawal_halts (id) WHERE cleared_at IS NULL;
