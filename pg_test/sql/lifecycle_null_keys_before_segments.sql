-- NULL keys in a window large enough for automatic parallelism (200,001 rows): refused
-- before any segment starts, so nothing is written, and the run says so.
CREATE EXTENSION insync;
CREATE SCHEMA life;
\i pg_test/setup/null_key_window.sql
SELECT status FROM sync_incremental('life_null');
SELECT status FROM sync_incremental('life_null', parallel => 4);
SELECT count(*) AS rows_written FROM life.n_dst;
SELECT status, rows_inserted, error_message FROM insync.runs WHERE job_name = 'life_null' ORDER BY run_id;
