DROP INDEX sessions_user;
ALTER TABLE sessions DROP COLUMN user_id;
DROP TABLE leak_alerts;
