-- A regenerated token's first use finds the token it replaces; the background pass finds
-- tokens by expiry and by the end of their grace period. Without these, each was a scan of
-- every token (the bench's million-token table showed them).
CREATE INDEX api_tokens_replaces ON api_tokens (replaces);
CREATE INDEX api_tokens_expires ON api_tokens (expires_at);
CREATE INDEX api_tokens_grace ON api_tokens (grace_until);

-- Browsers that signed in to an account (OWASP's device cookies), by the cookie's digest:
-- their sign-ins keep a lane of their own under a flood from elsewhere.
CREATE TABLE trusted_devices (
    digest BLOB PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    last_used_at BIGINT NOT NULL
);
CREATE INDEX trusted_devices_user ON trusted_devices (user_id, last_used_at);
