-- Parallel runs: segment workers (background workers connected as the job owner) each merge
-- a slice of the window and commit it with its checkpoint. Workers need committed data, so
-- this is a SQL session rather than a #[pg_test].
SET client_min_messages = notice;
CREATE EXTENSION IF NOT EXISTS insync;
CREATE EXTENSION IF NOT EXISTS dblink;
CREATE SCHEMA par;

-- 1. The same job serially and with 4 segments leaves identical targets.
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
-- A per-call degree overrides the job's; full runs split plain tables by block ranges.
DELETE FROM par.src WHERE id % 11 = 0;
SELECT status, rows_read, rows_updated, rows_deleted FROM sync_full('par_serial');
SELECT status, rows_read, rows_updated, rows_deleted FROM sync_full('par_4', parallel => 2);
SELECT segment_no, regexp_replace(slice, '\d+', 'N', 'g') AS slice, state FROM insync.segments
 WHERE run_id = (SELECT max(run_id) FROM insync.runs WHERE job_name = 'par_4') ORDER BY segment_no;
SELECT (SELECT count(*) FROM (TABLE par.serial_dst EXCEPT TABLE par.parallel_dst) a) AS only_serial,
       (SELECT count(*) FROM (TABLE par.parallel_dst EXCEPT TABLE par.serial_dst) b) AS only_parallel,
       (SELECT count(*) FROM (TABLE par.src EXCEPT TABLE par.parallel_dst) c) AS missing_from_target;

-- 2. A partitioned source: one segment per partition.
CREATE TABLE par.sales (id int, region text, amount numeric, ts timestamptz NOT NULL, PRIMARY KEY (id, region))
  PARTITION BY LIST (region);
CREATE TABLE par.sales_eu PARTITION OF par.sales FOR VALUES IN ('eu');
CREATE TABLE par.sales_us PARTITION OF par.sales FOR VALUES IN ('us');
CREATE TABLE par.sales_asia PARTITION OF par.sales FOR VALUES IN ('asia');
INSERT INTO par.sales SELECT g, (ARRAY['eu', 'us', 'asia'])[1 + g % 3], g * 1.5, now() - interval '1 hour'
  FROM generate_series(1, 3000) g;
CREATE TABLE par.sales_dst (id int, region text, amount numeric, ts timestamptz, PRIMARY KEY (id, region));
SELECT job_name FROM sync_define('par_sales', source => 'par.sales', target => 'par.sales_dst',
                                 key => '{id,region}', watermark => 'ts');
SELECT status, rows_read, rows_inserted FROM sync_incremental('par_sales', parallel => 2);
SELECT segment_no, slice, state, rows_read FROM insync.segments WHERE job_name = 'par_sales' ORDER BY segment_no;
SELECT count(*) AS differing FROM (TABLE par.sales EXCEPT TABLE par.sales_dst) d;

-- 3. A worker killed mid-run: the run fails, the watermark stays, and the next call finishes
-- the unfinished segment over the same window. A second session holds one target row locked,
-- so the segment holding that key waits; a third runs the sync.
-- The job belongs to an ordinary role: its workers connect as that role, not as a superuser.
CREATE ROLE par_owner LOGIN;
GRANT USAGE ON SCHEMA par TO par_owner;
CREATE TABLE par.k_src (id int PRIMARY KEY, v text, ts timestamptz NOT NULL);
CREATE TABLE par.k_dst (id int PRIMARY KEY, v text, ts timestamptz);
GRANT SELECT ON par.k_src TO par_owner;
GRANT SELECT, INSERT, UPDATE, DELETE ON par.k_dst TO par_owner;
INSERT INTO par.k_src SELECT g, 'old', now() - interval '1 hour' FROM generate_series(1, 2000) g;
SET ROLE par_owner;
SELECT job_name FROM sync_define('par_k', source => 'par.k_src', target => 'par.k_dst', key => '{id}',
                                 watermark => 'ts', parallel => '2');
RESET ROLE;
SELECT status, rows_inserted FROM sync_incremental('par_k');
CREATE FUNCTION par.blocked_segment_worker(job text) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
  waiting int;
