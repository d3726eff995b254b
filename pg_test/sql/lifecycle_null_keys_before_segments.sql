-- NULL keys in a window large enough for automatic parallelism (200,001 rows): refused
-- before any segment starts, so nothing is written, and the run says so.
CREATE EXTENSION insync;
CREATE SCHEMA life;
CREATE TABLE life.n_src (id int, v text, ts timestamptz NOT NULL);
CREATE TABLE life.n_dst (id int PRIMARY KEY, v text, ts timestamptz);
INSERT INTO life.n_src SELECT g, 'n', now() - interval '1 hour' FROM generate_series(1, 200000) g;
INSERT INTO life.n_src VALUES (NULL, 'no key', now() - interval '1 hour');
ANALYZE life.n_src;
SELECT job_name FROM sync_define('life_null', source => 'life.n_src', target => 'life.n_dst', key => '{id}',
                                 watermark => 'ts');
SELECT status FROM sync_incremental('life_null');
SELECT status FROM sync_incremental('life_null', parallel => 4);
SELECT count(*) AS rows_written FROM life.n_dst;
SELECT status, rows_inserted, error_message FROM insync.runs WHERE job_name = 'life_null' ORDER BY run_id;
