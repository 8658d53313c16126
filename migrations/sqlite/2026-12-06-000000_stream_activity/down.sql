DROP TABLE stream_activity;
