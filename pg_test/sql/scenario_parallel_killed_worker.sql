-- A segment worker terminated mid-run: the run fails, the watermark stays, and the next call
-- finishes the unfinished segment over the same window. Session 'locker' holds one target row
-- locked, so the segment holding that key waits; session 'runner' runs the sync.
\i pg_test/setup/parallel_k.sql
SELECT dblink_exec('locker', 'BEGIN');
SELECT * FROM dblink('locker', 'SELECT id FROM par.k_dst WHERE id = 1 FOR UPDATE') AS t(id int);
SELECT watermark AS watermark_before FROM insync.job_state WHERE job_name = 'par_k' \gset
SELECT dblink_send_query('runner', 'SELECT status FROM sync_incremental(''par_k'')');
-- One segment commits; the other waits on the locked row. Terminate its worker.
SELECT par.blocked_segment_worker('par_k') AS victim \gset
SELECT application_name LIKE 'insync par_k run % segment _/2' AS named_after_job_run_segment,
       backend_type, usename
  FROM pg_stat_activity WHERE pid = :victim;
SELECT pg_terminate_backend(:victim);
SELECT dblink_exec('locker', 'ROLLBACK');
SET client_min_messages = warning;
SELECT * FROM dblink_get_result('runner', false) AS t(status text);
SET client_min_messages = notice;
SELECT regexp_replace(dblink_error_message('runner'), '(run |sync_resume\()\d+', '\1N', 'g') AS runner_error;
SELECT * FROM dblink_get_result('runner') AS t(status text);
SELECT status, segments, error_message LIKE '%did not finish%' AS says_why
  FROM insync.runs WHERE job_name = 'par_k' ORDER BY run_id DESC LIMIT 1;
SELECT segment_no, state, error_message IS NOT NULL AS has_error FROM insync.segments
 WHERE run_id = (SELECT max(run_id) FROM insync.run_segments WHERE job_name = 'par_k') ORDER BY segment_no;
SELECT watermark = :'watermark_before' AS watermark_unmoved FROM insync.job_state WHERE job_name = 'par_k';
SELECT count(*) FILTER (WHERE d.v = 'new') > 0 AS some_new, count(*) FILTER (WHERE d.v = 'old') > 0 AS some_old
  FROM par.k_dst d;
-- The next call finishes the failed run's window first (as a run of its own), then syncs on.
SET client_min_messages = warning;
SELECT status, rows_read FROM sync_incremental('par_k');
SET client_min_messages = notice;
SELECT r.status, r.segments, r.resumes = f.run_id AS resumes_failed_run, r.window_high = f.window_high AS same_window,
       r.rows_read < 2000 AS only_unfinished_rows
  FROM insync.runs r JOIN insync.runs f ON f.job_name = r.job_name AND f.status = 'failed'
 WHERE r.job_name = 'par_k' AND r.resumes IS NOT NULL;
SELECT segment_no, state FROM insync.segments
 WHERE run_id = (SELECT max(run_id) FROM insync.run_segments WHERE job_name = 'par_k') ORDER BY segment_no;
SELECT (SELECT count(*) FROM (TABLE par.k_src EXCEPT TABLE par.k_dst) a) AS missing,
       (SELECT count(*) FROM (TABLE par.k_dst EXCEPT TABLE par.k_src) b) AS extra;
SELECT dblink_disconnect('locker');
SELECT dblink_disconnect('runner');
