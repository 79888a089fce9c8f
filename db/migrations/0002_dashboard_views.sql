-- Stable views for dashboards (Grafana and the like). Columns are only ever
-- added to these views, never renamed or removed; query them, not the tables.

-- One row per trial with every metric as a column.
CREATE VIEW v_trials AS
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
  t.params,
  t.macs,
  t.peak_activation_bytes,
  t.flash_bytes,
  t.estimates,
  t.train_seconds,
  t.epochs,
  NULLIF(t.failure_reason, '') AS failure_reason,
  t.created_at,
  t.started_at,
  t.finished_at,
  EXTRACT(EPOCH FROM (t.finished_at - t.started_at)) AS wall_seconds
FROM trials t
JOIN searches s ON s.id = t.search_id
JOIN users u ON u.id = s.owner_id;

-- One row per search: progress against the budget and the best result.
CREATE VIEW v_search_progress AS
SELECT
  s.id AS search_id,
  s.name AS search_name,
  u.name AS owner,
  s.state,
  s.space,
  s.budget,
  s.weight,
  count(t.id) FILTER (WHERE t.state IN ('SUCCEEDED', 'FAILED', 'INFEASIBLE', 'EARLY_STOPPED'))
    AS finished,
  count(t.id) FILTER (WHERE t.state = 'SUCCEEDED') AS succeeded,
  count(t.id) FILTER (WHERE t.state = 'FAILED') AS failed,
  count(t.id) FILTER (WHERE t.state = 'INFEASIBLE') AS infeasible,
  count(t.id) FILTER (WHERE t.state = 'EARLY_STOPPED') AS early_stopped,
  count(t.id) FILTER (WHERE t.state IN ('LEASED', 'RUNNING')) AS running,
  count(t.id) FILTER (WHERE t.state = 'PENDING') AS pending,
  max(t.reward) AS best_reward,
  max(t.accuracy) AS best_accuracy,
  s.created_at,
  s.finished_at
FROM searches s
JOIN users u ON u.id = s.owner_id
LEFT JOIN trials t ON t.search_id = s.id
GROUP BY s.id, u.name;

-- Per search, the succeeded trials that no other succeeded trial of the same
-- search dominates on (accuracy up, measured latency down, peak memory down).
-- Trials without a measured latency compare on peak memory alone.
CREATE VIEW v_pareto AS
SELECT t.search_id, t.number AS trial_number, t.readable AS architecture, t.accuracy,
       t.latency_median_ms, t.peak_activation_bytes, t.flash_bytes, t.macs, t.params, t.reward
FROM trials t
WHERE t.state = 'SUCCEEDED'
  AND NOT EXISTS (
    SELECT 1 FROM trials o
    WHERE o.search_id = t.search_id AND o.state = 'SUCCEEDED' AND o.id <> t.id
      AND o.accuracy >= t.accuracy
      AND COALESCE(o.latency_median_ms, 0) <= COALESCE(t.latency_median_ms, 0)
      AND COALESCE(o.peak_activation_bytes, 0) <= COALESCE(t.peak_activation_bytes, 0)
      AND (o.accuracy > t.accuracy
           OR COALESCE(o.latency_median_ms, 0) < COALESCE(t.latency_median_ms, 0)
           OR COALESCE(o.peak_activation_bytes, 0) < COALESCE(t.peak_activation_bytes, 0)));
