-- Scheduled verification: through pg_cron a verification runs as the job's owner and is
-- recorded; differences alone do not raise, unless raise_on_difference => true, which pg_cron
-- then reports as a failure (and the verification is still recorded, with the differences).
CREATE EXTENSION insync;
SET client_min_messages = warning;
CREATE EXTENSION pg_cron;
CREATE ROLE verifier;
CREATE SCHEMA v AUTHORIZATION verifier;
SET ROLE verifier;
CREATE TABLE v.log (ran_as text);
-- The filter logs who evaluates it and tries to make its owner superuser.
CREATE FUNCTION v.spy() RETURNS boolean LANGUAGE plpgsql AS $f$
BEGIN
  INSERT INTO v.log VALUES (current_user);
  BEGIN EXECUTE 'ALTER ROLE verifier SUPERUSER'; EXCEPTION WHEN insufficient_privilege THEN NULL; END;
  RETURN true;
END $f$;
CREATE TABLE v.src (id int PRIMARY KEY, note text, ts timestamptz NOT NULL);
CREATE TABLE v.dst (id int PRIMARY KEY, note text, ts timestamptz);
INSERT INTO v.src SELECT g, 'n' || g, now() - interval '1 hour' FROM generate_series(1, 50) g;
SELECT job_name FROM sync_define('quiet', source => 'v.src', target => 'v.dst', key => '{id}',
       watermark => 'ts', source_filter => 'v.spy()');
SELECT job_name FROM sync_define('loud', source => 'v.src', target => 'v.dst', key => '{id}', watermark => 'ts');
SELECT status FROM sync_incremental('quiet');
DELETE FROM v.dst WHERE id = 7;
TRUNCATE v.log;
RESET ROLE;
SELECT cron.schedule('verify quiet', '* * * * *', $$SELECT status FROM sync_verify('quiet')$$) > 0 AS scheduled;
SELECT cron.schedule('verify loud', '* * * * *',
       $$SELECT status FROM sync_verify('loud', raise_on_difference => true)$$) > 0 AS scheduled;
-- pg_cron 1.4 schedules by the minute: wait for the next minute's verifications (at most 150 s).
DO $$
BEGIN
  FOR i IN 1..300 LOOP
    EXIT WHEN (SELECT count(DISTINCT job_name) FROM insync.verifications) >= 2
          AND (SELECT count(DISTINCT jobid) FROM cron.job_run_details WHERE status IN ('succeeded', 'failed')) >= 2;
    PERFORM pg_sleep(0.5);
  END LOOP;
END $$;
CREATE TEMP TABLE cron_jobs AS SELECT jobid, jobname FROM cron.job;
SELECT cron.unschedule('verify quiet');
SELECT cron.unschedule('verify loud');
SELECT DISTINCT ON (job_name) job_name, status, missing, extra, changed, owner, run_by, error_message
  FROM insync.verifications ORDER BY job_name, verification_id;
SELECT DISTINCT ON (j.jobname) j.jobname, d.status, d.return_message
  FROM cron.job_run_details d JOIN cron_jobs j USING (jobid) ORDER BY j.jobname, d.runid;
SELECT job_name, last_verification, last_differences FROM insync.job_status ORDER BY job_name;
-- The filter ran as the job's owner, who is still no superuser.
SELECT DISTINCT ran_as FROM v.log;
SELECT rolsuper AS verifier_is_superuser FROM pg_roles WHERE rolname = 'verifier';
