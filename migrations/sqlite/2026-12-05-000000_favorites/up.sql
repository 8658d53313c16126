-- Favourite streams (Speckle's streamFavorite): who marked which, and when.
CREATE TABLE stream_favorites (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    stream_id TEXT NOT NULL REFERENCES streams (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, stream_id)
);
CREATE INDEX stream_favorites_stream ON stream_favorites (stream_id);
CREATE INDEX stream_favorites_user ON stream_favorites (user_id, created_at);
