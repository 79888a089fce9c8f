-- hwnas schema, version 1: users and tokens, searches, trials with their
-- results, per-epoch metrics, workers, controller checkpoints and events.
-- States are stored as text (readable in dashboards) with CHECK constraints.

CREATE TABLE users (
  id          BIGSERIAL PRIMARY KEY,
  name        TEXT NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z0-9_.@-]{1,64}$'),
  is_admin    BOOLEAN NOT NULL DEFAULT FALSE,
  is_worker   BOOLEAN NOT NULL DEFAULT FALSE,
  created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- API tokens are stored as SHA-256 digests; the token itself is shown once.
CREATE TABLE api_tokens (
  id            BIGSERIAL PRIMARY KEY,
  user_id       BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  token_sha256  BYTEA NOT NULL UNIQUE,
  prefix        TEXT NOT NULL,  -- First characters, to tell tokens apart.
  created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
  last_used_at  TIMESTAMPTZ,
  revoked_at    TIMESTAMPTZ
);

CREATE TABLE searches (
  id                 BIGSERIAL PRIMARY KEY,
  name               TEXT NOT NULL,
  owner_id           BIGINT NOT NULL REFERENCES users(id),
  state              TEXT NOT NULL DEFAULT 'RUNNING'
                     CHECK (state IN ('RUNNING', 'COMPLETED', 'CANCELLED', 'FAILED')),
  spec_yaml          TEXT NOT NULL,
  space              TEXT NOT NULL,
  budget             BIGINT NOT NULL CHECK (budget > 0),
  weight             DOUBLE PRECISION NOT NULL DEFAULT 1 CHECK (weight > 0),
  -- Next trial number; bumped under the row lock so numbers have no gaps.
  next_trial_number  BIGINT NOT NULL DEFAULT 1,
  -- Order in which results finished; strategies restore from a checkpoint
  -- plus the results with a higher finish_seq.
  next_finish_seq    BIGINT NOT NULL DEFAULT 1,
  idempotency_key    TEXT,
  -- Seed of the search's strategy, so a restarted server rebuilds it exactly.
  seed               BIGINT NOT NULL DEFAULT 0,
  error              TEXT NOT NULL DEFAULT '',
  created_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
  finished_at        TIMESTAMPTZ,
  UNIQUE (owner_id, idempotency_key)
);
CREATE INDEX searches_state_idx ON searches (state);
CREATE INDEX searches_owner_idx ON searches (owner_id, id DESC);

CREATE TABLE trials (
  id                     BIGSERIAL PRIMARY KEY,
  search_id              BIGINT NOT NULL REFERENCES searches(id) ON DELETE CASCADE,
  number                 BIGINT NOT NULL,
  space                  TEXT NOT NULL,
  space_version          INT NOT NULL,
  tokens                 INT[] NOT NULL,
  readable               TEXT NOT NULL,
  canonical_hash         BIGINT NOT NULL,
  -- The strategy's id for the proposal this trial came from (0: none).
  proposal_id            BIGINT NOT NULL DEFAULT 0,
  state                  TEXT NOT NULL DEFAULT 'PENDING'
                         CHECK (state IN ('PENDING', 'LEASED', 'RUNNING', 'SUCCEEDED', 'FAILED',
                                          'INFEASIBLE', 'EARLY_STOPPED', 'CANCELLED')),
  attempts               INT NOT NULL DEFAULT 0,
  worker_id              TEXT,
  lease_id               TEXT,
  lease_expires_at       TIMESTAMPTZ,
  -- Results (NULL until reported).
  accuracy               DOUBLE PRECISION,
  loss                   DOUBLE PRECISION,
  latency_median_ms      DOUBLE PRECISION,
  latency_p90_ms         DOUBLE PRECISION,
  latency_runs           INT,
  latency_threads        INT,
  latency_device         TEXT,
  params                 BIGINT,
  macs                   BIGINT,
  peak_activation_bytes  BIGINT,
  flash_bytes            BIGINT,
  estimates              JSONB NOT NULL DEFAULT '{}'::jsonb,
  train_seconds          DOUBLE PRECISION,
  epochs                 INT,
  error                  TEXT,
  reward                 DOUBLE PRECISION,
  failure_reason         TEXT NOT NULL DEFAULT '',
  finish_seq             BIGINT,
  created_at             TIMESTAMPTZ NOT NULL DEFAULT now(),
  started_at             TIMESTAMPTZ,
  finished_at            TIMESTAMPTZ,
  UNIQUE (search_id, number)
);
-- Hot paths: the next pending trial of a search; trials of a search by state;
-- leases that expired; reports by lease id; repeats of an architecture.
CREATE INDEX trials_pending_idx ON trials (search_id, number) WHERE state = 'PENDING';
CREATE INDEX trials_search_state_idx ON trials (search_id, state);
CREATE INDEX trials_lease_expiry_idx ON trials (lease_expires_at)
  WHERE state IN ('LEASED', 'RUNNING');
CREATE UNIQUE INDEX trials_lease_id_idx ON trials (lease_id) WHERE lease_id IS NOT NULL;
CREATE INDEX trials_hash_idx ON trials (search_id, canonical_hash);
CREATE INDEX trials_finish_seq_idx ON trials (search_id, finish_seq) WHERE finish_seq IS NOT NULL;

CREATE TABLE trial_metrics (
  trial_id     BIGINT NOT NULL REFERENCES trials(id) ON DELETE CASCADE,
  epoch        INT NOT NULL,
  name         TEXT NOT NULL,
  value        DOUBLE PRECISION NOT NULL,
  recorded_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
  PRIMARY KEY (trial_id, epoch, name)
);

CREATE TABLE workers (
  id              TEXT PRIMARY KEY,
  name            TEXT NOT NULL UNIQUE,
  device_kind     TEXT NOT NULL DEFAULT '',
  device_tag      TEXT NOT NULL DEFAULT '',
  threads         INT NOT NULL DEFAULT 0,
  gpu             BOOLEAN NOT NULL DEFAULT FALSE,
  datasets        TEXT[] NOT NULL DEFAULT '{}',
  search_spaces   TEXT[] NOT NULL DEFAULT '{}',
  evaluators      TEXT[] NOT NULL DEFAULT '{}',
  version         TEXT NOT NULL DEFAULT '',
  hostname        TEXT NOT NULL DEFAULT '',
  registered_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
  last_heartbeat  TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE controller_checkpoints (
  search_id         BIGINT NOT NULL REFERENCES searches(id) ON DELETE CASCADE,
  sequence          BIGINT NOT NULL,
  state             BYTEA NOT NULL,
  -- Highest trial finish_seq the strategy had observed when saved.
  observed_through  BIGINT NOT NULL DEFAULT 0,
  created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
  PRIMARY KEY (search_id, sequence)
);

CREATE TABLE events (
  id            BIGSERIAL PRIMARY KEY,
  search_id     BIGINT REFERENCES searches(id) ON DELETE CASCADE,
  trial_number  BIGINT,
  kind          TEXT NOT NULL,
  payload       JSONB NOT NULL DEFAULT '{}'::jsonb,
  created_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX events_search_idx ON events (search_id, id);
