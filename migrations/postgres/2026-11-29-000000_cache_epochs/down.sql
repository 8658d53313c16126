DROP SEQUENCE cache_epoch_streams;
DROP SEQUENCE cache_epoch_tokens;
