-- A caller that already wrote to the target stays serial (workers would wait for it).
CREATE EXTENSION insync;
SET client_min_messages = notice;
CREATE TABLE src (id int PRIMARY KEY, v text, ts timestamptz NOT NULL);
CREATE TABLE dst (id int PRIMARY KEY, v text, ts timestamptz);
INSERT INTO src SELECT g, 'v', now() - interval '1 hour' FROM generate_series(1, 2000) g;
SELECT job_name FROM sync_define('par_k', source => 'src', target => 'dst', key => '{id}', watermark => 'ts',
                                 parallel => '2');
SELECT status, rows_inserted FROM sync_incremental('par_k');
UPDATE src SET v = 'new', ts = now() - interval '0.9 seconds';
SELECT pg_sleep(1.1);
BEGIN;
UPDATE dst SET v = v WHERE id = 2;
SELECT status, rows_updated FROM sync_incremental('par_k', parallel => 2);
COMMIT;
SELECT segments IS NULL AS serial FROM insync.runs WHERE job_name = 'par_k' ORDER BY run_id DESC LIMIT 1;
SELECT count(*) AS missing FROM (TABLE src EXCEPT TABLE dst) d;
