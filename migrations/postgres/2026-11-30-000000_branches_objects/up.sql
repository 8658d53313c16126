-- Branches as Speckle has them: every stream has `main`, and every commit belongs to a branch
-- of its stream, by name (renaming a branch renames it in its commits; deleting it deletes them).
CREATE TABLE branches (
    id TEXT PRIMARY KEY NOT NULL,
    stream_id TEXT NOT NULL REFERENCES streams (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    description TEXT,
    author_id TEXT REFERENCES users (id) ON DELETE SET NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (stream_id, name)
);
CREATE INDEX branches_stream_page ON branches (stream_id, created_at, id);

-- `main` for every stream, owned by an owner of the stream.
INSERT INTO branches (id, stream_id, name, description, author_id, created_at, updated_at)
SELECT substr(md5(random()::text || s.id), 1, 16), s.id, 'main', 'default branch',
       (SELECT a.user_id FROM stream_acl a WHERE a.stream_id = s.id AND a.role = 'stream:owner' LIMIT 1),
       s.created_at, s.created_at
FROM streams s;
-- A branch for every other name that commits already used.
INSERT INTO branches (id, stream_id, name, description, author_id, created_at, updated_at)
SELECT substr(md5(random()::text || c.stream_id || c.branch_name), 1, 16), c.stream_id, c.branch_name,
       NULL, NULL, min(c.created_at), max(c.created_at)
FROM commits c
WHERE c.branch_name <> 'main'
GROUP BY c.stream_id, c.branch_name;

ALTER TABLE commits ADD COLUMN total_children_count BIGINT;
ALTER TABLE commits ADD COLUMN parents TEXT;
ALTER TABLE commits ADD FOREIGN KEY (stream_id, branch_name) REFERENCES branches (stream_id, name)
    ON UPDATE CASCADE ON DELETE CASCADE;
CREATE INDEX commits_branch_page ON commits (stream_id, branch_name, created_at, id);

-- Objects, stored once per stream by id, as the client sent them (`data`, with its
-- `__closure`: the ids of every descendant and their depth). Deleting a stream deletes them.
-- Ids compare byte by byte ("C"): they are hashes, and the order of downloads is theirs.
CREATE TABLE objects (
    stream_id TEXT NOT NULL REFERENCES streams (id) ON DELETE CASCADE,
    id TEXT COLLATE "C" NOT NULL,
    speckle_type TEXT,
    total_children_count BIGINT NOT NULL,
    -- The length of `data` in bytes: downloads read big objects one at a time.
    size_bytes BIGINT NOT NULL,
    data TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (stream_id, id)
);
