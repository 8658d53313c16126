-- A device code the person approved names the grant it made or widened, for the device's
-- next poll to issue tokens under.
ALTER TABLE app_device_codes ADD COLUMN grant_id TEXT REFERENCES app_grants (id) ON DELETE CASCADE;
