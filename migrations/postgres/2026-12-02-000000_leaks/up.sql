-- When a token leaks (SPEC §9): what the owner is told on /profile until they dismiss it.
CREATE TABLE leak_alerts (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_id TEXT NOT NULL REFERENCES api_tokens (id) ON DELETE CASCADE,
    -- 'scanner' (a secret scanning partner) or 'report' (someone who found it).
    found_by TEXT NOT NULL,
    url TEXT,
    source TEXT,
    created_at BIGINT NOT NULL,
    dismissed_at BIGINT
);
CREATE INDEX leak_alerts_user ON leak_alerts (user_id, dismissed_at);

-- Whose a session is, so that changing a password can end the others.
ALTER TABLE sessions ADD COLUMN user_id TEXT;
UPDATE sessions SET user_id = data::json->>'user_id';
CREATE INDEX sessions_user ON sessions (user_id);
