-- 0001_init: the processor's schema.
--
-- Conventions
-- * Amounts are base_units: NUMERIC(78,0) limited to 0..2^120-1 (VarUInteger 16).
-- * Addresses are raw: a <name>_workchain column plus a 32-byte <name> or
--   <name>_address column. Friendly forms are computed for output only.
-- * Hashes (transactions, messages, blocks) are 32 raw bytes.
-- * Every state column is text with a CHECK listing its values; final states
--   are enforced by the keep_final_state trigger, and the fields that make a
--   signed message or a request what it is cannot be updated (keep_columns).
-- * Chain times (utime, gen_utime, created_at_chain, valid_until) are unix
--   seconds as bigint, the unit TON and the API use; wall-clock bookkeeping
--   is timestamptz.

-- Domains -------------------------------------------------------------------

CREATE DOMAIN base_units AS numeric(78, 0)
    CONSTRAINT base_units_range CHECK (VALUE >= 0 AND VALUE <= 1329227995784915872903807060280344575);
COMMENT ON DOMAIN base_units IS 'Amount in base units (nanoton, jetton units): 0..2^120-1.';

CREATE DOMAIN bytes32 AS bytea
    CONSTRAINT bytes32_length CHECK (octet_length(VALUE) = 32);
COMMENT ON DOMAIN bytes32 IS 'Account id (address without workchain) or a 256-bit hash.';

CREATE DOMAIN workchain_id AS integer
    CONSTRAINT workchain_id_range CHECK (VALUE BETWEEN -128 AND 127);
COMMENT ON DOMAIN workchain_id IS 'Workchain of a standard address: 0 basechain, -1 masterchain.';

CREATE DOMAIN currency_code AS text
    CONSTRAINT currency_code_format CHECK (VALUE ~ '^[A-Z0-9]{1,12}$');
COMMENT ON DOMAIN currency_code IS 'TON or a configured jetton symbol.';

-- Shared trigger functions --------------------------------------------------

CREATE FUNCTION set_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION set_updated_at() IS 'Keeps updated_at current without relying on every UPDATE statement.';

-- Arguments: the final states of the table. Leaving one would re-open a
-- finished payment (processed -> pending pays twice), so it is refused.
CREATE FUNCTION keep_final_state() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.state = ANY (TG_ARGV) AND NEW.state IS DISTINCT FROM OLD.state THEN
        RAISE EXCEPTION '% % is in final state % and cannot become %', TG_TABLE_NAME, OLD.id, OLD.state, NEW.state
            USING ERRCODE = 'check_violation', TABLE = TG_TABLE_NAME, CONSTRAINT = TG_TABLE_NAME || '_final_state';
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION keep_final_state() IS 'BEFORE UPDATE trigger: arguments are final states that a row may not leave.';

-- Arguments: column names that must never change after INSERT.
CREATE FUNCTION keep_columns() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    old_row jsonb := to_jsonb(OLD);
    new_row jsonb := to_jsonb(NEW);
    col text;
BEGIN
    FOREACH col IN ARRAY TG_ARGV LOOP
        IF new_row -> col IS DISTINCT FROM old_row -> col THEN
            RAISE EXCEPTION '%.% cannot change once written', TG_TABLE_NAME, col
                USING ERRCODE = 'check_violation', TABLE = TG_TABLE_NAME, COLUMN = col,
                      CONSTRAINT = TG_TABLE_NAME || '_immutable';
        END IF;
    END LOOP;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION keep_columns() IS 'BEFORE UPDATE trigger: arguments are columns that are immutable.';

-- Deposit wallets -----------------------------------------------------------

-- Owner address i is derived from (deposit key, subwallet id i); ids come
-- from this sequence so concurrent requests never share one. A value taken
-- and not used (rolled back) is simply skipped.
CREATE SEQUENCE deposit_subwallet_id_seq AS bigint MINVALUE 1 MAXVALUE 4294967295 NO CYCLE;
COMMENT ON SEQUENCE deposit_subwallet_id_seq IS 'Allocates deposit_wallets.subwallet_id: nextval first, derive the address, then insert.';

