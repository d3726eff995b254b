-- Two sessions at once (the second through dblink): a run of a job that is already running
-- is skipped; a row committed late by a transaction that began before a run is not lost.
SET client_min_messages = warning;
CREATE EXTENSION dblink;
CREATE TABLE src (id int PRIMARY KEY, v text, updated_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE dst (id int PRIMARY KEY, v text, updated_at timestamptz);
CREATE TABLE other_src (id int PRIMARY KEY, updated_at timestamptz);
CREATE TABLE other_dst (id int PRIMARY KEY, updated_at timestamptz);
INSERT INTO src SELECT g, 'v', now() - interval '1 hour' FROM generate_series(1, 100) g;
INSERT INTO other_src SELECT g, now() - interval '1 hour' FROM generate_series(1, 10) g;
SELECT job_name FROM sync_define('busy', source => 'src', target => 'dst', key => '{id}', watermark => 'updated_at');
SELECT job_name FROM sync_define('other', source => 'other_src', target => 'other_dst', key => '{id}', watermark => 'updated_at');

SELECT dblink_connect('second', format('host=127.0.0.1 port=%s dbname=%s user=postgres',
                                       inet_server_port(), current_database()));
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

-- Late commit: the second session starts a transaction and writes a row stamped now(), i.e.
-- at its start; it commits only after this session's next run.
SELECT dblink_exec('second', 'BEGIN');
SELECT dblink_exec('second', 'INSERT INTO src (id, v) VALUES (1000, ''late'')');
SELECT pg_sleep(1.2);
SELECT status, rows_inserted FROM sync_incremental('busy');
SELECT count(*) AS late_row_synced FROM dst WHERE id = 1000;
-- The watermark stopped below the open transaction's start, so the row is not skipped.
SELECT (SELECT watermark::timestamptz FROM insync.job_state WHERE job_name = 'busy')
     < (SELECT updated_at FROM dblink('second', 'SELECT updated_at FROM src WHERE id = 1000')
          AS t(updated_at timestamptz)) AS watermark_below_late_row;
SELECT dblink_exec('second', 'COMMIT');
SELECT pg_sleep(1.2);
SELECT status, rows_inserted FROM sync_incremental('busy');
SELECT v FROM dst WHERE id = 1000;
SELECT dblink_disconnect('second');
