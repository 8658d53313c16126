-- What happened on streams, by whom and when (Speckle's `Stream.activity`, `User.activity`),
-- written in the transaction of the change it tells of. Kept after its stream is deleted (the
-- user's own activity still shows it); gone with its user.
CREATE TABLE stream_activity (
    id TEXT PRIMARY KEY NOT NULL,
    stream_id TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    action_type TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    info TEXT NOT NULL,
    message TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX stream_activity_stream ON stream_activity (stream_id, at);
CREATE INDEX stream_activity_user ON stream_activity (user_id, at);
