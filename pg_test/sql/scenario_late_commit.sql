-- A row committed late by a transaction that began before a run is not lost: the second
-- session writes a row stamped now(), i.e. at its start, and commits only after this
-- session's next run.
CREATE EXTENSION insync;
SET client_min_messages = warning;
\i pg_test/setup/sessions.sql
CREATE TABLE src (id int PRIMARY KEY, v text, updated_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE dst (id int PRIMARY KEY, v text, updated_at timestamptz);
INSERT INTO src SELECT g, 'v', now() - interval '1 hour' FROM generate_series(1, 100) g;
SELECT job_name FROM sync_define('busy', source => 'src', target => 'dst', key => '{id}', watermark => 'updated_at');
SELECT status, rows_inserted FROM sync_incremental('busy');
SELECT scenario.connect('second');
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
