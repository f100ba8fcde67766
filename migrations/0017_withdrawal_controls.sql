-- 0017_withdrawal_controls: operator controls of withdrawals (README,
-- Withdrawal controls): the awaiting_approval state and its approvals,
-- per-currency pauses, operator accounts and an append-only audit log.

-- A withdrawal above its currency's APPROVAL_THRESHOLDS amount starts in
-- awaiting_approval; the batch picker takes only pending ones.
ALTER TABLE withdrawals
    DROP CONSTRAINT withdrawals_state_valid,
    ADD CONSTRAINT withdrawals_state_valid CHECK (state IN ('awaiting_approval', 'pending', 'processing', 'processed', 'failed')),
    DROP CONSTRAINT withdrawals_state_fields,
    ADD CONSTRAINT withdrawals_state_fields CHECK (CASE state
        WHEN 'awaiting_approval' THEN batch_id IS NULL AND tx_hash IS NULL AND fail_reason IS NULL
        WHEN 'pending'    THEN batch_id IS NULL AND tx_hash IS NULL AND fail_reason IS NULL
        WHEN 'processing' THEN batch_id IS NOT NULL AND fail_reason IS NULL
        WHEN 'processed'  THEN (batch_id IS NOT NULL OR imported_from IS NOT NULL)
                               AND (tx_hash IS NOT NULL OR imported_from IS NOT NULL) AND fail_reason IS NULL
        WHEN 'failed'     THEN fail_reason IS NOT NULL
    END),
    ADD COLUMN created_by text CONSTRAINT withdrawals_created_by_not_empty CHECK (created_by <> ''),
    ADD COLUMN touched_by text CONSTRAINT withdrawals_touched_by_not_empty CHECK (touched_by <> '');
COMMENT ON COLUMN withdrawals.state IS 'awaiting_approval -> pending (approved) | failed (rejected); pending -> processing -> processed | failed; pending -> failed (cancelled); processing -> pending only when its batch expired.';
COMMENT ON COLUMN withdrawals.created_by IS 'Operator who created the withdrawal; NULL for the API (the merchant backend). May not approve it.';
COMMENT ON COLUMN withdrawals.touched_by IS 'Operator who last changed the withdrawal; may not approve it (two-person rule).';
CREATE INDEX withdrawals_awaiting_approval_idx ON withdrawals (id) WHERE state = 'awaiting_approval';

CREATE TABLE operators (
    name          text PRIMARY KEY CONSTRAINT operators_name_valid CHECK (name ~ '^[a-z0-9][a-z0-9._-]{0,63}$'),
    role          text NOT NULL CONSTRAINT operators_role_valid CHECK (role IN ('viewer', 'approver', 'admin')),
    password_hash text NOT NULL,
    totp_secret   text NOT NULL,
    disabled      boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER operators_updated_at BEFORE UPDATE ON operators FOR EACH ROW EXECUTE FUNCTION set_updated_at();
COMMENT ON TABLE operators IS 'Operator accounts (processor operator add|disable|reset). password_hash: argon2id PHC string; totp_secret: RFC 6238 base32 secret.';

CREATE TABLE withdrawal_approvals (
    withdrawal_id bigint NOT NULL REFERENCES withdrawals (id),
    operator      text NOT NULL REFERENCES operators (name),
    reason        text NOT NULL CONSTRAINT withdrawal_approvals_reason_not_empty CHECK (reason <> ''),
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (withdrawal_id, operator)
);
COMMENT ON TABLE withdrawal_approvals IS 'One row per distinct operator approving an awaiting_approval withdrawal; APPROVALS_REQUIRED of them make it pending.';

CREATE TABLE withdrawal_pauses (
    currency   text PRIMARY KEY,
    paused_by  text NOT NULL REFERENCES operators (name),
    reason     text NOT NULL CONSTRAINT withdrawal_pauses_reason_not_empty CHECK (reason <> ''),
    created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE withdrawal_pauses IS 'Currencies whose withdrawals are not batched (kill switch); a row exists while paused.';

CREATE TABLE audit_log (
    id         bigserial PRIMARY KEY,
    actor      text NOT NULL CONSTRAINT audit_log_actor_not_empty CHECK (actor <> ''),
    action     text NOT NULL CONSTRAINT audit_log_action_not_empty CHECK (action <> ''),
    subject    text NOT NULL CONSTRAINT audit_log_subject_not_empty CHECK (subject <> ''),
    before     jsonb,
    after      jsonb,
    reason     text,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX audit_log_subject_idx ON audit_log (subject, id);

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege', TABLE = TG_TABLE_NAME;
END;
$$;
CREATE TRIGGER audit_log_no_update_delete BEFORE UPDATE OR DELETE ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
COMMENT ON TABLE audit_log IS 'Append-only record of operator and API control actions (who, when, action, subject, before/after, reason); triggers refuse UPDATE, DELETE and TRUNCATE.';
