-- Tokens limited to chosen streams (SPEC §12). `limited` says that a token reaches only the
-- streams listed for it here (none left: no stream at all); an unlimited token has no rows.
-- A row goes with its stream, and is dropped when the token's owner leaves the stream, so a
-- token never gains a stream.
ALTER TABLE api_tokens ADD COLUMN limited BOOLEAN NOT NULL DEFAULT FALSE;
CREATE TABLE token_streams (
    token_id TEXT NOT NULL REFERENCES api_tokens (id) ON DELETE CASCADE,
    stream_id TEXT NOT NULL REFERENCES streams (id) ON DELETE CASCADE,
    -- 'read' or 'write'
    access TEXT NOT NULL,
    PRIMARY KEY (token_id, stream_id)
);
CREATE INDEX token_streams_stream ON token_streams (stream_id);
