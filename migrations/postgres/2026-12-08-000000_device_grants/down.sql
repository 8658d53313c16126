ALTER TABLE app_device_codes DROP COLUMN grant_id;
