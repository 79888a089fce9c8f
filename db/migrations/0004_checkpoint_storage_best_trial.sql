-- Controller checkpoints are opaque strategy bytes, mostly random 64-bit
-- keys, that do not compress: keep them out of line without trying (pglz
-- spent CPU on every proposal batch for nothing).
ALTER TABLE controller_checkpoints ALTER COLUMN state SET STORAGE EXTERNAL;
-- The best trial of a search (GetSearch, WatchSearch snapshots) from an
-- index instead of sorting every trial of the search.
CREATE INDEX trials_best_reward_idx ON trials (search_id, reward DESC, number)
  WHERE reward IS NOT NULL AND state IN ('SUCCEEDED', 'EARLY_STOPPED');
