-- Two sessions (the second through dblink): a run of a job that is already running is skipped
-- at once and does no work; a different job runs side by side.
CREATE EXTENSION insync;
SET client_min_messages = warning;
\i pg_test/setup/sessions.sql
CREATE TABLE src (id int PRIMARY KEY, v text, updated_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE dst (id int PRIMARY KEY, v text, updated_at timestamptz);
CREATE TABLE other_src (id int PRIMARY KEY, updated_at timestamptz);
CREATE TABLE other_dst (id int PRIMARY KEY, updated_at timestamptz);
INSERT INTO src SELECT g, 'v', now() - interval '1 hour' FROM generate_series(1, 100) g;
INSERT INTO other_src SELECT g, now() - interval '1 hour' FROM generate_series(1, 10) g;
SELECT job_name FROM sync_define('busy', source => 'src', target => 'dst', key => '{id}', watermark => 'updated_at');
SELECT job_name FROM sync_define('other', source => 'other_src', target => 'other_dst', key => '{id}', watermark => 'updated_at');
SELECT scenario.connect('second');
-- The second session runs 'busy' inside an open transaction: it holds the job.
SELECT dblink_exec('second', 'BEGIN');
SELECT * FROM dblink('second', 'SELECT status, rows_inserted FROM sync_incremental(''busy'')')
  AS t(status text, rows_inserted bigint);
SELECT job_name, status FROM insync.job_status WHERE job_name = 'busy';
-- This session's call returns at once, skipped, and does no work.
SELECT status, rows_read, rows_inserted FROM sync_incremental('busy');
SELECT count(*) AS rows_in_dst FROM dst;
-- A different job runs side by side.
SELECT status, rows_inserted FROM sync_incremental('other');
SELECT dblink_exec('second', 'COMMIT');
SELECT count(*) AS rows_in_dst FROM dst;
SELECT status, count(*) FROM insync.runs WHERE job_name = 'busy' GROUP BY status ORDER BY status;
SELECT dblink_disconnect('second');
