DROP TABLE app_device_codes;
DROP TABLE app_refresh_tokens;
DROP TABLE app_codes;
-- SQLite cannot drop a column that a foreign key uses: the apps' tokens go, the column stays.
DELETE FROM api_tokens WHERE grant_id IS NOT NULL;
DROP INDEX api_tokens_grant;
DROP TABLE app_grants;
DROP TABLE apps;
