-- Differentiable search as a server job (#19 item 1): a dnas search starts
-- with one supernet job, stored as a trial of origin 'dnas_job' (so it is
-- leased, heartbeats, expires and is requeued like any trial), and the
-- architectures it finds are stored as trials of origin 'dnas'. The job's
-- per-epoch checkpoint (weights, architecture parameters, optimizers, epoch,
-- RNG) is the job trial's row in trial_checkpoints (migration 0011), its
-- `epochs` the epochs it holds; it is deleted when the job finishes.
ALTER TABLE trials DROP CONSTRAINT IF EXISTS trials_origin_check;
ALTER TABLE trials ADD CONSTRAINT trials_origin_check
  CHECK (origin IN ('strategy', 'enqueued', 'imported', 'dnas_job', 'dnas'));
