DROP TABLE sessions;
DROP TABLE stream_acl;
DROP TABLE streams;
DROP TABLE api_tokens;
DROP TABLE users;
