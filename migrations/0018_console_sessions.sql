-- 0018_console_sessions: the operator console's sessions and login record
-- (internal/console). Sessions expire; a session row holds only the
-- SHA-256 of its cookie token, so a database reader cannot take one over.

CREATE TABLE console_sessions (
    token_hash bytea PRIMARY KEY CONSTRAINT console_sessions_token_hash_len CHECK (octet_length(token_hash) = 32),
    operator   text NOT NULL REFERENCES operators (name),
    csrf_token text NOT NULL CONSTRAINT console_sessions_csrf_not_empty CHECK (csrf_token <> ''),
    remote     text NOT NULL DEFAULT '',
    user_agent text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    CONSTRAINT console_sessions_expiry CHECK (expires_at > created_at)
);
CREATE INDEX console_sessions_operator_idx ON console_sessions (operator);
CREATE INDEX console_sessions_expires_idx ON console_sessions (expires_at);
COMMENT ON TABLE console_sessions IS 'Operator console sessions: SHA-256 of the cookie token, the operator, the CSRF token of its forms, and an absolute expiry (CONSOLE_SESSION_TTL). Logout deletes the row; expired rows are deleted at the next login.';

-- Every console login attempt, for the lockout (CONSOLE_MAX_FAILED_LOGINS
-- failures in a row within CONSOLE_LOCKOUT lock the name for that long)
-- and for TOTP replay protection (a successful login records the code's
-- time step; a later login must use a later step). The audit log has the
-- same attempts for people to read.
CREATE TABLE console_logins (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    operator   text NOT NULL CONSTRAINT console_logins_operator_not_empty CHECK (operator <> ''),
    ok         boolean NOT NULL,
    totp_step  bigint,
    remote     text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT console_logins_step CHECK (ok = (totp_step IS NOT NULL))
);
CREATE INDEX console_logins_operator_idx ON console_logins (operator, id);
COMMENT ON TABLE console_logins IS 'Console login attempts by typed operator name (ok or failed); failures since the last success within CONSOLE_LOCKOUT count towards the lockout.';
