-- Multi-fidelity scheduling (spec `fidelity:`, #20): a trial trains to the
-- epoch target of its rung; a promotion puts the same trial back in the queue
-- with the next rung's target. `rung` is the rung of the current (or last)
-- lease, `epoch_target` its epochs (NULL: the spec's training.epochs, no
-- fidelity), `bracket` the Hyperband bracket = the rung it started on.
ALTER TABLE trials
  ADD COLUMN rung INT NOT NULL DEFAULT 0 CHECK (rung >= 0),
  ADD COLUMN epoch_target INT CHECK (epoch_target IS NULL OR epoch_target > 0),
  ADD COLUMN bracket INT NOT NULL DEFAULT 0 CHECK (bracket >= 0);

-- Every result a trial reported on a rung, the score the promotion rule
-- ranked it by, and whether it was promoted from there: what a restarted
-- server rebuilds its ladders from.
CREATE TABLE trial_rungs (
  search_id    BIGINT NOT NULL REFERENCES searches(id) ON DELETE CASCADE,
  trial_number BIGINT NOT NULL,
  rung         INT NOT NULL CHECK (rung >= 0),
  epochs       INT NOT NULL CHECK (epochs > 0),
  score        DOUBLE PRECISION NOT NULL,
  promoted     BOOLEAN NOT NULL DEFAULT false,
  recorded_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
  PRIMARY KEY (search_id, trial_number, rung)
);

-- Each trial's training checkpoint (weights and optimizer state, as the
-- worker wrote them after its last rung), for its next rung to resume from.
-- Deleted when the trial reaches the top rung, when the search ends, and
-- lowest score first when a search's checkpoints reach its byte limit
-- (fidelity.checkpoint_mib).
CREATE TABLE trial_checkpoints (
  search_id    BIGINT NOT NULL REFERENCES searches(id) ON DELETE CASCADE,
  trial_number BIGINT NOT NULL,
  epochs       INT NOT NULL CHECK (epochs > 0),
  score        DOUBLE PRECISION NOT NULL,
  bytes        BIGINT NOT NULL,
  data         BYTEA NOT NULL,
  created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
  PRIMARY KEY (search_id, trial_number)
);

-- A promoted trial finishes once per rung, taking a finish sequence each
-- time, but counts against the budget once: the queue counts subtract the
-- promotions from the sequences taken.
ALTER TABLE search_finish_counters ADD COLUMN promotions BIGINT NOT NULL DEFAULT 0;

-- v_trials gains rung, epoch_target and bracket at its end.
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
  t.bracket
FROM trials t
JOIN searches s ON s.id = t.search_id
JOIN users u ON u.id = s.owner_id;
