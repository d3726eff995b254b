-- A parallel run rolled back by its caller: its segments committed, its run row said
-- running forever. Now it shows as interrupted, and the next run closes it (failed, finished,
-- with the rows its segments wrote) and completes its window.
CREATE EXTENSION insync;
CREATE SCHEMA life;
CREATE TABLE life.src (id int PRIMARY KEY, v text, ts timestamptz NOT NULL);
CREATE TABLE life.dst (id int PRIMARY KEY, v text, ts timestamptz);
INSERT INTO life.src SELECT g, 'a', now() - interval '1 hour' FROM generate_series(1, 2000) g;
SELECT job_name FROM sync_define('life_par', source => 'life.src', target => 'life.dst', key => '{id}',
                                 watermark => 'ts', parallel => '2');
BEGIN;
SELECT status, rows_inserted FROM sync_incremental('life_par');
ROLLBACK;
SELECT status FROM insync.job_status WHERE job_name = 'life_par';
SELECT status, finished_at IS NULL AS unfinished FROM insync.runs WHERE job_name = 'life_par';
SET client_min_messages = warning;
SELECT status FROM sync_incremental('life_par');
RESET client_min_messages;
SELECT status, finished_at IS NOT NULL AS finished, error_message, rows_inserted, resumes IS NOT NULL AS resumes
  FROM insync.runs WHERE job_name = 'life_par' ORDER BY run_id;
SELECT status FROM insync.job_status WHERE job_name = 'life_par';
SELECT count(*) AS missing FROM (TABLE life.src EXCEPT TABLE life.dst) d;
