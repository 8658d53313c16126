DROP TABLE app_device_codes;
DROP TABLE app_refresh_tokens;
DROP TABLE app_codes;
DROP INDEX api_tokens_grant;
ALTER TABLE api_tokens DROP COLUMN grant_id;
DROP TABLE app_grants;
DROP TABLE apps;
