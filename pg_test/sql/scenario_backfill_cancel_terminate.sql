-- A backfill cancelled, then terminated, in the middle of a batch: the batches committed before
-- stay, the one in flight is rolled back (its run recorded as failed), and CALL sync_backfill
-- resumes after the last committed batch; at the end the target equals the source with no
-- duplicates, and a change made meanwhile reaches the target with the next incremental run.
-- The batch waits at a "gate" (a target trigger taking an advisory lock this session holds), so
-- the interruption always lands in the same batch.
\set VERBOSITY terse
CREATE EXTENSION insync;
\i pg_test/setup/sessions.sql
CREATE SCHEMA bfk;
CREATE TABLE bfk.src (id int PRIMARY KEY, v text, ts timestamptz NOT NULL);
INSERT INTO bfk.src SELECT g, 'v' || g, now() - interval '1 hour' FROM generate_series(1, 1000) g;
ANALYZE bfk.src;
-- No unique index on the target (delete+insert): a range merged twice would show as duplicates.
CREATE TABLE bfk.dst (id int, v text, ts timestamptz);
CREATE TABLE bfk.gate (id int);
CREATE FUNCTION bfk.wait_at_gate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT FROM bfk.gate g WHERE g.id = NEW.id) THEN
    PERFORM pg_catalog.pg_advisory_xact_lock(4242);
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER gate BEFORE INSERT ON bfk.dst FOR EACH ROW EXECUTE FUNCTION bfk.wait_at_gate();
SELECT job_name FROM sync_define('bfk', source => 'bfk.src', target => 'bfk.dst', key => '{id}',
                                 watermark => 'ts', backfill_batch => 200);
SELECT pg_advisory_lock(4242);
SELECT scenario.connect('runner');
SELECT pid AS runner_pid FROM dblink('runner', 'SELECT pg_backend_pid()') AS t(pid int) \gset

-- 1. Cancelled in batch 3 (keys 401-600, waiting at key 450).
INSERT INTO bfk.gate VALUES (450);
SELECT dblink_send_query('runner', 'CALL sync_backfill(''bfk'')');
SELECT scenario.wait_until(format('SELECT EXISTS (SELECT FROM pg_stat_activity WHERE pid = %s AND wait_event_type = ''Lock'')',
                              :runner_pid)) AS runner_waits;
SELECT pg_cancel_backend(:runner_pid);
SET client_min_messages = warning;
SELECT * FROM dblink_get_result('runner', false) AS t(status text);
SELECT * FROM dblink_get_result('runner') AS t(status text);
SET client_min_messages = notice;
SELECT backfill_state, backfill_batches, backfill_rows_done, status
  FROM insync.job_status WHERE job_name = 'bfk';
SELECT backfill_batch, status, rows_read, error_message FROM insync.runs WHERE job_name = 'bfk' ORDER BY run_id;
SELECT last_key FROM insync.backfills;
SELECT count(*) AS copied, max(id) AS up_to FROM bfk.dst;
-- While the backfill is unfinished, runs are refused.
SELECT * FROM sync_incremental('bfk');

-- 2. Terminated in batch 4 (keys 601-800, waiting at key 750): batch 3 commits first.
TRUNCATE bfk.gate;
INSERT INTO bfk.gate VALUES (750);
SELECT dblink_send_query('runner', 'CALL sync_backfill(''bfk'')');
SELECT scenario.wait_until(format('SELECT EXISTS (SELECT FROM pg_stat_activity WHERE pid = %s AND wait_event_type = ''Lock'')',
                              :runner_pid)) AS runner_waits;
SELECT pg_terminate_backend(:runner_pid);
SELECT scenario.wait_until(format('SELECT NOT EXISTS (SELECT FROM pg_stat_activity WHERE pid = %s)', :runner_pid)) AS runner_gone;
SELECT dblink_disconnect('runner');
SELECT backfill_state, backfill_batches, backfill_rows_done, status
  FROM insync.job_status WHERE job_name = 'bfk';
SELECT backfill_batch, status, rows_read, error_message FROM insync.runs WHERE job_name = 'bfk' ORDER BY run_id;
SELECT count(*) AS copied, max(id) AS up_to FROM bfk.dst;

-- A row the backfill already loaded changes meanwhile.
UPDATE bfk.src SET v = 'changed', ts = now() WHERE id = 100;

-- 3. Resumed: batches 4 and 5 (the last, open-ended one: no key lies after its bound).
SELECT pg_advisory_unlock(4242);
TRUNCATE bfk.gate;
CALL sync_backfill('bfk');
SELECT backfill_state, backfill_batches, backfill_rows_done, status
  FROM insync.job_status WHERE job_name = 'bfk';
SELECT backfill_batch, status, rows_read FROM insync.runs WHERE job_name = 'bfk' ORDER BY run_id;
SELECT count(*) AS target_rows, count(DISTINCT id) AS keys FROM bfk.dst;
SELECT (SELECT count(*) FROM (TABLE bfk.src EXCEPT TABLE bfk.dst) a) AS missing,
       (SELECT count(*) FROM (TABLE bfk.dst EXCEPT TABLE bfk.src) b) AS extra;
-- The change made during the backfill: the next incremental run brings it.
SELECT pg_sleep(1.1);
SELECT status, rows_read, rows_updated FROM sync_incremental('bfk');
SELECT (SELECT count(*) FROM (TABLE bfk.src EXCEPT TABLE bfk.dst) a) AS missing,
       (SELECT count(*) FROM (TABLE bfk.dst EXCEPT TABLE bfk.src) b) AS extra;
SELECT count(*) AS running_runs FROM insync.runs WHERE status = 'running';
