-- A job's schedule is part of its definition: sync_define creates one pg_cron entry,
-- insync:<job>, owned by the job's owner; sync_alter changes, moves (rename) and removes it;
-- sync_drop removes it. A schedule pg_cron refuses leaves nothing behind.
CREATE EXTENSION insync;
SET client_min_messages = warning;
CREATE EXTENSION pg_cron;
CREATE ROLE etl LOGIN;
CREATE SCHEMA app AUTHORIZATION etl;
GRANT USAGE ON SCHEMA cron TO etl;
SET ROLE etl;
CREATE TABLE app.orders (id int PRIMARY KEY, ts timestamptz NOT NULL);
CREATE TABLE app.orders_copy (id int PRIMARY KEY, ts timestamptz);
SELECT job_name FROM sync_define('orders', source => 'app.orders', target => 'app.orders_copy', key => '{id}',
       watermark => 'ts', schedule => '*/5 * * * *');
RESET ROLE;
-- The entry belongs to etl (pg_cron connects as etl to run it), in this database.
SELECT jobname, schedule, command, username, database = current_database() AS here, active FROM cron.job;
SELECT job_name, schedule, last_scheduled_status, schedule_problem FROM insync.job_status;
-- A superuser alters etl's job: the entry stays etl's.
SELECT job_name FROM sync_alter('orders', schedule => '0 * * * *');
SELECT jobname, schedule, username FROM cron.job;
-- A rename moves the entry (and its command names the new name).
SELECT job_name FROM sync_alter('orders', new_name => 'shop orders');
SELECT jobname, schedule, command, username FROM cron.job;
-- Changing other settings leaves the entry alone.
SELECT job_name FROM sync_alter('shop orders', lookback => '1 minute');
SELECT jobname, schedule FROM cron.job;
-- A schedule pg_cron refuses: its error, naming the job; the job and the entry are unchanged.
SELECT job_name FROM sync_alter('shop orders', schedule => 'every hour');
SELECT job_name, schedule FROM insync.jobs;
SELECT jobname, schedule FROM cron.job;
-- Seconds arrived in pg_cron 1.5; this machine's pg_cron 1.4 says no.
SELECT job_name FROM sync_alter('shop orders', schedule => '30 seconds');
-- '' clears the schedule and removes the entry.
SELECT job_name FROM sync_alter('shop orders', schedule => '');
SELECT count(*) AS entries FROM cron.job;
SELECT job_name, schedule FROM insync.job_status;
SELECT job_name FROM sync_alter('shop orders', schedule => '@daily');
SELECT jobname, schedule FROM cron.job;
-- sync_drop removes the entry with the job.
SELECT sync_drop('shop orders');
SELECT count(*) AS entries FROM cron.job;
-- A refused schedule at define time leaves no job either.
SET ROLE etl;
SELECT job_name FROM sync_define('orders', source => 'app.orders', target => 'app.orders_copy', key => '{id}',
       watermark => 'ts', schedule => '61 * * * *');
RESET ROLE;
SELECT count(*) AS jobs FROM insync.jobs;
SELECT count(*) AS entries FROM cron.job;
-- pg_cron removed under a scheduled job: job_status says why it will not run, and the job can
-- still be dropped (there is no entry left to remove).
SELECT job_name FROM sync_define('orders', source => 'app.orders', target => 'app.orders_copy', key => '{id}',
       watermark => 'ts', schedule => '@hourly');
DROP EXTENSION pg_cron;
SELECT job_name, schedule, schedule_problem FROM insync.job_status;
SELECT sync_drop('orders');
