-- Apps (SPEC §11): registered by a person (their author), or Speckle's default apps (no
-- author: this server's own), written at every start. A client secret is stored as its
-- digest; a public client (a desktop or command-line app) has none.
CREATE TABLE apps (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    author_id TEXT REFERENCES users (id) ON DELETE CASCADE,
    secret_digest BYTEA,
    -- One URL a line, exactly as registered.
    redirect_urls TEXT NOT NULL,
    scopes TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX apps_author ON apps (author_id);

-- A person's consent to an app, for the scopes they approved: one live grant per app and
-- person. Revoking it (or its unused expiry, or a reused refresh token) ends every token it
-- issued; the app must then ask again.
CREATE TABLE app_grants (
    id TEXT PRIMARY KEY NOT NULL,
    app_id TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    scopes TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT NOT NULL,
    revoked_at BIGINT,
    revoked_reason TEXT
);
CREATE UNIQUE INDEX app_grants_live ON app_grants (app_id, user_id) WHERE revoked_at IS NULL;
CREATE INDEX app_grants_user ON app_grants (user_id, revoked_at);

-- An app's access tokens are tokens: rows of api_tokens that name their grant.
ALTER TABLE api_tokens ADD COLUMN grant_id TEXT REFERENCES app_grants (id) ON DELETE CASCADE;
CREATE INDEX api_tokens_grant ON api_tokens (grant_id);

-- Authorization codes, by digest: single use, a minute long. The challenge is S256 (OAuth)
-- or Speckle's plain one; redirect_uri the one the request named, which the exchange must
-- repeat. family_id is what its exchange issued, for a replay to revoke.
CREATE TABLE app_codes (
    digest BYTEA PRIMARY KEY NOT NULL,
    grant_id TEXT NOT NULL REFERENCES app_grants (id) ON DELETE CASCADE,
    scopes TEXT NOT NULL,
    redirect_uri TEXT,
    challenge TEXT NOT NULL,
    challenge_method TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    family_id TEXT
);
CREATE INDEX app_codes_expires ON app_codes (expires_at);

-- Refresh tokens, by digest. Each is paired with the access token issued with it; a family
-- is one line of rotations from one code. Used once: a second use revokes the grant.
CREATE TABLE app_refresh_tokens (
    id TEXT PRIMARY KEY NOT NULL,
    digest BYTEA NOT NULL UNIQUE,
    grant_id TEXT NOT NULL REFERENCES app_grants (id) ON DELETE CASCADE,
    family_id TEXT NOT NULL,
    access_token_id TEXT NOT NULL REFERENCES api_tokens (id) ON DELETE CASCADE,
    scopes TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    revoked_at BIGINT
);
CREATE INDEX app_refresh_tokens_grant ON app_refresh_tokens (grant_id);
CREATE INDEX app_refresh_tokens_family ON app_refresh_tokens (family_id);

-- The device authorization grant (RFC 8628): the device polls with its code's digest; the
-- person types user_code on /device and approves (user_id, decision) or denies.
CREATE TABLE app_device_codes (
    digest BYTEA PRIMARY KEY NOT NULL,
    user_code TEXT NOT NULL UNIQUE,
    app_id TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    scopes TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    interval_secs BIGINT NOT NULL,
    polled_at BIGINT,
    user_id TEXT REFERENCES users (id) ON DELETE CASCADE,
    decision TEXT,
    used_at BIGINT
);
CREATE INDEX app_device_codes_expires ON app_device_codes (expires_at);
