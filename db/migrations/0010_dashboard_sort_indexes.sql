-- The dashboard's trial table sorted by a metric (db/dashboard_queries.cc):
-- keyset pages in (metric, number) order, ties by number in the sort's own
-- direction, so one ascending index per metric serves both directions (read
-- backwards for descending) and a deep page starts at its key instead of
-- sorting the whole search. The three metrics a table is sorted by most;
-- other metrics still page by key, over a top-N sort.
CREATE INDEX trials_dash_accuracy_idx ON trials (search_id, accuracy, number);
CREATE INDEX trials_dash_reward_idx ON trials (search_id, reward, number);
CREATE INDEX trials_dash_latency_idx ON trials (search_id, latency_median_ms, number);
