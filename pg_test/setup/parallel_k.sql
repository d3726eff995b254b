-- Shared fixture for parallel scenarios: a 2,000-row job owned by an ordinary role (its segment
-- workers connect as that role), synced once, then every row changed; helpers to find the
-- segment worker that waits on a locked row, and dblink sessions 'locker' and 'runner'.
CREATE EXTENSION insync;
SET client_min_messages = notice;
\i pg_test/setup/sessions.sql
CREATE SCHEMA par;
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
-- The segment worker of the job's latest run that waits on a lock, once another segment is done.
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
-- Changes every row, stamped inside the next window, and waits out the start margin.
CREATE FUNCTION par.change_all_rows(val text) RETURNS void LANGUAGE sql AS $$
  UPDATE par.k_src SET v = val, ts = now() - interval '0.9 seconds';
  SELECT pg_sleep(1.1);
$$;
SELECT par.change_all_rows('new');
SELECT scenario.connect('locker');
SELECT scenario.connect('runner');
