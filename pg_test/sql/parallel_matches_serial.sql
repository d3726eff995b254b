-- Parallel runs: segment workers (background workers connected as the job owner) each merge a
-- slice of the window and commit it with its checkpoint. The same job serially and with 4
-- segments leaves identical targets, for incremental and full runs; a per-call degree
-- overrides the job's; full runs split plain tables by block ranges.
CREATE EXTENSION insync;
SET client_min_messages = notice;
CREATE SCHEMA par;
CREATE TABLE par.src (id int PRIMARY KEY, grp int, v text, doc jsonb, ts timestamptz NOT NULL);
INSERT INTO par.src SELECT g, g % 13, md5(g::text), jsonb_build_object('g', g), now() - interval '2 hours'
  FROM generate_series(1, 20000) g;
CREATE TABLE par.serial_dst (LIKE par.src INCLUDING ALL);
CREATE TABLE par.parallel_dst (LIKE par.src INCLUDING ALL);
SELECT job_name FROM sync_define('par_serial', source => 'par.src', target => 'par.serial_dst',
                                 key => '{id}', watermark => 'ts', parallel => '1');
SELECT job_name FROM sync_define('par_4', source => 'par.src', target => 'par.parallel_dst',
                                 key => '{id}', watermark => 'ts', parallel => '4');
SELECT status, rows_read, rows_inserted FROM sync_incremental('par_serial');
SELECT status, rows_read, rows_inserted FROM sync_incremental('par_4');
SELECT segment_no, slice, state, rows_inserted > 0 AS merged_rows, finished_by = run_id AS own_run
  FROM insync.segments WHERE job_name = 'par_4' ORDER BY segment_no;
SELECT segments, rows_read FROM insync.runs WHERE job_name = 'par_4';
-- Changes and new rows after the first runs (stamped inside the next window).
UPDATE par.src SET v = v || '!', doc = doc || '{"changed": true}', ts = now() - interval '0.9 seconds' WHERE id % 5 = 0;
INSERT INTO par.src SELECT g, g % 13, md5(g::text), '{}', now() - interval '0.9 seconds'
  FROM generate_series(20001, 21000) g;
SELECT pg_sleep(1.1);
SELECT status, rows_read, rows_inserted, rows_updated FROM sync_incremental('par_serial');
SELECT status, rows_read, rows_inserted, rows_updated FROM sync_incremental('par_4');
DELETE FROM par.src WHERE id % 11 = 0;
SELECT status, rows_read, rows_updated, rows_deleted FROM sync_full('par_serial');
SELECT status, rows_read, rows_updated, rows_deleted FROM sync_full('par_4', parallel => 2);
SELECT segment_no, regexp_replace(slice, '\d+', 'N', 'g') AS slice, state FROM insync.segments
 WHERE run_id = (SELECT max(run_id) FROM insync.runs WHERE job_name = 'par_4') ORDER BY segment_no;
SELECT (SELECT count(*) FROM (TABLE par.serial_dst EXCEPT TABLE par.parallel_dst) a) AS only_serial,
       (SELECT count(*) FROM (TABLE par.parallel_dst EXCEPT TABLE par.serial_dst) b) AS only_parallel,
       (SELECT count(*) FROM (TABLE par.src EXCEPT TABLE par.parallel_dst) c) AS missing_from_target;