BEGIN
  FOR i IN 1..600 LOOP
    PERFORM pg_stat_clear_snapshot();
    SELECT pid INTO waiting FROM pg_stat_activity
     WHERE application_name LIKE 'insync ' || job || ' run % segment %' AND wait_event_type = 'Lock';
    IF waiting IS NOT NULL AND EXISTS (
         SELECT 1 FROM insync.run_segments s WHERE s.job_name = job AND s.status = 'done'
            AND s.run_id = (SELECT max(run_id) FROM insync.run_segments WHERE job_name = job)) THEN
      RETURN waiting;
    END IF;
    PERFORM pg_sleep(0.1);
  END LOOP;
  RETURN NULL;
END $$;
CREATE FUNCTION par.change_all_rows(val text) RETURNS void LANGUAGE sql AS $$
  UPDATE par.k_src SET v = val, ts = now() - interval '0.9 seconds';
  SELECT pg_sleep(1.1);
$$;
SELECT par.change_all_rows('new');
SELECT dblink_connect('locker', format('host=127.0.0.1 port=%s dbname=%s user=postgres', inet_server_port(), current_database()));
SELECT dblink_connect('runner', format('host=127.0.0.1 port=%s dbname=%s user=postgres', inet_server_port(), current_database()));
SELECT dblink_exec('locker', 'BEGIN');
SELECT * FROM dblink('locker', 'SELECT id FROM par.k_dst WHERE id = 1 FOR UPDATE') AS t(id int);
SELECT watermark AS watermark_before FROM insync.job_state WHERE job_name = 'par_k' \gset
SELECT dblink_send_query('runner', 'SELECT status FROM sync_incremental(''par_k'')');
-- One segment commits; the other waits on the locked row. Terminate its worker.
SELECT par.blocked_segment_worker('par_k') AS victim \gset
SELECT application_name LIKE 'insync par_k run % segment _/2' AS named_after_job_run_segment,
       backend_type, usename
  FROM pg_stat_activity WHERE pid = :victim;
SELECT pg_terminate_backend(:victim);
SELECT dblink_exec('locker', 'ROLLBACK');
SET client_min_messages = warning;
SELECT * FROM dblink_get_result('runner', false) AS t(status text);
SET client_min_messages = notice;
SELECT regexp_replace(dblink_error_message('runner'), '(run |sync_resume\()\d+', '\1N', 'g') AS runner_error;
SELECT * FROM dblink_get_result('runner') AS t(status text);
SELECT status, segments, error_message LIKE '%did not finish%' AS says_why
  FROM insync.runs WHERE job_name = 'par_k' ORDER BY run_id DESC LIMIT 1;
SELECT segment_no, state, error_message IS NOT NULL AS has_error FROM insync.segments
 WHERE run_id = (SELECT max(run_id) FROM insync.run_segments WHERE job_name = 'par_k') ORDER BY segment_no;
SELECT watermark = :'watermark_before' AS watermark_unmoved FROM insync.job_state WHERE job_name = 'par_k';
SELECT count(*) FILTER (WHERE d.v = 'new') > 0 AS some_new, count(*) FILTER (WHERE d.v = 'old') > 0 AS some_old
  FROM par.k_dst d;
-- The next call finishes the failed run's window first (as a run of its own), then syncs on.
SET client_min_messages = warning;
SELECT status, rows_read FROM sync_incremental('par_k');
SET client_min_messages = notice;
SELECT r.status, r.segments, r.resumes = f.run_id AS resumes_failed_run, r.window_high = f.window_high AS same_window,
       r.rows_read < 2000 AS only_unfinished_rows
  FROM insync.runs r JOIN insync.runs f ON f.job_name = r.job_name AND f.status = 'failed'
 WHERE r.job_name = 'par_k' AND r.resumes IS NOT NULL;
SELECT segment_no, state FROM insync.segments
 WHERE run_id = (SELECT max(run_id) FROM insync.run_segments WHERE job_name = 'par_k') ORDER BY segment_no;
SELECT (SELECT count(*) FROM (TABLE par.k_src EXCEPT TABLE par.k_dst) a) AS missing,
       (SELECT count(*) FROM (TABLE par.k_dst EXCEPT TABLE par.k_src) b) AS extra;

