-- The caller holds a lock a segment worker needs (fact rows reference a dimension row the
-- caller locked): the worker would wait for the caller, which waits for it. The segments it
-- could not merge run in the caller's session instead.
CREATE EXTENSION insync;
CREATE SCHEMA life;
CREATE TABLE life.dim (id int PRIMARY KEY, name text);
INSERT INTO life.dim SELECT g, 'd' || g FROM generate_series(1, 10) g;
CREATE TABLE life.f_src (id int PRIMARY KEY, dim_id int, ts timestamptz NOT NULL);
CREATE TABLE life.facts (id int PRIMARY KEY, dim_id int REFERENCES life.dim, ts timestamptz);
INSERT INTO life.f_src SELECT g, g % 10 + 1, now() - interval '1 hour' FROM generate_series(1, 2000) g;
SELECT job_name FROM sync_define('life_facts', source => 'life.f_src', target => 'life.facts', key => '{id}',
                                 mode => 'full');
BEGIN;
SELECT id FROM life.dim WHERE id = 6 FOR UPDATE;
SELECT status, rows_read, rows_inserted FROM sync_full('life_facts', parallel => 2);
COMMIT;
SELECT segments FROM insync.runs WHERE job_name = 'life_facts' ORDER BY run_id DESC LIMIT 1;
SELECT count(*) AS facts FROM life.facts;
