-- A token's life after creation (SPEC §8): descriptions, families, regeneration with a grace
-- period, why a token was revoked, its activity, and the mail that warns of expiry.
ALTER TABLE api_tokens ADD COLUMN description TEXT;
-- The token that minted this one through the API: revoking it revokes this one too.
ALTER TABLE api_tokens ADD COLUMN parent_id TEXT;
-- The first token of its regeneration line (its own id for an original).
ALTER TABLE api_tokens ADD COLUMN family_id TEXT;
-- Regeneration: the new token names the one it replaces; the old one, once replaced, dies
-- at grace_until, or when its successor is first used.
ALTER TABLE api_tokens ADD COLUMN replaces TEXT;
ALTER TABLE api_tokens ADD COLUMN grace_until BIGINT;
-- Who or what revoked it, in words the owner reads.
ALTER TABLE api_tokens ADD COLUMN revoked_reason TEXT;
UPDATE api_tokens SET family_id = id;
CREATE INDEX api_tokens_parent ON api_tokens (parent_id);
CREATE INDEX api_tokens_family ON api_tokens (family_id);

-- What happened to a user's tokens and account, newest first on /profile/security.
CREATE TABLE security_events (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_id TEXT REFERENCES api_tokens (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    detail TEXT,
    ip TEXT,
    user_agent TEXT,
    at BIGINT NOT NULL,
    -- Events that happen once (a token's expiry) carry a key, so no server records them twice.
    once_key TEXT UNIQUE
);
CREATE INDEX security_events_user ON security_events (user_id, at);
CREATE INDEX security_events_token ON security_events (token_id, at);

-- The addresses a token was used from: the last few per token.
CREATE TABLE token_addresses (
    token_id TEXT NOT NULL REFERENCES api_tokens (id) ON DELETE CASCADE,
    ip TEXT NOT NULL,
    last_seen BIGINT NOT NULL,
    PRIMARY KEY (token_id, ip)
);

-- Mail waiting to be sent, or sent. once_key makes a message unique (one expiry digest per
-- user per day), whichever server queues it first.
CREATE TABLE mail_outbox (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    once_key TEXT NOT NULL UNIQUE,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    claimed_until BIGINT,
    sent_at BIGINT
);
CREATE INDEX mail_outbox_due ON mail_outbox (sent_at, next_attempt_at);

-- Each expiry warning (a token, a stage: 7 days, 1 day, the day) is queued once, ever.
CREATE TABLE expiry_notices (
    token_id TEXT NOT NULL REFERENCES api_tokens (id) ON DELETE CASCADE,
    stage TEXT NOT NULL,
    mail_id TEXT NOT NULL REFERENCES mail_outbox (id) ON DELETE CASCADE,
    PRIMARY KEY (token_id, stage)
);
