-- More segments than worker slots: fewer workers share all the segments.
CREATE EXTENSION insync;
SET client_min_messages = warning;
CREATE TABLE src (id int PRIMARY KEY, v text, ts timestamptz NOT NULL);
INSERT INTO src SELECT g, md5(g::text), now() - interval '1 hour' FROM generate_series(1, 20000) g;
CREATE TABLE dst (LIKE src INCLUDING ALL);
SELECT job_name FROM sync_define('par_40', source => 'src', target => 'dst', key => '{id}', mode => 'full');
SELECT status, rows_read FROM sync_full('par_40', parallel => 40);
SELECT count(*) AS segments, count(*) FILTER (WHERE state = 'done') AS done,
       count(DISTINCT worker_pid) < 40 AS fewer_workers_than_segments
  FROM insync.segments WHERE run_id = (SELECT max(run_id) FROM insync.runs WHERE job_name = 'par_40');
SELECT count(*) AS differing FROM (TABLE src EXCEPT TABLE dst) d;
