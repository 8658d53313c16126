-- Commits: versions of a stream, each pointing at an object id.
CREATE TABLE commits (
    id TEXT PRIMARY KEY NOT NULL,
    stream_id TEXT NOT NULL REFERENCES streams (id) ON DELETE CASCADE,
    branch_name TEXT NOT NULL,
    referenced_object TEXT NOT NULL,
    message TEXT NOT NULL,
    source_application TEXT,
    author_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL
);
-- Newest first, with the id as tie-breaker: the order and the cursor of pagination.
CREATE INDEX commits_stream_page ON commits (stream_id, created_at, id);
CREATE INDEX streams_page ON streams (created_at, id);
