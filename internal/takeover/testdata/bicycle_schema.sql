-- gobicycle/bicycle's database schema (v0.10.2), written from the facts
-- sheet (BICYCLE.md §5) for tests: a database a bicycle deployment would
-- have, which the tests fill from a scenario on tonsim. Not bicycle's init
-- script: column types, nullability and defaults the sheet does not state
-- are the plainest reading of it.
CREATE SCHEMA payments;

CREATE TABLE payments.ton_wallets (
    subwallet_id bigint      NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    user_id      text        NOT NULL,
    type         text        NOT NULL,
    address      bytea       NOT NULL
);
CREATE INDEX ton_wallets_address_idx ON payments.ton_wallets (address);
CREATE INDEX ton_wallets_type_idx ON payments.ton_wallets (type);
CREATE INDEX ton_wallets_user_id_idx ON payments.ton_wallets (user_id);

CREATE TABLE payments.jetton_wallets (
    subwallet_id bigint      NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    user_id      text        NOT NULL,
    currency     text        NOT NULL,
    type         text        NOT NULL,
    address      bytea       NOT NULL UNIQUE
);

CREATE TABLE payments.external_incomes (
    lt              bigint      NOT NULL,
    utime           timestamptz NOT NULL,
    payer_workchain integer,
    deposit_address bytea       NOT NULL,
    payer_address   bytea,
    amount          numeric     NOT NULL,
    comment         text        NOT NULL DEFAULT '',
    tx_hash         bytea
);
CREATE INDEX external_incomes_deposit_address_idx ON payments.external_incomes (deposit_address);

CREATE TABLE payments.internal_incomes (
    lt              bigint      NOT NULL,
    utime           timestamptz NOT NULL,
    deposit_address bytea       NOT NULL,
    amount          numeric     NOT NULL,
    memo            uuid        NOT NULL,
    UNIQUE (memo, lt)
);

CREATE TABLE payments.withdrawal_requests (
    query_id       bigserial PRIMARY KEY,
    bounceable     boolean NOT NULL,
    processing     boolean NOT NULL DEFAULT false,
    processed      boolean NOT NULL DEFAULT false,
    is_internal    boolean NOT NULL DEFAULT false,
    amount         numeric NOT NULL,
    user_id        text    NOT NULL,
    user_query_id  text    NOT NULL,
    currency       text    NOT NULL,
    dest_address   bytea   NOT NULL,
    comment        text    NOT NULL DEFAULT '',
    binary_comment text    NOT NULL DEFAULT '',
    UNIQUE (user_id, user_query_id, is_internal)
);

CREATE TABLE payments.external_withdrawals (
    msg_uuid     uuid        NOT NULL,
    query_id     bigint      NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expired_at   timestamptz,
    processed_at timestamptz,
    processed_lt bigint,
    confirmed    boolean     NOT NULL DEFAULT false,
    failed       boolean     NOT NULL DEFAULT false,
    address      bytea       NOT NULL,
    tx_hash      bytea,
    UNIQUE (msg_uuid, address)
);

CREATE TABLE payments.internal_withdrawals (
    failed       boolean     NOT NULL DEFAULT false,
    since_lt     bigint      NOT NULL,
    sending_lt   bigint,
    finish_lt    bigint,
    finished_at  timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expired_at   timestamptz,
    amount       numeric     NOT NULL DEFAULT 0,
    from_address bytea       NOT NULL,
    memo         uuid        NOT NULL UNIQUE,
    UNIQUE (from_address, since_lt, memo)
);
CREATE INDEX internal_withdrawals_failed_from_idx ON payments.internal_withdrawals (failed, from_address);

CREATE TABLE payments.service_withdrawal_requests (
    memo          uuid        NOT NULL DEFAULT gen_random_uuid() UNIQUE,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expired_at    timestamptz,
    filled        boolean     NOT NULL DEFAULT false,
    processed     boolean     NOT NULL DEFAULT false,
    ton_amount    numeric     NOT NULL DEFAULT 0,
    jetton_amount numeric     NOT NULL DEFAULT 0,
    from_address  bytea       NOT NULL,
    jetton_master bytea
);

CREATE TABLE payments.block_data (
    saved_at  timestamptz NOT NULL DEFAULT now(),
    shard     bigint      NOT NULL,
    seqno     bigint      NOT NULL,
    gen_utime timestamptz NOT NULL,
    root_hash bytea       NOT NULL,
    file_hash bytea       NOT NULL,
    UNIQUE (shard, seqno)
);
