-- What a run goes through: rolled back, its session terminated, a lock its own caller holds,
-- a locked catalog, a sequence value drawn before the run, NULL keys in a parallel window.
-- Every wait below waits for a state (a backend waiting on a lock, a backend gone), with a
-- generous bound, never for a fixed time.
CREATE EXTENSION IF NOT EXISTS dblink;
CREATE SCHEMA life;
CREATE FUNCTION life.wait_until(condition text) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
  met boolean;
BEGIN
  FOR i IN 1..1200 LOOP
    PERFORM pg_stat_clear_snapshot();
    EXECUTE condition INTO met;
    IF met THEN RETURN true; END IF;
    PERFORM pg_sleep(0.1);
  END LOOP;
  RETURN false;
END $$;
CREATE FUNCTION life.connect(name text) RETURNS text LANGUAGE sql AS $$
  SELECT dblink_connect(name, format('host=127.0.0.1 port=%s dbname=%s user=postgres',
                                     inet_server_port(), current_database()))
$$;

-- 1. A parallel run rolled back by its caller: its segments committed, its run row said
-- running forever. Now it shows as interrupted, and the next run closes it (failed, finished,
-- with the rows its segments wrote) and completes its window.
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

-- 2. A serial run whose session is terminated mid-run leaves a record.
CREATE TABLE life.s_dst (id int PRIMARY KEY, v text, ts timestamptz);
SELECT job_name FROM sync_define('life_serial', source => 'life.src', target => 'life.s_dst', key => '{id}',
                                 watermark => 'ts', parallel => '1');
SELECT life.connect('runner');
SELECT pid AS runner_pid FROM dblink('runner', 'SELECT pg_backend_pid()') AS t(pid int) \gset
BEGIN;
LOCK TABLE life.s_dst IN EXCLUSIVE MODE;
SELECT dblink_send_query('runner', 'SELECT status FROM sync_incremental(''life_serial'')');
SELECT life.wait_until(format('SELECT EXISTS (SELECT FROM pg_stat_activity WHERE pid = %s AND wait_event_type = ''Lock'')',
                              :runner_pid)) AS runner_waits;
SELECT pg_terminate_backend(:runner_pid);
SELECT life.wait_until(format('SELECT NOT EXISTS (SELECT FROM pg_stat_activity WHERE pid = %s)', :runner_pid)) AS runner_gone;
COMMIT;
SELECT dblink_disconnect('runner');
SELECT status, finished_at IS NOT NULL AS finished, error_message, rows_inserted
  FROM insync.runs WHERE job_name = 'life_serial';
SELECT count(*) AS rows_written FROM life.s_dst;

-- 3. The caller holds a lock a segment worker needs (fact rows reference a dimension row the
-- caller locked): the worker would wait for the caller, which waits for it. The segments it
-- could not merge run in the caller's session instead.
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

-- 4. The caller locked insync.runs: a parallel run (whose plan the catalog writer commits)
-- runs serially; a failing run says it could not be recorded rather than waiting.
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
SELECT life.connect('locker');
SELECT dblink_exec('locker', 'BEGIN');
SELECT dblink_exec('locker', 'LOCK TABLE insync.runs IN SHARE MODE');
SET statement_timeout = '3s';
SELECT status FROM sync_incremental('life_null', parallel => 1);
RESET statement_timeout;
SELECT dblink_exec('locker', 'ROLLBACK');
SELECT count(*) AS writers_left FROM pg_stat_activity WHERE backend_type = 'insync recorder';

-- 5. NULL keys in a window large enough for automatic parallelism (200,001 rows): refused
-- before any segment starts, so nothing is written, and the run says so.
SELECT status FROM sync_incremental('life_null');
SELECT status FROM sync_incremental('life_null', parallel => 4);
SELECT count(*) AS rows_written FROM life.n_dst;
SELECT status, rows_inserted, error_message FROM insync.runs WHERE job_name = 'life_null' ORDER BY run_id;

-- 6. An integer watermark filled from a sequence: a value drawn before the run and committed
-- after a higher one is not skipped (the run waits for transactions holding sequence values).
CREATE TABLE life.events (id bigserial PRIMARY KEY, v text);
CREATE TABLE life.events_copy (id bigint PRIMARY KEY, v text);
INSERT INTO life.events (v) SELECT 'e' FROM generate_series(1, 10);
SELECT job_name FROM sync_define('life_events', source => 'life.events', target => 'life.events_copy',
                                 key => '{id}', watermark => 'id');
SELECT status, rows_inserted FROM sync_incremental('life_events');
SELECT life.connect('writer');
SELECT life.connect('runner');
SELECT pid AS runner_pid FROM dblink('runner', 'SELECT pg_backend_pid()') AS t(pid int) \gset
SELECT dblink_exec('writer', 'BEGIN');
SELECT * FROM dblink('writer', 'SELECT nextval(''life.events_id_seq'')') AS t(drawn bigint);
INSERT INTO life.events (v) VALUES ('committed first');
SELECT dblink_send_query('runner', 'SELECT status, rows_inserted FROM sync_incremental(''life_events'')');
SELECT life.wait_until(format('SELECT EXISTS (SELECT FROM pg_stat_activity WHERE pid = %s AND wait_event_type = ''Lock'')',
                              :runner_pid)) AS run_waits_for_the_holder;
SELECT dblink_exec('writer', 'INSERT INTO life.events (id, v) VALUES (11, ''committed late'')');
SELECT dblink_exec('writer', 'COMMIT');
SELECT * FROM dblink_get_result('runner') AS t(status text, rows_inserted bigint);
SELECT id, v FROM life.events_copy WHERE id > 10 ORDER BY id;
SELECT dblink_disconnect('writer');
SELECT dblink_disconnect('runner');
-- Without a sequence default a run cannot see values held by open transactions: said at
-- definition, with the remedy.
CREATE TABLE life.versions (id int PRIMARY KEY, version bigint NOT NULL);
CREATE TABLE life.versions_copy (id int PRIMARY KEY, version bigint);
SELECT job_name FROM sync_define('life_versions', source => 'life.versions', target => 'life.versions_copy',
                                 key => '{id}', watermark => 'version');
SELECT job_name FROM sync_define('life_versions2', source => 'life.versions', target => 'life.versions_copy',
                                 key => '{id}', watermark => 'version', lookback => '100');

SELECT sync_drop(j) FROM unnest('{life_par,life_serial,life_facts,life_null,life_events,life_versions,life_versions2}'::text[]) j;
DROP SCHEMA life CASCADE;
