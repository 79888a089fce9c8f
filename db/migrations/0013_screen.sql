-- Screening (spec `screen:`, #20): every candidate of a screening search is
-- first scored by a training-free proxy on a worker; only the top `keep`
-- fraction of the scores screened so far go on to training (the same trial).
-- `screen` is the trial's stage (NULL: the search does not screen), and
-- `screen_score` the proxy's score once screened (kept when it trains on).
ALTER TABLE trials
  ADD COLUMN screen TEXT CHECK (screen IN ('pending', 'passed', 'screened_out')),
  ADD COLUMN screen_score DOUBLE PRECISION;

-- A screened-out trial took a finish sequence but does not count against
-- budget.trials: the queue counts subtract these as they do promotions.
ALTER TABLE search_finish_counters ADD COLUMN screened_out BIGINT NOT NULL DEFAULT 0;

-- v_trials gains screen and screen_score at its end.
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
  t.origin,
  t.rung,
  t.epoch_target,
  t.bracket,
  t.screen,
  t.screen_score
FROM trials t
JOIN searches s ON s.id = t.search_id
JOIN users u ON u.id = s.owner_id;
