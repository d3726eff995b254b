-- Scheduling through pg_cron: a scheduled sync runs, and a failing one is seen both by
-- pg_cron (cron.job_run_details) and in insync.runs.
SET client_min_messages = warning;
CREATE EXTENSION pg_cron;
CREATE TABLE cron_src (id int PRIMARY KEY, ts timestamptz);
CREATE TABLE cron_dst (id int PRIMARY KEY, ts timestamptz);
CREATE TABLE cron_bad (id int, ts timestamptz);
INSERT INTO cron_src SELECT g, now() - interval '1 hour' FROM generate_series(1, 20) g;
INSERT INTO cron_bad VALUES (NULL, now() - interval '1 hour');
SELECT job_name FROM sync_define('cron_ok', source => 'cron_src', target => 'cron_dst', key => '{id}', watermark => 'ts');
SELECT job_name FROM sync_define('cron_fail', source => 'cron_bad', target => 'cron_dst', key => '{id}', watermark => 'ts');
SELECT cron.schedule('insync cron_ok', '* * * * *', $$SELECT * FROM sync_run('cron_ok')$$) > 0 AS scheduled;
SELECT cron.schedule('insync cron_fail', '* * * * *', $$SELECT * FROM sync_run('cron_fail')$$) > 0 AS scheduled;
-- pg_cron 1.4 schedules by the minute: wait for the next minute's runs (at most 150 s).
DO $$
BEGIN
  FOR i IN 1..300 LOOP
    EXIT WHEN (SELECT count(*) FROM insync.runs WHERE job_name IN ('cron_ok', 'cron_fail')) >= 2
          AND (SELECT count(*) FROM cron.job_run_details WHERE status IN ('succeeded', 'failed')) >= 2;
    PERFORM pg_sleep(0.5);
  END LOOP;
END $$;
-- Capture the job ids, stop the schedules, then look at each job's first run.
CREATE TEMP TABLE cron_jobs AS SELECT jobid, jobname FROM cron.job;
SELECT cron.unschedule('insync cron_ok');
SELECT cron.unschedule('insync cron_fail');
SELECT DISTINCT ON (job_name) job_name, status, rows_inserted, error_message FROM insync.runs
 WHERE job_name IN ('cron_ok', 'cron_fail') ORDER BY job_name, run_id;
SELECT DISTINCT ON (j.jobname) j.jobname, d.status, d.return_message
  FROM cron.job_run_details d JOIN cron_jobs j USING (jobid) ORDER BY j.jobname, d.runid;
SELECT count(*) AS synced FROM cron_dst;
