-- The catalog views show what the tables show: eve sees none of tro's jobs, runs or segments;
-- a job eve cannot see answers like a job that does not exist; she cannot resume tro's run
-- nor write quarantine rows.
\i pg_test/setup/tro.sql
SELECT status, rows_read FROM sync_full('by_filter', parallel => 2);
SET ROLE eve;
SELECT count(*) AS jobs, (SELECT count(*) FROM insync.job_status) AS status_rows,
       (SELECT count(*) FROM insync.segments) AS segment_rows FROM insync.jobs;
SELECT * FROM sync_run('by_filter');
SELECT * FROM sync_run('no_such_job');
RESET ROLE;
SELECT set_config('insync_test.run', max(run_id)::text, false) IS NOT NULL AS remembered
  FROM insync.runs WHERE job_name = 'by_filter';
SET ROLE eve;
DO $$ BEGIN PERFORM sync_resume(current_setting('insync_test.run')::bigint);
EXCEPTION WHEN OTHERS THEN
  RAISE WARNING '%: %', SQLSTATE, regexp_replace(SQLERRM, '[0-9]+', 'N');
END $$;
-- Quarantine rows can only be written by insync, for a batch it opened in this transaction.
INSERT INTO insync.quarantine (batch_id, table_oid, table_name, key, row_data, reason, removed_by)
VALUES (1, 'tro.dst', 'tro.dst', '{}', '{"id": 999}', 'identical', 'eve');
RESET ROLE;
