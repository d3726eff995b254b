-- Scheduling through pg_cron: a scheduled sync runs, a failing one is seen both by pg_cron
-- (cron.job_run_details) and in insync.runs, and another role's job runs as that role.
CREATE EXTENSION insync;
SET client_min_messages = warning;
CREATE EXTENSION pg_cron;
CREATE TABLE cron_src (id int PRIMARY KEY, ts timestamptz);
CREATE TABLE cron_dst (id int PRIMARY KEY, ts timestamptz);
CREATE TABLE cron_bad (id int, ts timestamptz);
INSERT INTO cron_src SELECT g, now() - interval '1 hour' FROM generate_series(1, 20) g;
INSERT INTO cron_bad VALUES (NULL, now() - interval '1 hour');
SELECT job_name FROM sync_define('cron_ok', source => 'cron_src', target => 'cron_dst', key => '{id}', watermark => 'ts');
SELECT job_name FROM sync_define('cron_fail', source => 'cron_bad', target => 'cron_dst', key => '{id}', watermark => 'ts');
-- A job whose filter is a non-superuser's function that tries to make its owner superuser;
-- the superuser's cron entry runs it, and it runs as its owner.
CREATE ROLE cron_tro;
CREATE SCHEMA cron_tro AUTHORIZATION cron_tro;
SET ROLE cron_tro;
CREATE TABLE cron_tro.log (ran_as text);
CREATE FUNCTION cron_tro.spy() RETURNS boolean LANGUAGE plpgsql AS $f$
BEGIN
  INSERT INTO cron_tro.log VALUES (current_user);
  BEGIN EXECUTE 'ALTER ROLE cron_tro SUPERUSER'; EXCEPTION WHEN insufficient_privilege THEN NULL; END;
  RETURN true;
END $f$;
CREATE TABLE cron_tro.src (id int PRIMARY KEY, ts timestamptz);
CREATE TABLE cron_tro.dst (id int PRIMARY KEY, ts timestamptz);
INSERT INTO cron_tro.src SELECT g, now() - interval '1 hour' FROM generate_series(1, 5) g;
SELECT job_name FROM sync_define('cron_tro', source => 'cron_tro.src', target => 'cron_tro.dst', key => '{id}',
       watermark => 'ts', source_filter => 'cron_tro.spy()');
TRUNCATE cron_tro.log;
RESET ROLE;
SELECT cron.schedule('insync cron_tro', '* * * * *', $$SELECT * FROM sync_run('cron_tro')$$) > 0 AS scheduled;
SELECT cron.schedule('insync cron_ok', '* * * * *', $$SELECT * FROM sync_run('cron_ok')$$) > 0 AS scheduled;
SELECT cron.schedule('insync cron_fail', '* * * * *', $$SELECT * FROM sync_run('cron_fail')$$) > 0 AS scheduled;
-- pg_cron 1.4 schedules by the minute: wait for the next minute's runs (at most 150 s).
DO $$
BEGIN
  FOR i IN 1..300 LOOP
    EXIT WHEN (SELECT count(DISTINCT job_name) FROM insync.runs WHERE job_name IN ('cron_ok', 'cron_fail', 'cron_tro')) >= 3
          AND (SELECT count(DISTINCT jobid) FROM cron.job_run_details WHERE status IN ('succeeded', 'failed')) >= 3;
    PERFORM pg_sleep(0.5);
  END LOOP;
END $$;
-- Capture the job ids, stop the schedules, then look at each job's first run.
CREATE TEMP TABLE cron_jobs AS SELECT jobid, jobname FROM cron.job;
SELECT cron.unschedule('insync cron_ok');
SELECT cron.unschedule('insync cron_tro');
SELECT cron.unschedule('insync cron_fail');
SELECT DISTINCT ON (job_name) job_name, status, rows_inserted, error_message FROM insync.runs
 WHERE job_name IN ('cron_ok', 'cron_fail') ORDER BY job_name, run_id;
SELECT DISTINCT ON (j.jobname) j.jobname, d.status, d.return_message
  FROM cron.job_run_details d JOIN cron_jobs j USING (jobid) ORDER BY j.jobname, d.runid;
SELECT count(*) AS synced FROM cron_dst;
-- The scheduled run of cron_tro's job ran its code as cron_tro, which is still no superuser.
SELECT DISTINCT job_name, status, owner, run_by FROM insync.runs WHERE job_name = 'cron_tro';
SELECT DISTINCT ran_as FROM cron_tro.log;
SELECT rolsuper AS cron_tro_is_superuser FROM pg_roles WHERE rolname = 'cron_tro';
