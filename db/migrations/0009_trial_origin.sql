-- Where a trial came from: proposed by the search's strategy, enqueued by its
-- owner (`hwnas enqueue`: leased before the strategy's proposals), or
-- imported with metrics evaluated elsewhere (`hwnas import`: stored finished,
-- never leased). Every trial stored before is the strategy's.

ALTER TABLE trials
  ADD COLUMN origin TEXT NOT NULL DEFAULT 'strategy'
    CHECK (origin IN ('strategy', 'enqueued', 'imported'));

-- The lease order is "enqueued first, then by number": the pending index
-- follows it so a lease stays one index probe.
DROP INDEX IF EXISTS trials_pending_idx;
CREATE INDEX trials_pending_idx ON trials (search_id, (origin <> 'enqueued'), number)
  WHERE state = 'PENDING';

-- v_trials gains the origin at its end (a view keeps its columns' order).
CREATE OR REPLACE VIEW v_trials AS
SELECT
  t.search_id,
  s.name AS search_name,
  u.name AS owner,
  t.number AS trial_number,
  t.state,
  t.space,
  t.space_version,
  t.readable AS architecture,
  array_to_string(t.tokens, ',') AS tokens,
  t.attempts,
  t.worker_id,
  t.accuracy,
  t.loss,
  t.reward,
  t.latency_median_ms,
  t.latency_p90_ms,
  t.latency_runs,
  t.latency_threads,
  t.latency_device,
  NULLIF(t.params, 0) AS params,
  NULLIF(t.macs, 0) AS macs,
  NULLIF(t.peak_activation_bytes, 0) AS peak_activation_bytes,
  NULLIF(t.flash_bytes, 0) AS flash_bytes,
  t.estimates,
  t.train_seconds,
  t.epochs,
  NULLIF(t.failure_reason, '') AS failure_reason,
  t.created_at,
  t.started_at,
  t.finished_at,
  EXTRACT(EPOCH FROM (t.finished_at - t.started_at)) AS wall_seconds,
  t.accuracy_se,
  t.balanced_accuracy,
  t.macro_f1,
  t.fold_accuracy,
  t.origin
FROM trials t
JOIN searches s ON s.id = t.search_id
JOIN users u ON u.id = s.owner_id;
