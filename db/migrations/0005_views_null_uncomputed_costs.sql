-- A cost of 0 is a cost that was not computed (trials answered from the
-- NAS-Bench-201 table report accuracy and latency only; a built network never
-- has 0 params, MACs, activations or flash). The dashboard views show it as
-- NULL, so that averages and plots leave it out instead of reading it as free.
-- The columns keep their names, types and order.

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
  EXTRACT(EPOCH FROM (t.finished_at - t.started_at)) AS wall_seconds
FROM trials t
JOIN searches s ON s.id = t.search_id
JOIN users u ON u.id = s.owner_id;

CREATE OR REPLACE VIEW v_pareto AS
SELECT t.search_id, t.number AS trial_number, t.readable AS architecture, t.accuracy,
       t.latency_median_ms, NULLIF(t.peak_activation_bytes, 0) AS peak_activation_bytes,
       NULLIF(t.flash_bytes, 0) AS flash_bytes, NULLIF(t.macs, 0) AS macs,
       NULLIF(t.params, 0) AS params, t.reward
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
