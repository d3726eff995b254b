-- Cancelling the caller (statement timeout) stops its workers and leaves the run failed; the
-- next call completes the window.
\i pg_test/setup/parallel_k.sql
SELECT dblink_exec('locker', 'BEGIN');
SELECT * FROM dblink('locker', 'SELECT id FROM par.k_dst WHERE id = 1 FOR UPDATE') AS t(id int);
SET statement_timeout = '3s';
SELECT status FROM sync_incremental('par_k');
RESET statement_timeout;
SELECT count(*) AS workers_left FROM pg_stat_activity WHERE application_name LIKE 'insync par_k run %';
SELECT status, error_message FROM insync.runs WHERE job_name = 'par_k' ORDER BY run_id DESC LIMIT 1;
SELECT dblink_exec('locker', 'ROLLBACK');
SET client_min_messages = warning;
SELECT status FROM sync_incremental('par_k');
SET client_min_messages = notice;
SELECT (SELECT count(*) FROM (TABLE par.k_src EXCEPT TABLE par.k_dst) a) AS missing;
SELECT dblink_disconnect('locker');
SELECT dblink_disconnect('runner');
