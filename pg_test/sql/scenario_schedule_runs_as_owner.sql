-- A job scheduled with sync_define(..., schedule => ...) runs under pg_cron as its owner: pg_cron
-- connects as the owner (not as the superuser who installed pg_cron), the job's code runs as
-- the owner, and job_status shows the outcome of the last scheduled run.
CREATE EXTENSION insync;
SET client_min_messages = warning;
CREATE EXTENSION pg_cron;
CREATE ROLE sched_owner LOGIN;
CREATE SCHEMA sched AUTHORIZATION sched_owner;
GRANT USAGE ON SCHEMA cron TO sched_owner;
SET ROLE sched_owner;
-- The filter records who runs it: the current and the session user (who connected).
CREATE TABLE sched.log (ran_as text, connected_as text);
CREATE FUNCTION sched.spy() RETURNS boolean LANGUAGE plpgsql AS $f$
BEGIN
  INSERT INTO sched.log VALUES (current_user, session_user);
  RETURN true;
END $f$;
CREATE TABLE sched.src (id int PRIMARY KEY, ts timestamptz NOT NULL);
CREATE TABLE sched.dst (id int PRIMARY KEY, ts timestamptz);
CREATE TABLE sched.bad (id int, ts timestamptz NOT NULL);
INSERT INTO sched.src SELECT g, now() - interval '1 hour' FROM generate_series(1, 20) g;
INSERT INTO sched.bad VALUES (NULL, now() - interval '1 hour');
SELECT job_name FROM sync_define('sched_ok', source => 'sched.src', target => 'sched.dst', key => '{id}',
       watermark => 'ts', source_filter => 'sched.spy()', schedule => '* * * * *');
SELECT job_name FROM sync_define('sched_fail', source => 'sched.bad', target => 'sched.dst', key => '{id}',
       watermark => 'ts', schedule => '* * * * *');
TRUNCATE sched.log;
RESET ROLE;
-- pg_cron 1.4 schedules by the minute: wait for each job's first scheduled run (at most 150 s).
DO $$
BEGIN
  FOR i IN 1..300 LOOP
    EXIT WHEN (SELECT count(*) FROM insync.job_status WHERE last_scheduled_status IS NOT NULL) = 2
          AND (SELECT count(DISTINCT jobid) FROM cron.job_run_details WHERE status IN ('succeeded', 'failed')) = 2;
    PERFORM pg_sleep(0.5);
  END LOOP;
END $$;
-- Stop the schedules (sync_alter removes the entries), then look at the first runs.
SELECT job_name FROM sync_alter('sched_ok', schedule => '');
SELECT job_name FROM sync_alter('sched_fail', schedule => '');
SELECT count(*) AS entries FROM cron.job;
SELECT DISTINCT ON (job_name) job_name, status, scheduled, owner, run_by, rows_inserted, error_message
  FROM insync.runs ORDER BY job_name, run_id;
SELECT DISTINCT ON (username, command) username, command, status, return_message
  FROM cron.job_run_details ORDER BY username, command, runid;
SELECT DISTINCT ran_as, connected_as FROM sched.log;
SELECT job_name, last_scheduled_status, last_scheduled_at IS NOT NULL AS has_time FROM insync.job_status ORDER BY 1;
SELECT count(*) AS synced FROM sched.dst;
