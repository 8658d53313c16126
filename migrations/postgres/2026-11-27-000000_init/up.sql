-- Times are Unix milliseconds; ids are random text; the token digest is SHA-256 bytes.
CREATE TABLE users (
    id TEXT PRIMARY KEY NOT NULL,
    suuid TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    email TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    bio TEXT,
    company TEXT,
    avatar TEXT,
    created_at BIGINT NOT NULL
);
-- Emails are stored trimmed and lower-cased, so this index makes them unique case-insensitively.
CREATE UNIQUE INDEX users_email ON users (email);

CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    token_digest BYTEA NOT NULL,
    last_chars TEXT NOT NULL,
    scopes TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    last_used_at BIGINT,
    revoked_at BIGINT
);
-- One request, one indexed lookup: the bearer check finds its row by digest.
CREATE UNIQUE INDEX api_tokens_digest ON api_tokens (token_digest);
CREATE INDEX api_tokens_user ON api_tokens (user_id, created_at);

CREATE TABLE streams (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    is_public BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE stream_acl (
    stream_id TEXT NOT NULL REFERENCES streams (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    PRIMARY KEY (stream_id, user_id)
);
CREATE INDEX stream_acl_user ON stream_acl (user_id);

-- Browser sessions (tower-sessions); the id column holds the SHA-256 of the cookie's id.
CREATE TABLE sessions (
    id TEXT PRIMARY KEY NOT NULL,
    data TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_expires ON sessions (expires_at);
