-- BlockStore schema, version 8a (issue 11): indexes reviewed against the hot queries at 100,000
-- volumes (EXPLAIN in the data test HotQueryPlanTests). Every hot query already had its index but
-- one: Get-BlockVolume lists live volumes in creation order, which at 100,000 rows sorted the whole
-- table before the first object; with this index the first page is read in order and streams.
CREATE INDEX volumes_live_created ON bs.volumes (created_at, id) WHERE status <> 'deleted';