-- The same with a real SIGTERM from outside the database, resumed by sync_resume(run_id).
SELECT par.change_all_rows('newer');
SELECT dblink_exec('locker', 'BEGIN');
SELECT * FROM dblink('locker', 'SELECT id FROM par.k_dst WHERE id = 1 FOR UPDATE') AS t(id int);
SELECT dblink_send_query('runner', 'SELECT status FROM sync_incremental(''par_k'')');
SELECT par.blocked_segment_worker('par_k') AS victim \gset
SELECT set_config('par.victim', :'victim', false) IS NOT NULL AS victim_found;
DO $$ BEGIN
  -- The program reads all of COPY's output before it signals: a program that exits first
  -- makes COPY fail with a broken pipe.
  EXECUTE format('COPY (SELECT 1) TO PROGRAM %L', 'cat >/dev/null; kill -TERM ' || current_setting('par.victim'));
END $$;
SELECT dblink_exec('locker', 'ROLLBACK');
SET client_min_messages = warning;
SELECT * FROM dblink_get_result('runner', false) AS t(status text);
SELECT * FROM dblink_get_result('runner') AS t(status text);
SET client_min_messages = notice;
SELECT max(run_id) AS failed_run FROM insync.runs WHERE job_name = 'par_k' AND status = 'failed' \gset
SELECT status, segments FROM insync.runs WHERE run_id = :failed_run;
SELECT status, rows_read < 2000 AS only_unfinished_rows FROM sync_resume(:failed_run);
SELECT (SELECT count(*) FROM (TABLE par.k_src EXCEPT TABLE par.k_dst) a) AS missing,
       (SELECT count(*) FROM (TABLE par.k_dst EXCEPT TABLE par.k_src) b) AS extra;
-- Nothing left to resume (the run id in the message varies with the suite, hence the DO).
SELECT set_config('par.failed_run', :'failed_run', false) IS NOT NULL AS noted;
DO $$ BEGIN
  PERFORM sync_resume(current_setting('par.failed_run')::bigint);
EXCEPTION WHEN object_not_in_prerequisite_state THEN
  RAISE NOTICE '%', regexp_replace(SQLERRM, '\d+', 'N');
END $$;
SELECT * FROM sync_resume(-1);

-- 4. Cancelling the caller (statement timeout) stops its workers and leaves the run failed.
SELECT par.change_all_rows('newest');
SELECT dblink_exec('locker', 'BEGIN');
SELECT * FROM dblink('locker', 'SELECT id FROM par.k_dst WHERE id = 1 FOR UPDATE') AS t(id int);
SET statement_timeout = '3s';
SELECT status FROM sync_incremental('par_k');
RESET statement_timeout;
SELECT count(*) AS workers_left FROM pg_stat_activity WHERE application_name LIKE 'insync par_k run %';
SELECT status, error_message FROM insync.runs WHERE job_name = 'par_k' ORDER BY run_id DESC LIMIT 1;
SELECT dblink_exec('locker', 'ROLLBACK');
SET client_min_messages = warning;
SELECT status FROM sync_incremental('par_k');
SET client_min_messages = notice;
SELECT (SELECT count(*) FROM (TABLE par.k_src EXCEPT TABLE par.k_dst) a) AS missing;

-- 5. A caller that already wrote to the target stays serial (workers would wait for it).
BEGIN;
UPDATE par.k_dst SET v = v WHERE id = 2;
SELECT status FROM sync_incremental('par_k', parallel => 2);
COMMIT;
SELECT segments IS NULL AS serial FROM insync.runs WHERE job_name = 'par_k' ORDER BY run_id DESC LIMIT 1;

-- 6. More segments than worker slots: fewer workers share all the segments.
SET client_min_messages = warning;
SELECT status, rows_read FROM sync_full('par_4', parallel => 40);
SET client_min_messages = notice;
SELECT count(*) AS segments, count(*) FILTER (WHERE state = 'done') AS done,
       count(DISTINCT worker_pid) < 40 AS fewer_workers_than_segments
  FROM insync.segments WHERE run_id = (SELECT max(run_id) FROM insync.runs WHERE job_name = 'par_4');
SELECT count(*) AS differing FROM (TABLE par.src EXCEPT TABLE par.parallel_dst) d;

-- 7. Bad degrees are refused before anything runs.
SELECT * FROM sync_incremental('par_k', parallel => 0);
SELECT * FROM sync_alter('par_k', parallel => 'lots');
SELECT job_name FROM sync_alter('par_k', parallel => 'auto');
SELECT parallel FROM insync.jobs WHERE job_name = 'par_k';

SELECT dblink_disconnect('locker');
SELECT dblink_disconnect('runner');
