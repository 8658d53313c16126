DROP TABLE trusted_devices;
DROP INDEX api_tokens_grace;
DROP INDEX api_tokens_expires;
DROP INDEX api_tokens_replaces;
