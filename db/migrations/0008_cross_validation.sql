-- Cross-validated trials (evaluation.folds >= 2 or a session split) report
-- the mean validation accuracy in `accuracy`, its standard error and every
-- fold's accuracy; balanced accuracy and macro-F1 come with every trained
-- trial. All NULL for single-split trials stored before, and for table
-- lookups. v_trials gains the four at its end (a view keeps its columns'
-- order, so dashboards that select by name or position keep working).

ALTER TABLE trials
  ADD COLUMN accuracy_se DOUBLE PRECISION,
  ADD COLUMN balanced_accuracy DOUBLE PRECISION,
  ADD COLUMN macro_f1 DOUBLE PRECISION,
  ADD COLUMN fold_accuracy JSONB;

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
  t.fold_accuracy
FROM trials t
JOIN searches s ON s.id = t.search_id
JOIN users u ON u.id = s.owner_id;

