-- 0011_bridge_attention: bridge payments a person must decide, late
-- contradicting statuses, and updated_at that only moves on real changes
-- (internal/bridge, issue 12).
--
-- An unknown payment is never failed for lack of news: past
-- BRIDGE_UNKNOWN_GIVE_UP without a definite answer from its provider it
-- stays unknown and gets an attention note. A final status reported after
-- a contradicting local final one (paid after failed) cannot change the
-- final status (bridge_keep_final_status) but must not be lost: it is kept
-- in bridge_payment_conflicts.

ALTER TABLE bridge_payments ADD COLUMN attention text NOT NULL DEFAULT '';
COMMENT ON COLUMN bridge_payments.attention IS
    'Why a person must decide about this payment ('''' = nothing to decide); cleared when the status moves on.';

CREATE TABLE bridge_payment_conflicts (
    id             bigserial PRIMARY KEY,
    payment_id     bigint      NOT NULL REFERENCES bridge_payments (id),
    local_status   text        NOT NULL,
    status         text        NOT NULL,
    raw_status     text        NOT NULL DEFAULT '',
    source         text        NOT NULL,
    reason         text        NOT NULL DEFAULT '',
    settled_amount numeric(78, 0),
    created_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT bridge_payment_conflicts_once UNIQUE (payment_id, status),
    CONSTRAINT bridge_payment_conflicts_source CHECK (source IN ('create', 'callback', 'reconcile')),
    CONSTRAINT bridge_payment_conflicts_settled_amount_nonnegative CHECK (settled_amount IS NULL OR settled_amount >= 0)
);
COMMENT ON TABLE bridge_payment_conflicts IS
    'Final statuses a provider reported after a contradicting local final status (one row per reported status).';

-- The reconciler's claim bumps checks and next_check_at on every poll;
-- those are scheduling, not news about the payment.
CREATE FUNCTION bridge_set_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (to_jsonb(NEW) - 'checks' - 'next_check_at' - 'updated_at')
       IS DISTINCT FROM (to_jsonb(OLD) - 'checks' - 'next_check_at' - 'updated_at') THEN
        NEW.updated_at := now();
    ELSE
        NEW.updated_at := OLD.updated_at;
    END IF;
    RETURN NEW;
END
$$;
DROP TRIGGER bridge_payments_updated_at ON bridge_payments;
CREATE TRIGGER bridge_payments_updated_at BEFORE UPDATE ON bridge_payments
    FOR EACH ROW EXECUTE FUNCTION bridge_set_updated_at();