CREATE TABLE deposit_wallets (
    id                      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id                 text NOT NULL CONSTRAINT deposit_wallets_user_id_length CHECK (char_length(user_id) BETWEEN 1 AND 256),
    currency                currency_code NOT NULL,
    subwallet_id            bigint NOT NULL CONSTRAINT deposit_wallets_subwallet_id_range CHECK (subwallet_id BETWEEN 0 AND 4294967295),
    workchain               workchain_id NOT NULL,
    address                 bytes32 NOT NULL,
    jetton_master_workchain workchain_id,
    jetton_master           bytes32,
    jetton_wallet_workchain workchain_id,
    jetton_wallet           bytes32,
    created_at              timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT deposit_wallets_subwallet_id_key UNIQUE (subwallet_id),
    -- Globally unique, not just per currency: one subwallet id gives one
    -- address, so a repeat means a derivation bug that would mix users' funds.
    CONSTRAINT deposit_wallets_address_key UNIQUE (workchain, address),
    CONSTRAINT deposit_wallets_jetton_wallet_key UNIQUE (jetton_wallet_workchain, jetton_wallet),
    -- Target of composite foreign keys that pin a row's currency to its wallet's.
    CONSTRAINT deposit_wallets_id_currency_key UNIQUE (id, currency),
    -- Jetton deposits are watched through their jetton wallet from the first
    -- moment, so it is known before the address is handed out.
    CONSTRAINT deposit_wallets_jetton_fields CHECK (
        num_nulls(jetton_master_workchain, jetton_master, jetton_wallet_workchain, jetton_wallet)
            = CASE WHEN currency = 'TON' THEN 4 ELSE 0 END)
);
CREATE INDEX deposit_wallets_user_idx ON deposit_wallets (user_id, currency, id);
CREATE TRIGGER deposit_wallets_immutable BEFORE UPDATE ON deposit_wallets FOR EACH ROW
    EXECUTE FUNCTION keep_columns('user_id', 'currency', 'subwallet_id', 'workchain', 'address',
                                  'jetton_master_workchain', 'jetton_master', 'jetton_wallet_workchain', 'jetton_wallet');

COMMENT ON TABLE deposit_wallets IS 'Deposit addresses handed to users, one row per (user request, currency). Rows are never changed.';
COMMENT ON COLUMN deposit_wallets.subwallet_id IS 'Wallet subwallet id; with the deposit key it determines the address (recovery re-derives it).';
COMMENT ON COLUMN deposit_wallets.address IS 'Owner wallet account id: the address users send TON (or jettons) to.';
COMMENT ON COLUMN deposit_wallets.jetton_master IS 'Jetton deposits: the master the deposit belongs to (pinned even if configuration changes).';
COMMENT ON COLUMN deposit_wallets.jetton_wallet IS 'Jetton deposits: get_wallet_address(master, owner), the contract whose transfers are watched.';

-- Incomes -------------------------------------------------------------------

CREATE TABLE incomes (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    deposit_wallet_id bigint NOT NULL,
    currency          currency_code NOT NULL,
    amount            base_units NOT NULL CONSTRAINT incomes_amount_positive CHECK (amount > 0),
    source_workchain  workchain_id,
    source_address    bytes32,
    comment           text,
    binary_comment    bytea,
    tx_hash           bytes32 NOT NULL,
    tx_lt             bigint NOT NULL CONSTRAINT incomes_tx_lt_range CHECK (tx_lt >= 0),
    utime             bigint NOT NULL CONSTRAINT incomes_utime_range CHECK (utime >= 0),
    mc_seqno          bigint NOT NULL CONSTRAINT incomes_mc_seqno_range CHECK (mc_seqno >= 0),
    created_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT incomes_deposit_wallet_fkey FOREIGN KEY (deposit_wallet_id, currency) REFERENCES deposit_wallets (id, currency),
    -- One crediting transaction credits once: re-scanning a block hits this
    -- key (INSERT ... ON CONFLICT DO NOTHING) instead of crediting again.
    CONSTRAINT incomes_tx_hash_key UNIQUE (tx_hash),
    CONSTRAINT incomes_source_pair CHECK ((source_workchain IS NULL) = (source_address IS NULL))
);
CREATE INDEX incomes_history_idx ON incomes (deposit_wallet_id, utime, id);

COMMENT ON TABLE incomes IS 'Credited deposits, one per crediting transaction. Written by the scanner in the block''s transaction.';
COMMENT ON COLUMN incomes.source_address IS 'Sender (for jettons the sender owner from the notification); NULL when it cannot be determined.';
COMMENT ON COLUMN incomes.comment IS 'Text comment when it is valid UTF-8 without NUL (PostgreSQL text cannot hold others).';
COMMENT ON COLUMN incomes.binary_comment IS 'Raw comment or payload bytes when they are not representable as comment.';
COMMENT ON COLUMN incomes.tx_hash IS 'The transaction that credited the deposit; what /v1/deposit/income looks up.';
COMMENT ON COLUMN incomes.utime IS 'Transaction time (unix seconds), the API''s "time".';
COMMENT ON COLUMN incomes.mc_seqno IS 'Masterchain block whose processing recorded the income (audit, redo).';

