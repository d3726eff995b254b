-- The caller holds a lock a segment worker needs (fact rows reference a dimension row the
-- caller locked): the worker would wait for the caller, which waits for it. The segments it
-- could not merge run in the caller's session instead.
CREATE EXTENSION insync;
CREATE SCHEMA life;
\i pg_test/setup/facts_with_dimension.sql
BEGIN;
SELECT id FROM life.dim WHERE id = 6 FOR UPDATE;
SELECT status, rows_read, rows_inserted FROM sync_full('life_facts', parallel => 2);
COMMIT;
SELECT segments FROM insync.runs WHERE job_name = 'life_facts' ORDER BY run_id DESC LIMIT 1;
SELECT count(*) AS facts FROM life.facts;
