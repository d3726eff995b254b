-- The caller locked insync.runs: a parallel run (whose plan the catalog writer commits)
-- runs serially; a failing run says it could not be recorded rather than waiting.
CREATE EXTENSION insync;
\i pg_test/setup/sessions.sql
CREATE SCHEMA life;
\i pg_test/setup/facts_with_dimension.sql
SELECT status, rows_inserted FROM sync_full('life_facts', parallel => 1);
UPDATE life.f_src SET dim_id = 1 WHERE id <= 10;
BEGIN;
LOCK TABLE insync.runs IN SHARE MODE;
SELECT status, rows_updated FROM sync_full('life_facts', parallel => 2);
COMMIT;
SELECT segments FROM insync.runs WHERE job_name = 'life_facts' ORDER BY run_id DESC LIMIT 1;
\i pg_test/setup/null_key_window.sql
BEGIN;
LOCK TABLE insync.runs IN SHARE MODE;
SELECT status FROM sync_incremental('life_null', parallel => 1);
ROLLBACK;
-- Another session holds the lock: the writer waits, and a cancel (here a statement timeout)
-- stops it and returns at once.
SELECT scenario.connect('locker');
SELECT dblink_exec('locker', 'BEGIN');
SELECT dblink_exec('locker', 'LOCK TABLE insync.runs IN SHARE MODE');
SET statement_timeout = '3s';
SELECT status FROM sync_incremental('life_null', parallel => 1);
RESET statement_timeout;
SELECT dblink_exec('locker', 'ROLLBACK');
SELECT count(*) AS writers_left FROM pg_stat_activity WHERE backend_type = 'insync recorder';
