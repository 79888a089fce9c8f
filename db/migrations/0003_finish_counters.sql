-- Completions number their trials (finish_seq) from a per-search counter.
-- It lived on the searches row, which AddTrials also locks for trial
-- numbering, so completions queued behind proposals. It moves to its own
-- table, taken as the last lock of a completion.
CREATE TABLE search_finish_counters (
  search_id        BIGINT PRIMARY KEY REFERENCES searches(id) ON DELETE CASCADE,
  next_finish_seq  BIGINT NOT NULL DEFAULT 1
);
INSERT INTO search_finish_counters (search_id, next_finish_seq)
  SELECT id, next_finish_seq FROM searches;
ALTER TABLE searches DROP COLUMN next_finish_seq;
