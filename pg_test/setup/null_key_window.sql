-- Shared fixture: a 200,001-row source (large enough for automatic parallelism) with one NULL
-- key, and an incremental job over it (schema life).
CREATE TABLE life.n_src (id int, v text, ts timestamptz NOT NULL);
CREATE TABLE life.n_dst (id int PRIMARY KEY, v text, ts timestamptz);
INSERT INTO life.n_src SELECT g, 'n', now() - interval '1 hour' FROM generate_series(1, 200000) g;
INSERT INTO life.n_src VALUES (NULL, 'no key', now() - interval '1 hour');
ANALYZE life.n_src;
SELECT job_name FROM sync_define('life_null', source => 'life.n_src', target => 'life.n_dst', key => '{id}',
                                 watermark => 'ts');
