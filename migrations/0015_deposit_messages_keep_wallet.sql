-- 0015_deposit_messages_keep_wallet: TON sweeps and TON service withdrawals
-- used mode 128+32, which destroys the emptied deposit wallet and resets
-- its seqno to 0. A copy of that signed message (our own re-send before
-- the scanner confirmed it, or anyone's replay) could then execute again
-- within valid_until once new funds arrived, moving them without a sweep.
-- New messages use mode 128 alone: the wallet stays, its seqno only grows,
-- and no message can execute twice. destroys records which confirmed
-- messages still reset the seqno (the older ones).
ALTER TABLE deposit_wallet_messages ADD COLUMN destroys boolean NOT NULL DEFAULT false;

UPDATE deposit_wallet_messages m SET destroys = true
WHERE EXISTS (SELECT 1 FROM sweeps s WHERE s.wallet_message_id = m.id AND s.currency = 'TON')
   OR EXISTS (SELECT 1 FROM service_withdrawals sw WHERE sw.wallet_message_id = m.id AND sw.kind = 'ton');

COMMENT ON COLUMN deposit_wallet_messages.destroys IS 'The message was sent with mode 128+32 (before 0015): once executed, the wallet was destroyed and its seqno starts again at 0.';
