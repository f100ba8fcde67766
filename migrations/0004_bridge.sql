-- 0004_bridge: fiat payins and payouts sent to payment providers
-- (internal/bridge).
--
-- A payment row is written BEFORE its provider is called (status
-- 'created'), so a crash or a timeout never leaves a request the processor
-- does not know about. Its reference (ours) is the idempotency key towards
-- the merchant and towards the provider. The status follows the bridge's one
-- status model; terminal statuses never change again, except succeeded ->
-- reversed (bridge_keep_final_status). The provider's own status is kept
-- beside it in raw_status. Amounts are minor units of the ISO 4217 currency.

CREATE TABLE bridge_payments (
    id             bigserial PRIMARY KEY,
    reference      text        NOT NULL,
    kind           text        NOT NULL,
    provider       text        NOT NULL,
    request_hash   bytea       NOT NULL,
    request        jsonb       NOT NULL,
    amount         numeric(78, 0) NOT NULL,
    currency       text        NOT NULL,
    status         text        NOT NULL DEFAULT 'created',
    raw_status     text        NOT NULL DEFAULT '',
    provider_id    text        NOT NULL DEFAULT '',
    redirect_url   text        NOT NULL DEFAULT '',
    settled_amount numeric(78, 0),
    reason         text        NOT NULL DEFAULT '',
    checks         integer     NOT NULL DEFAULT 0,
    next_check_at  timestamptz NOT NULL DEFAULT now(),
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT bridge_payments_reference_key UNIQUE (reference),
    CONSTRAINT bridge_payments_reference_format CHECK (reference ~ '^[A-Za-z0-9._:-]{1,64}$'),
    CONSTRAINT bridge_payments_kind CHECK (kind IN ('payin', 'payout')),
    CONSTRAINT bridge_payments_provider_format CHECK (provider ~ '^[a-z][a-z0-9_]{0,31}$'),
    CONSTRAINT bridge_payments_request_hash_length CHECK (octet_length(request_hash) = 32),
    CONSTRAINT bridge_payments_amount_positive CHECK (amount > 0),
    CONSTRAINT bridge_payments_settled_amount_nonnegative CHECK (settled_amount IS NULL OR settled_amount >= 0),
    CONSTRAINT bridge_payments_currency_format CHECK (currency ~ '^[A-Z]{3}$'),
    CONSTRAINT bridge_payments_status CHECK (status IN ('created', 'submitted', 'action_required', 'processing',
        'under_review', 'succeeded', 'failed', 'canceled', 'expired', 'reversed', 'rejected', 'unknown'))
);
COMMENT ON TABLE bridge_payments IS 'Fiat payins and payouts forwarded to payment providers (internal/bridge).';
COMMENT ON COLUMN bridge_payments.reference IS 'Our reference: the merchant''s idempotency key and the provider''s external id.';
COMMENT ON COLUMN bridge_payments.request_hash IS 'SHA-256 of the canonical request: the same reference with another body is a conflict.';
COMMENT ON COLUMN bridge_payments.status IS 'Bridge status model (bridge.Status); unknown = the create call''s outcome is unknown, settled by reconciliation.';
COMMENT ON COLUMN bridge_payments.raw_status IS 'The provider''s own status, as last reported.';
COMMENT ON COLUMN bridge_payments.next_check_at IS 'When the reconciler polls the provider for this payment next (non-terminal payments only).';

CREATE TRIGGER bridge_payments_updated_at BEFORE UPDATE ON bridge_payments
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- Terminal statuses are final, except succeeded -> reversed; the request
-- that makes a payment what it is never changes.
CREATE FUNCTION bridge_keep_final_status() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status IS DISTINCT FROM OLD.status
       AND OLD.status IN ('succeeded', 'failed', 'canceled', 'expired', 'reversed', 'rejected')
       AND NOT (OLD.status = 'succeeded' AND NEW.status = 'reversed') THEN
        RAISE EXCEPTION 'bridge payment % is in final status % and cannot become %', OLD.reference, OLD.status, NEW.status
            USING ERRCODE = 'check_violation', TABLE = 'bridge_payments', CONSTRAINT = 'bridge_payments_final_status';
    END IF;
    IF NEW.reference IS DISTINCT FROM OLD.reference OR NEW.kind IS DISTINCT FROM OLD.kind
       OR NEW.provider IS DISTINCT FROM OLD.provider OR NEW.request_hash IS DISTINCT FROM OLD.request_hash
       OR NEW.amount IS DISTINCT FROM OLD.amount OR NEW.currency IS DISTINCT FROM OLD.currency THEN
        RAISE EXCEPTION 'bridge payment %: the request columns cannot change', OLD.reference
            USING ERRCODE = 'check_violation', TABLE = 'bridge_payments', CONSTRAINT = 'bridge_payments_request_fixed';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER bridge_payments_final_status BEFORE UPDATE ON bridge_payments
    FOR EACH ROW EXECUTE FUNCTION bridge_keep_final_status();

-- The reconciler's queue: payments not yet final, by due time.
CREATE INDEX bridge_payments_due_idx ON bridge_payments (next_check_at)
    WHERE status NOT IN ('succeeded', 'failed', 'canceled', 'expired', 'reversed', 'rejected');

-- Every status change, with where it came from.
CREATE TABLE bridge_payment_events (
    id          bigserial PRIMARY KEY,
    payment_id  bigint      NOT NULL REFERENCES bridge_payments (id),
    status      text        NOT NULL,
    raw_status  text        NOT NULL DEFAULT '',
    source      text        NOT NULL,
    reason      text        NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT bridge_payment_events_source CHECK (source IN ('create', 'callback', 'reconcile'))
);
COMMENT ON TABLE bridge_payment_events IS 'Status history of bridge payments (one row per change).';
CREATE INDEX bridge_payment_events_payment_idx ON bridge_payment_events (payment_id, id);
