DROP TABLE token_streams;
ALTER TABLE api_tokens DROP COLUMN limited;