-- Scanner cursor ------------------------------------------------------------

CREATE TABLE scanner_cursor (
    singleton  boolean PRIMARY KEY DEFAULT true CONSTRAINT scanner_cursor_singleton CHECK (singleton),
    mc_seqno   bigint NOT NULL CONSTRAINT scanner_cursor_seqno_range CHECK (mc_seqno BETWEEN 0 AND 4294967295),
    root_hash  bytes32 NOT NULL,
    file_hash  bytes32 NOT NULL,
    gen_utime  bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE scanner_cursor IS 'Last fully processed masterchain block (one row). Advanced in the same transaction as the block''s effects.';
COMMENT ON COLUMN scanner_cursor.gen_utime IS 'Block generation time (unix seconds): the sync flag and last_block_gen_utime.';

CREATE TABLE scanner_shard_tops (
    workchain workchain_id NOT NULL,
    shard     bigint NOT NULL,
    seqno     bigint NOT NULL CONSTRAINT scanner_shard_tops_seqno_range CHECK (seqno BETWEEN 0 AND 4294967295),
    root_hash bytes32 NOT NULL,
    file_hash bytes32 NOT NULL,
    PRIMARY KEY (workchain, shard)
);
COMMENT ON TABLE scanner_shard_tops IS 'Shard blocks referenced by the cursor''s masterchain block; the next block''s shards are walked back to these. Replaced with the cursor.';
COMMENT ON COLUMN scanner_shard_tops.shard IS 'Shard prefix (uint64) stored as its int64 bit pattern, as tonutils-go BlockIDExt.Shard.';

-- Hot wallet batches (highload wallet v3) -----------------------------------

-- Highload v3 query ids are shift:13 | bit_number:10 with bit_number
-- 0..1022 and (8191, 1022) reserved: 8192 * 1023 - 1 = 8380415 usable ids.
-- Batches take a never-repeating sequence number and use id number
-- seq mod 8380415, so an id comes back only after 8.38 million batches.
-- The exclusion constraint on hot_batches makes that a guarantee.
CREATE SEQUENCE hot_query_seq AS bigint MINVALUE 0 START WITH 0 NO CYCLE;
COMMENT ON SEQUENCE hot_query_seq IS 'Allocates hot_batches.query_seq: SELECT s, highload_query_id(s) FROM nextval(''hot_query_seq'') s, sign, then insert.';

CREATE FUNCTION highload_query_id(seq bigint) RETURNS integer
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT (((seq % 8380415) / 1023) * 1024 + (seq % 8380415) % 1023)::integer $$;
COMMENT ON FUNCTION highload_query_id(bigint) IS 'Highload v3 query_id (shift << 10 | bit_number) for a hot_query_seq value; never a reserved or invalid id.';

CREATE TABLE hot_batches (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    query_seq        bigint NOT NULL CONSTRAINT hot_batches_query_seq_range CHECK (query_seq >= 0),
    query_id         integer NOT NULL GENERATED ALWAYS AS (highload_query_id(query_seq)) STORED,
    created_at_chain bigint NOT NULL CONSTRAINT hot_batches_created_at_chain_range CHECK (created_at_chain > 0),
    timeout_seconds  integer NOT NULL CONSTRAINT hot_batches_timeout_range CHECK (timeout_seconds BETWEEN 6 AND 4194303),
    expires_at_chain bigint NOT NULL GENERATED ALWAYS AS (created_at_chain + timeout_seconds) STORED,
    signed_message   bytea NOT NULL,
    message_hash     bytes32 NOT NULL,
    state            text NOT NULL DEFAULT 'sent' CONSTRAINT hot_batches_state_valid CHECK (state IN ('sent', 'confirmed', 'expired')),
    send_attempts    integer NOT NULL DEFAULT 0 CONSTRAINT hot_batches_send_attempts_range CHECK (send_attempts >= 0),
    first_sent_at    timestamptz,
    last_sent_at     timestamptz,
    tx_hash          bytes32,
    tx_lt            bigint,
    confirmed_at     timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT hot_batches_query_seq_key UNIQUE (query_seq),
    CONSTRAINT hot_batches_message_hash_key UNIQUE (message_hash),
    CONSTRAINT hot_batches_confirmed_fields CHECK ((state = 'confirmed') = (tx_hash IS NOT NULL AND tx_lt IS NOT NULL)),
    -- The wallet remembers a processed query id for up to 2 x timeout after
    -- it ran, and it can run up to timeout after created_at: two uses of
    -- one id less than 3 x timeout apart could collide (the second would be
    -- refused as a replay). Range overlap on a one-point range is equality,
    -- so this needs no btree_gist.
    CONSTRAINT hot_batches_query_id_window EXCLUDE USING gist (
        int4range(query_id, query_id, '[]') WITH &&,
        int8range(created_at_chain, created_at_chain + 3 * timeout_seconds::bigint) WITH &&)
);
CREATE INDEX hot_batches_in_flight_idx ON hot_batches (expires_at_chain) WHERE state = 'sent';
CREATE TRIGGER hot_batches_updated_at BEFORE UPDATE ON hot_batches FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER hot_batches_final_state BEFORE UPDATE OF state ON hot_batches FOR EACH ROW
    EXECUTE FUNCTION keep_final_state('confirmed', 'expired');
CREATE TRIGGER hot_batches_immutable BEFORE UPDATE ON hot_batches FOR EACH ROW
    EXECUTE FUNCTION keep_columns('query_seq', 'created_at_chain', 'timeout_seconds', 'signed_message', 'message_hash');

COMMENT ON TABLE hot_batches IS 'Signed external messages of the hot wallet. Written with their items before the first send; re-sent byte for byte until confirmed or provably expired.';
COMMENT ON COLUMN hot_batches.query_id IS 'Highload v3 query_id = shift << 10 | bit_number, derived from query_seq.';
COMMENT ON COLUMN hot_batches.created_at_chain IS 'created_at signed into the message (unix seconds).';
COMMENT ON COLUMN hot_batches.timeout_seconds IS 'Wallet timeout signed into the message (HIGHLOAD_TIMEOUT).';
COMMENT ON COLUMN hot_batches.expires_at_chain IS 'After this chain time the message can no longer execute; expired once the scanner has passed it.';
COMMENT ON COLUMN hot_batches.signed_message IS 'External message BoC exactly as sent.';
COMMENT ON COLUMN hot_batches.message_hash IS 'Hash of the external message, to recognise the confirming transaction.';
COMMENT ON COLUMN hot_batches.state IS 'sent: in flight (re-sent until settled); confirmed: executed on chain; expired: can never execute.';
COMMENT ON COLUMN hot_batches.tx_hash IS 'Hot wallet transaction that executed the message.';

-- Deposit wallet messages (seqno wallets) ------------------------------------

CREATE TABLE deposit_wallet_messages (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    deposit_wallet_id bigint NOT NULL REFERENCES deposit_wallets (id),
    seqno             bigint NOT NULL CONSTRAINT deposit_wallet_messages_seqno_range CHECK (seqno BETWEEN 0 AND 4294967295),
    valid_until       bigint NOT NULL CONSTRAINT deposit_wallet_messages_valid_until_range CHECK (valid_until > 0),
    signed_message    bytea NOT NULL,
    message_hash      bytes32 NOT NULL,
    state             text NOT NULL DEFAULT 'sent' CONSTRAINT deposit_wallet_messages_state_valid CHECK (state IN ('sent', 'confirmed', 'expired')),
    send_attempts     integer NOT NULL DEFAULT 0 CONSTRAINT deposit_wallet_messages_send_attempts_range CHECK (send_attempts >= 0),
    first_sent_at     timestamptz,
    last_sent_at      timestamptz,
    tx_hash           bytes32,
    tx_lt             bigint,
    confirmed_at      timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT deposit_wallet_messages_message_hash_key UNIQUE (message_hash),
    CONSTRAINT deposit_wallet_messages_confirmed_fields CHECK ((state = 'confirmed') = (tx_hash IS NOT NULL AND tx_lt IS NOT NULL))
);
-- A seqno wallet accepts one message per seqno: two in flight would fight.
-- Not unique on (wallet, seqno): a wallet destroyed by a mode 128+32 sweep
-- starts again at seqno 0.
CREATE UNIQUE INDEX deposit_wallet_messages_one_in_flight_key ON deposit_wallet_messages (deposit_wallet_id) WHERE state = 'sent';
CREATE INDEX deposit_wallet_messages_in_flight_idx ON deposit_wallet_messages (valid_until) WHERE state = 'sent';
CREATE TRIGGER deposit_wallet_messages_updated_at BEFORE UPDATE ON deposit_wallet_messages FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER deposit_wallet_messages_final_state BEFORE UPDATE OF state ON deposit_wallet_messages FOR EACH ROW
    EXECUTE FUNCTION keep_final_state('confirmed', 'expired');
CREATE TRIGGER deposit_wallet_messages_immutable BEFORE UPDATE ON deposit_wallet_messages FOR EACH ROW
    EXECUTE FUNCTION keep_columns('deposit_wallet_id', 'seqno', 'valid_until', 'signed_message', 'message_hash');

COMMENT ON TABLE deposit_wallet_messages IS 'Signed external messages of deposit wallets (sweeps, service withdrawals). Same life cycle as hot_batches, replay protection by seqno and valid_until.';

-- Withdrawals ---------------------------------------------------------------

CREATE TABLE withdrawals (
    id                    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id               text NOT NULL CONSTRAINT withdrawals_user_id_length CHECK (char_length(user_id) BETWEEN 1 AND 256),
    query_id              text NOT NULL CONSTRAINT withdrawals_query_id_length CHECK (char_length(query_id) BETWEEN 1 AND 256),
    currency              currency_code NOT NULL,
    amount                base_units NOT NULL CONSTRAINT withdrawals_amount_positive CHECK (amount > 0),
    destination_workchain workchain_id NOT NULL,
    destination_address   bytes32 NOT NULL,
    bounceable            boolean NOT NULL,
    comment               text,
    binary_comment        bit varying,
    request_hash          bytes32 NOT NULL,
    state                 text NOT NULL DEFAULT 'pending' CONSTRAINT withdrawals_state_valid CHECK (state IN ('pending', 'processing', 'processed', 'failed')),
    batch_id              bigint REFERENCES hot_batches (id),
    tx_hash               bytes32,
    fail_reason           text CONSTRAINT withdrawals_fail_reason_not_empty CHECK (fail_reason <> ''),
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT withdrawals_user_query_key UNIQUE (user_id, query_id),
    CONSTRAINT withdrawals_one_comment CHECK (comment IS NULL OR binary_comment IS NULL),
    CONSTRAINT withdrawals_state_fields CHECK (CASE state
        WHEN 'pending'    THEN batch_id IS NULL AND tx_hash IS NULL AND fail_reason IS NULL
        WHEN 'processing' THEN batch_id IS NOT NULL AND fail_reason IS NULL
        WHEN 'processed'  THEN batch_id IS NOT NULL AND tx_hash IS NOT NULL AND fail_reason IS NULL
        WHEN 'failed'     THEN fail_reason IS NOT NULL
    END)
);
-- Serves the queue (pending by currency in id order) and the balance
-- endpoint's pending/processing totals.
CREATE INDEX withdrawals_open_idx ON withdrawals (currency, state, id) INCLUDE (amount) WHERE state IN ('pending', 'processing');
CREATE INDEX withdrawals_batch_idx ON withdrawals (batch_id) WHERE batch_id IS NOT NULL;
CREATE TRIGGER withdrawals_updated_at BEFORE UPDATE ON withdrawals FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER withdrawals_final_state BEFORE UPDATE OF state ON withdrawals FOR EACH ROW
    EXECUTE FUNCTION keep_final_state('processed', 'failed');
CREATE TRIGGER withdrawals_immutable BEFORE UPDATE ON withdrawals FOR EACH ROW
    EXECUTE FUNCTION keep_columns('user_id', 'query_id', 'currency', 'amount', 'destination_workchain', 'destination_address',
                                  'bounceable', 'comment', 'binary_comment', 'request_hash');

COMMENT ON TABLE withdrawals IS 'Withdrawal requests (POST /v1/withdrawal/send); id is the API''s ID.';
COMMENT ON COLUMN withdrawals.query_id IS 'Merchant''s idempotency key, unique per user_id (not the highload query id).';
COMMENT ON COLUMN withdrawals.bounceable IS 'Bounce flag of the outgoing message, from the destination address form.';
COMMENT ON COLUMN withdrawals.binary_comment IS 'Binary comment as a bit string: the API''s hex form may end with a completion tag (9fe7_), so it need not be whole bytes.';
COMMENT ON COLUMN withdrawals.request_hash IS 'Hash of the canonical request body: the same (user_id, query_id) with another body is a conflict.';
COMMENT ON COLUMN withdrawals.state IS 'pending -> processing -> processed | failed; processing -> pending only when its batch expired.';
COMMENT ON COLUMN withdrawals.batch_id IS 'Current (or last) hot batch; the full history is in hot_batch_items.';
COMMENT ON COLUMN withdrawals.tx_hash IS 'Transaction reported by the status endpoint once processed.';

-- Sweeps: deposit -> hot wallet -----------------------------------------------

CREATE TABLE sweeps (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    deposit_wallet_id bigint NOT NULL,
    currency          currency_code NOT NULL,
    amount            base_units NOT NULL CONSTRAINT sweeps_amount_positive CHECK (amount > 0),
    state             text NOT NULL DEFAULT 'pending' CONSTRAINT sweeps_state_valid CHECK (state IN ('pending', 'topping_up', 'sent', 'confirmed', 'failed')),
    wallet_message_id bigint REFERENCES deposit_wallet_messages (id),
    received_amount   base_units,
    tx_hash           bytes32,
    fail_reason       text CONSTRAINT sweeps_fail_reason_not_empty CHECK (fail_reason <> ''),
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT sweeps_deposit_wallet_fkey FOREIGN KEY (deposit_wallet_id, currency) REFERENCES deposit_wallets (id, currency),
    CONSTRAINT sweeps_state_fields CHECK (CASE state
        WHEN 'confirmed' THEN received_amount IS NOT NULL AND tx_hash IS NOT NULL
        WHEN 'failed'    THEN fail_reason IS NOT NULL
        ELSE true
    END)
);
-- One open sweep per deposit: two would race for the same seqno and balance.
CREATE UNIQUE INDEX sweeps_one_open_key ON sweeps (deposit_wallet_id) WHERE state IN ('pending', 'topping_up', 'sent');
-- Income totals when INCOME_COUNTING_SIDE=hot_wallet.
CREATE INDEX sweeps_confirmed_idx ON sweeps (deposit_wallet_id) INCLUDE (received_amount) WHERE state = 'confirmed';
CREATE TRIGGER sweeps_updated_at BEFORE UPDATE ON sweeps FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER sweeps_final_state BEFORE UPDATE OF state ON sweeps FOR EACH ROW
    EXECUTE FUNCTION keep_final_state('confirmed', 'failed');

COMMENT ON TABLE sweeps IS 'Moving a deposit''s balance to the hot wallet. Jettons first get gas from the hot wallet (a hot_batch_items row of kind sweep_topup).';
COMMENT ON COLUMN sweeps.amount IS 'Deposit balance when the sweep was decided.';
COMMENT ON COLUMN sweeps.state IS 'pending -> [topping_up ->] sent -> confirmed | failed; back to pending when a message expired.';
COMMENT ON COLUMN sweeps.wallet_message_id IS 'The deposit wallet''s current transfer message.';
COMMENT ON COLUMN sweeps.received_amount IS 'What reached the hot wallet: the income when INCOME_COUNTING_SIDE=hot_wallet.';
COMMENT ON COLUMN sweeps.tx_hash IS 'Hot wallet (or its jetton wallet) transaction that received the funds.';

-- Service withdrawals ---------------------------------------------------------

CREATE TABLE service_withdrawals (
    id                      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    memo                    uuid NOT NULL,
    kind                    text NOT NULL CONSTRAINT service_withdrawals_kind_valid CHECK (kind IN ('ton', 'jetton')),
    from_workchain          workchain_id NOT NULL,
    from_address            bytes32 NOT NULL,
    jetton_master_workchain workchain_id,
    jetton_master           bytes32,
    jetton_wallet_workchain workchain_id,
    jetton_wallet           bytes32,
    state                   text NOT NULL DEFAULT 'pending' CONSTRAINT service_withdrawals_state_valid CHECK (state IN ('pending', 'processing', 'processed', 'failed')),
    batch_id                bigint REFERENCES hot_batches (id),
    wallet_message_id       bigint REFERENCES deposit_wallet_messages (id),
    amount                  base_units,
    tx_hash                 bytes32,
    fail_reason             text CONSTRAINT service_withdrawals_fail_reason_not_empty CHECK (fail_reason <> ''),
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT service_withdrawals_memo_key UNIQUE (memo),
    CONSTRAINT service_withdrawals_jetton_fields CHECK (
        num_nulls(jetton_master_workchain, jetton_master, jetton_wallet_workchain, jetton_wallet)
            = CASE WHEN kind = 'ton' THEN 4 ELSE 0 END),
    CONSTRAINT service_withdrawals_one_sender CHECK (batch_id IS NULL OR wallet_message_id IS NULL),
    CONSTRAINT service_withdrawals_state_fields CHECK (CASE state
        WHEN 'processed' THEN tx_hash IS NOT NULL
        WHEN 'failed'    THEN fail_reason IS NOT NULL
        ELSE true
    END)
);
CREATE TRIGGER service_withdrawals_updated_at BEFORE UPDATE ON service_withdrawals FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER service_withdrawals_final_state BEFORE UPDATE OF state ON service_withdrawals FOR EACH ROW
    EXECUTE FUNCTION keep_final_state('processed', 'failed');

COMMENT ON TABLE service_withdrawals IS 'Operator requests to move everything from one of our wallets to the hot wallet (POST /v1/withdrawal/service/*).';
COMMENT ON COLUMN service_withdrawals.memo IS 'Returned by the API and used as the transfer comment, so the move is traceable.';
COMMENT ON COLUMN service_withdrawals.from_address IS 'Owner that sends: a deposit wallet (deposit_wallet_messages) or the hot wallet (hot_batches).';
COMMENT ON COLUMN service_withdrawals.jetton_wallet IS 'Jetton kind: get_wallet_address(master, owner), the wallet emptied.';
COMMENT ON COLUMN service_withdrawals.amount IS 'Amount moved, once known.';

-- Cold wallet transfers -------------------------------------------------------

CREATE TABLE cold_transfers (
    id                    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    currency              currency_code NOT NULL DEFAULT 'TON',
    amount                base_units NOT NULL CONSTRAINT cold_transfers_amount_positive CHECK (amount > 0),
    destination_workchain workchain_id NOT NULL,
    destination_address   bytes32 NOT NULL,
    state                 text NOT NULL DEFAULT 'pending' CONSTRAINT cold_transfers_state_valid CHECK (state IN ('pending', 'processing', 'processed', 'failed')),
    batch_id              bigint REFERENCES hot_batches (id),
    tx_hash               bytes32,
    fail_reason           text CONSTRAINT cold_transfers_fail_reason_not_empty CHECK (fail_reason <> ''),
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT cold_transfers_state_fields CHECK (CASE state
        WHEN 'processed' THEN batch_id IS NOT NULL AND tx_hash IS NOT NULL
        WHEN 'failed'    THEN fail_reason IS NOT NULL
        ELSE true
    END)
);
-- One open transfer per currency: the excess is computed from the balance,
-- two at once would both send it.
CREATE UNIQUE INDEX cold_transfers_one_open_key ON cold_transfers (currency) WHERE state IN ('pending', 'processing');
CREATE TRIGGER cold_transfers_updated_at BEFORE UPDATE ON cold_transfers FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER cold_transfers_final_state BEFORE UPDATE OF state ON cold_transfers FOR EACH ROW
    EXECUTE FUNCTION keep_final_state('processed', 'failed');
CREATE TRIGGER cold_transfers_immutable BEFORE UPDATE ON cold_transfers FOR EACH ROW
    EXECUTE FUNCTION keep_columns('currency', 'amount', 'destination_workchain', 'destination_address');

COMMENT ON TABLE cold_transfers IS 'Hot wallet excess above HOT_WALLET_MAX_BALANCE sent to COLD_WALLET, down to HOT_WALLET_RESIDUAL.';

-- Hot batch items ---------------------------------------------------------------

CREATE TABLE hot_batch_items (
    batch_id              bigint NOT NULL REFERENCES hot_batches (id),
    msg_index             integer NOT NULL CONSTRAINT hot_batch_items_msg_index_range CHECK (msg_index BETWEEN 0 AND 64515),
    kind                  text NOT NULL CONSTRAINT hot_batch_items_kind_valid CHECK (kind IN ('withdrawal', 'sweep_topup', 'service', 'cold')),
    withdrawal_id         bigint REFERENCES withdrawals (id),
    sweep_id              bigint REFERENCES sweeps (id),
    service_withdrawal_id bigint REFERENCES service_withdrawals (id),
    cold_transfer_id      bigint REFERENCES cold_transfers (id),
    live                  boolean NOT NULL DEFAULT true,
    PRIMARY KEY (batch_id, msg_index),
    CONSTRAINT hot_batch_items_one_target CHECK (
        num_nonnulls(withdrawal_id, sweep_id, service_withdrawal_id, cold_transfer_id) = 1
        AND CASE kind
            WHEN 'withdrawal'  THEN withdrawal_id IS NOT NULL
            WHEN 'sweep_topup' THEN sweep_id IS NOT NULL
            WHEN 'service'     THEN service_withdrawal_id IS NOT NULL
            WHEN 'cold'        THEN cold_transfer_id IS NOT NULL
        END)
);
-- The exactly-once guarantee on the hot wallet side: a request is in at
-- most one batch that has executed or still may execute. Only once a batch
-- is expired (provably dead) do its items stop being live, and only then
-- can the request go into a new batch. Unique indexes hold under any
-- isolation level and any concurrency.
CREATE UNIQUE INDEX hot_batch_items_live_withdrawal_key ON hot_batch_items (withdrawal_id) WHERE live;
CREATE UNIQUE INDEX hot_batch_items_live_sweep_key ON hot_batch_items (sweep_id) WHERE live;
CREATE UNIQUE INDEX hot_batch_items_live_service_key ON hot_batch_items (service_withdrawal_id) WHERE live;
CREATE UNIQUE INDEX hot_batch_items_live_cold_key ON hot_batch_items (cold_transfer_id) WHERE live;
CREATE INDEX hot_batch_items_withdrawal_idx ON hot_batch_items (withdrawal_id) WHERE withdrawal_id IS NOT NULL;

-- live is derived from the batch state; the application never sets it.
CREATE FUNCTION hot_batch_items_set_live() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- A missing batch is left to the foreign key to report.
    NEW.live := coalesce((SELECT b.state <> 'expired' FROM hot_batches b WHERE b.id = NEW.batch_id), true);
    RETURN NEW;
END
$$;
CREATE TRIGGER hot_batch_items_set_live BEFORE INSERT OR UPDATE ON hot_batch_items FOR EACH ROW
    EXECUTE FUNCTION hot_batch_items_set_live();

CREATE FUNCTION hot_batches_release_items() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE hot_batch_items SET live = false WHERE batch_id = NEW.id;
    RETURN NULL;
END
$$;
CREATE TRIGGER hot_batches_release_items AFTER UPDATE OF state ON hot_batches FOR EACH ROW
    WHEN (NEW.state = 'expired' AND OLD.state <> 'expired')
    EXECUTE FUNCTION hot_batches_release_items();

COMMENT ON TABLE hot_batch_items IS 'Which request each message of a hot batch serves, and its position in the batch.';
COMMENT ON COLUMN hot_batch_items.msg_index IS 'Position in the batch''s message list (highload v3: up to 254 x 254 messages).';
COMMENT ON COLUMN hot_batch_items.live IS 'False once the batch expired. Maintained by triggers; a request has at most one live item.';

-- Outbox --------------------------------------------------------------------------

CREATE TABLE outbox (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    topic           text NOT NULL CONSTRAINT outbox_topic_not_empty CHECK (topic <> ''),
    payload         jsonb NOT NULL,
    dedup_key       text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    attempts        integer NOT NULL DEFAULT 0 CONSTRAINT outbox_attempts_range CHECK (attempts >= 0),
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz,
    last_error      text,
    CONSTRAINT outbox_dedup_key UNIQUE (dedup_key)
);
CREATE INDEX outbox_due_idx ON outbox (next_attempt_at, id) WHERE delivered_at IS NULL;

COMMENT ON TABLE outbox IS 'Notifications to the merchant backend, written in the same transaction as the change they report; delivered at least once, in id order per topic.';
COMMENT ON COLUMN outbox.dedup_key IS 'Optional business key (e.g. income:<tx_hash>) so an event is enqueued once.';
COMMENT ON COLUMN outbox.next_attempt_at IS 'Not before this time (retry backoff).';

-- Hot wallet's jetton wallets ---------------------------------------------------------

CREATE TABLE hot_jetton_wallets (
    owner_workchain         workchain_id NOT NULL,
    owner_address           bytes32 NOT NULL,
    jetton_master_workchain workchain_id NOT NULL,
    jetton_master           bytes32 NOT NULL,
    currency                currency_code NOT NULL,
    jetton_wallet_workchain workchain_id NOT NULL,
    jetton_wallet           bytes32 NOT NULL,
    created_at              timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (owner_workchain, owner_address, jetton_master_workchain, jetton_master),
    CONSTRAINT hot_jetton_wallets_jetton_wallet_key UNIQUE (jetton_wallet_workchain, jetton_wallet)
);
COMMENT ON TABLE hot_jetton_wallets IS 'get_wallet_address(master, hot wallet) per jetton, cached so the scanner can watch them without a chain call.';
