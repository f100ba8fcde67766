-- 0025_incomes_user_history: a page of a user's deposit history is one
-- range read of an index, however many deposit addresses and incomes the
-- user has.
--
-- Until now a page joined the user's deposit wallets with
-- incomes_history_idx (deposit_wallet_id, utime, id): one range per
-- wallet, so PostgreSQL read every income of every one of the user's
-- wallets and sorted them all to return 100 (issue 17: 1,000 incomes over
-- 10 wallets, 5-6 ms per page; a user with 100,000 incomes would read
-- 100,000 rows per page). Incomes now carry their wallet's user, kept
-- equal to it by the foreign key (deposit_wallets.user_id is immutable),
-- and incomes_user_history_idx orders a user's incomes of one currency as
-- the history does: a page reads offset + limit entries.
ALTER TABLE deposit_wallets
    ADD CONSTRAINT deposit_wallets_id_user_currency_key UNIQUE (id, user_id, currency);

ALTER TABLE incomes ADD COLUMN user_id text;
UPDATE incomes i SET user_id = d.user_id FROM deposit_wallets d WHERE d.id = i.deposit_wallet_id;
ALTER TABLE incomes ALTER COLUMN user_id SET NOT NULL;

-- The wider key replaces the old (deposit_wallet_id, currency) one: still
-- one check per insert.
ALTER TABLE incomes
    ADD CONSTRAINT incomes_deposit_wallet_user_fkey FOREIGN KEY (deposit_wallet_id, user_id, currency)
        REFERENCES deposit_wallets (id, user_id, currency),
    DROP CONSTRAINT incomes_deposit_wallet_fkey;

CREATE INDEX incomes_user_history_idx ON incomes (user_id, currency, utime, id);

COMMENT ON COLUMN incomes.user_id IS 'The deposit wallet''s user (the foreign key keeps it so): deposit history pages read incomes_user_history_idx.';
