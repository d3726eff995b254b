-- A segment worker killed by a real SIGTERM from outside the database; the failed run is
-- resumed by sync_resume(run_id), after which there is nothing left to resume.
\i pg_test/setup/parallel_k.sql
SELECT dblink_exec('locker', 'BEGIN');
SELECT * FROM dblink('locker', 'SELECT id FROM par.k_dst WHERE id = 1 FOR UPDATE') AS t(id int);
SELECT dblink_send_query('runner', 'SELECT status FROM sync_incremental(''par_k'')');
SELECT par.blocked_segment_worker('par_k') AS victim \gset
SELECT set_config('par.victim', :'victim', false) IS NOT NULL AS victim_found;
DO $$ BEGIN
  -- The program reads all of COPY's output before it signals: a program that exits first
  -- makes COPY fail with a broken pipe.
  EXECUTE format('COPY (SELECT 1) TO PROGRAM %L', 'cat >/dev/null; kill -TERM ' || current_setting('par.victim'));
END $$;
SELECT dblink_exec('locker', 'ROLLBACK');
SET client_min_messages = warning;
SELECT * FROM dblink_get_result('runner', false) AS t(status text);
SELECT * FROM dblink_get_result('runner') AS t(status text);
SET client_min_messages = notice;
SELECT max(run_id) AS failed_run FROM insync.runs WHERE job_name = 'par_k' AND status = 'failed' \gset
SELECT status, segments FROM insync.runs WHERE run_id = :failed_run;
SELECT status, rows_read < 2000 AS only_unfinished_rows FROM sync_resume(:failed_run);
SELECT (SELECT count(*) FROM (TABLE par.k_src EXCEPT TABLE par.k_dst) a) AS missing,
       (SELECT count(*) FROM (TABLE par.k_dst EXCEPT TABLE par.k_src) b) AS extra;
-- Nothing left to resume (the run id in the message varies, hence the DO).
SELECT set_config('par.failed_run', :'failed_run', false) IS NOT NULL AS noted;
DO $$ BEGIN
  PERFORM sync_resume(current_setting('par.failed_run')::bigint);
EXCEPTION WHEN object_not_in_prerequisite_state THEN
  RAISE NOTICE '%', regexp_replace(SQLERRM, '\d+', 'N');
END $$;
SELECT * FROM sync_resume(-1);
SELECT dblink_disconnect('locker');
SELECT dblink_disconnect('runner');
