-- The epochs of the API's read cache (see src/server/db/cache.rs): a write that changes what
-- cached entries hold takes the next value after it commits; every request reads both.
-- SQLite keeps the same counters in a memory-mapped file beside the database instead.
CREATE SEQUENCE cache_epoch_tokens;
CREATE SEQUENCE cache_epoch_streams;
-- A fresh sequence's first nextval() returns its start without changing last_value; take it
-- here, so that every later nextval() is seen by readers of last_value.
SELECT nextval('cache_epoch_tokens');
SELECT nextval('cache_epoch_streams');
