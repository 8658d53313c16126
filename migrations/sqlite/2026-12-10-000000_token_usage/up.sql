-- What a token used (SPEC §12's "Narrow it"): each scope (`scope:<name>`) and stream
-- (`stream:<id>`; `stream:*` when it reached more than are kept), and when last. Written at
-- most once a minute per token, from what the server noted in memory.
CREATE TABLE token_usage (
    token_id TEXT NOT NULL REFERENCES api_tokens (id) ON DELETE CASCADE,
    what TEXT NOT NULL,
    last_at BIGINT NOT NULL,
    PRIMARY KEY (token_id, what)
);
