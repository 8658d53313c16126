DROP TABLE objects;
CREATE TABLE commits_without_branches (
    id TEXT PRIMARY KEY NOT NULL,
    stream_id TEXT NOT NULL REFERENCES streams (id) ON DELETE CASCADE,
    branch_name TEXT NOT NULL,
    referenced_object TEXT NOT NULL,
    message TEXT NOT NULL,
    source_application TEXT,
    author_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL
);
INSERT INTO commits_without_branches
SELECT id, stream_id, branch_name, referenced_object, message, source_application, author_id, created_at
FROM commits;
DROP TABLE commits;
ALTER TABLE commits_without_branches RENAME TO commits;
CREATE INDEX commits_stream_page ON commits (stream_id, created_at, id);
DROP TABLE branches;
