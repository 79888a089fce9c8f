-- A search may start from an earlier search's finished trials
-- (strategy.warm_start_from). The server resolves the spec's id or name once,
-- at submit, and keeps the answer here: a restarted server warm-starts the
-- same search again (if it crashed before the first checkpoint) even when
-- another search has taken that name since.
ALTER TABLE searches
  ADD COLUMN warm_start_search_id BIGINT REFERENCES searches(id);
