-- 0019_ledger: the double-entry ledger (internal/ledger), its
-- reconciliation reports, and a commit-safe cursor for GET /v1/events.
--
-- Every movement of money is one posting (ledger_postings) with two or
-- more entries (ledger_entries). An entry's amount is signed: positive is
-- a debit, negative a credit. The entries of one posting sum to zero per
-- currency: ledger.Post checks it before writing, and a trigger checks
-- every INSERT again, so nothing can leave an unbalanced posting behind,
-- whatever wrote it.
--
-- A posting's ref is the key of the event that caused it (e.g.
-- deposit:<tx hash>, withdrawal:<id>:paid, fee:<tx hash>): writing the same
-- event again (a scanner batch redone after a crash, the backfill run
-- twice) is a no-op.

CREATE TABLE ledger_postings (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ref         text NOT NULL CONSTRAINT ledger_postings_ref_format CHECK (ref ~ '^[\x21-\x7e]+$' AND char_length(ref) <= 200),
    kind        text NOT NULL CONSTRAINT ledger_postings_kind_format CHECK (kind ~ '^[a-z][a-z0-9_]{0,63}$'),
    tx_hash     bytes32,
    tx_lt       bigint CONSTRAINT ledger_postings_tx_lt_range CHECK (tx_lt IS NULL OR tx_lt >= 0),
    mc_seqno    bigint CONSTRAINT ledger_postings_mc_seqno_range CHECK (mc_seqno IS NULL OR mc_seqno >= 0),
    utime       bigint CONSTRAINT ledger_postings_utime_range CHECK (utime IS NULL OR utime >= 0),
    backfilled  boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT ledger_postings_ref_key UNIQUE (ref)
);
COMMENT ON TABLE ledger_postings IS 'One movement of money (internal/ledger): the event (ref, kind) and its chain reference. Append-only.';
COMMENT ON COLUMN ledger_postings.ref IS 'Key of the causing event (deposit:<tx>, withdrawal:<id>:paid, fee:<tx>, ...): one posting per event.';
COMMENT ON COLUMN ledger_postings.tx_hash IS 'Transaction that moved the money on chain; NULL for adjustments and imported rows without one.';
COMMENT ON COLUMN ledger_postings.mc_seqno IS 'Masterchain block whose processing recorded the posting (NULL: backfilled without one, adjustments).';
COMMENT ON COLUMN ledger_postings.backfilled IS 'Written by processor ledger-backfill from rows older than the ledger.';

CREATE TABLE ledger_entries (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    posting_id  bigint NOT NULL REFERENCES ledger_postings (id),
    account     text NOT NULL CONSTRAINT ledger_entries_account_format CHECK (account ~ '^[a-z_]+(:.+)?$' AND char_length(account) <= 300),
    currency    currency_code NOT NULL,
    amount      numeric(78, 0) NOT NULL CONSTRAINT ledger_entries_amount_nonzero CHECK (amount <> 0),
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ledger_entries_posting_idx ON ledger_entries (posting_id, currency);
CREATE INDEX ledger_entries_account_idx ON ledger_entries (account, currency);
CREATE INDEX ledger_entries_export_idx ON ledger_entries (created_at, id);
CREATE INDEX ledger_entries_export_currency_idx ON ledger_entries (currency, created_at, id);
COMMENT ON TABLE ledger_entries IS 'Lines of ledger postings: amount > 0 debits the account, < 0 credits it; each posting sums to 0 per currency. Append-only.';
COMMENT ON COLUMN ledger_entries.account IS 'hot, cold:<wc>:<hex>, deposit:<wc>:<hex>, user:<user id>, transit, fees, external (internal/ledger).';

-- Balanced per posting and currency: every INSERT into ledger_entries
-- must itself balance for each posting and currency it writes (ledger.Post
-- writes all lines of its postings in one statement). So whatever writes
-- entries, and in however many statements, every posting stays balanced.
-- One check per statement, over the statement's rows: a row-level
-- (deferred constraint) trigger would run one query per entry at commit,
-- which the scanner catching up on thousands of deposits per batch feels.
CREATE FUNCTION ledger_check_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad record;
BEGIN
    SELECT n.posting_id, n.currency, sum(n.amount) AS total INTO bad
    FROM new_rows n GROUP BY n.posting_id, n.currency HAVING sum(n.amount) <> 0 LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'ledger posting % does not balance in %: debits - credits = %', bad.posting_id, bad.currency, bad.total
            USING ERRCODE = 'check_violation', TABLE = 'ledger_entries', CONSTRAINT = 'ledger_entries_balanced';
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER ledger_entries_balanced AFTER INSERT ON ledger_entries REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_check_balanced();

CREATE FUNCTION ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % is not allowed', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege', TABLE = TG_TABLE_NAME;
END
$$;
CREATE TRIGGER ledger_postings_append_only BEFORE UPDATE OR DELETE ON ledger_postings FOR EACH ROW EXECUTE FUNCTION ledger_append_only();
CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries FOR EACH ROW EXECUTE FUNCTION ledger_append_only();

-- Reconciliation: each run compares the ledger with the chain at one
-- masterchain block; its differences above the dust are kept with it.
CREATE TABLE ledger_reconciliations (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    mc_seqno    bigint NOT NULL CONSTRAINT ledger_reconciliations_mc_seqno_range CHECK (mc_seqno >= 0),
    accounts    integer NOT NULL,
    dust        numeric(78, 0) NOT NULL,
    differences jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE ledger_reconciliations IS 'Runs of the reconciliation job: the block compared at and the wallets whose ledger balance differs from the chain by more than the dust.';

-- Events API cursor. outbox ids are taken when a row is inserted, not when
-- its transaction commits, so a reader going by id could pass an id whose
-- transaction commits later and miss it for good. Each row records its
-- transaction id instead: GET /v1/events serves rows in (xid, id) order
-- and only from transactions older than the oldest still running
-- (pg_snapshot_xmin), so no row can ever appear before a served cursor.
ALTER TABLE outbox ADD COLUMN xid xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX outbox_xid_idx ON outbox (xid, id);
COMMENT ON COLUMN outbox.xid IS 'Transaction that enqueued the event: the events API''s order and cursor (internal/ledger).';
