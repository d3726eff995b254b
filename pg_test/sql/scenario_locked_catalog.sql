-- The caller locked insync.runs: a parallel run (whose plan the catalog writer commits)
-- runs serially; a failing run says it could not be recorded rather than waiting.
CREATE EXTENSION insync;
\i pg_test/setup/sessions.sql
CREATE SCHEMA life;
CREATE TABLE life.dim (id int PRIMARY KEY, name text);
INSERT INTO life.dim SELECT g, 'd' || g FROM generate_series(1, 10) g;
CREATE TABLE life.f_src (id int PRIMARY KEY, dim_id int, ts timestamptz NOT NULL);
CREATE TABLE life.facts (id int PRIMARY KEY, dim_id int REFERENCES life.dim, ts timestamptz);
INSERT INTO life.f_src SELECT g, g % 10 + 1, now() - interval '1 hour' FROM generate_series(1, 2000) g;
SELECT job_name FROM sync_define('life_facts', source => 'life.f_src', target => 'life.facts', key => '{id}',
                                 mode => 'full');
SELECT status, rows_inserted FROM sync_full('life_facts', parallel => 1);
UPDATE life.f_src SET dim_id = 1 WHERE id <= 10;
BEGIN;
LOCK TABLE insync.runs IN SHARE MODE;
SELECT status, rows_updated FROM sync_full('life_facts', parallel => 2);
COMMIT;
SELECT segments FROM insync.runs WHERE job_name = 'life_facts' ORDER BY run_id DESC LIMIT 1;
CREATE TABLE life.n_src (id int, v text, ts timestamptz NOT NULL);
CREATE TABLE life.n_dst (id int PRIMARY KEY, v text, ts timestamptz);
INSERT INTO life.n_src SELECT g, 'n', now() - interval '1 hour' FROM generate_series(1, 200000) g;
INSERT INTO life.n_src VALUES (NULL, 'no key', now() - interval '1 hour');
ANALYZE life.n_src;
SELECT job_name FROM sync_define('life_null', source => 'life.n_src', target => 'life.n_dst', key => '{id}',
                                 watermark => 'ts');
BEGIN;
LOCK TABLE insync.runs IN SHARE MODE;
SELECT status FROM sync_incremental('life_null', parallel => 1);
ROLLBACK;
-- Another session holds the lock: the writer waits, and a cancel (here a statement timeout)
-- stops it and returns at once.
SELECT scenario.connect('locker');
SELECT dblink_exec('locker', 'BEGIN');
SELECT dblink_exec('locker', 'LOCK TABLE insync.runs IN SHARE MODE');
SET statement_timeout = '3s';
SELECT status FROM sync_incremental('life_null', parallel => 1);
RESET statement_timeout;
SELECT dblink_exec('locker', 'ROLLBACK');
SELECT count(*) AS writers_left FROM pg_stat_activity WHERE backend_type = 'insync recorder';
