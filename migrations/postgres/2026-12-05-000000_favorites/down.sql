DROP TABLE stream_favorites;
