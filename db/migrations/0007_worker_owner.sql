-- A worker belongs to the user (fleet identity) whose token registered it.
-- Names were unique across the whole table, so a second fleet token that
-- registered another worker's name took over that worker's id; now a name is
-- unique per owner, and every worker call checks the id's owner.
--
-- Rows registered before this migration have no owner: no token can use
-- them. A worker re-registers after a server restart anyway (and gets a new
-- id); trials still leased to an old id expire and are requeued as usual.
ALTER TABLE workers
  ADD COLUMN owner_id BIGINT REFERENCES users(id) ON DELETE CASCADE;
ALTER TABLE workers DROP CONSTRAINT IF EXISTS workers_name_key;
CREATE UNIQUE INDEX workers_owner_name_idx ON workers (owner_id, name);
