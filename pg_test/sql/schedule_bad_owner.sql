-- pg_cron runs a schedule by connecting as the job's owner, through pg_cron's own functions:
-- an owner who cannot log in, or may not use pg_cron, gets a clear error at define time and
-- no job. A name too long for a pg_cron entry is refused too.
CREATE EXTENSION insync;
SET client_min_messages = warning;
CREATE EXTENSION pg_cron;
CREATE ROLE nologin_owner;
CREATE ROLE no_cron_owner LOGIN;
CREATE SCHEMA app;
GRANT USAGE ON SCHEMA app TO nologin_owner, no_cron_owner;
CREATE TABLE app.src (id int PRIMARY KEY, ts timestamptz NOT NULL);
CREATE TABLE app.dst (id int PRIMARY KEY, ts timestamptz);
GRANT SELECT ON app.src TO nologin_owner, no_cron_owner;
GRANT SELECT, INSERT, UPDATE, DELETE ON app.dst TO nologin_owner, no_cron_owner;
GRANT USAGE ON SCHEMA cron TO nologin_owner;
SET ROLE nologin_owner;
SELECT job_name FROM sync_define('a', source => 'app.src', target => 'app.dst', key => '{id}',
       watermark => 'ts', schedule => '* * * * *');
RESET ROLE;
SET ROLE no_cron_owner;
SELECT job_name FROM sync_define('b', source => 'app.src', target => 'app.dst', key => '{id}',
       watermark => 'ts', schedule => '* * * * *');
-- Without a schedule the same job is fine; scheduling it later is refused the same way.
SELECT job_name FROM sync_define('b', source => 'app.src', target => 'app.dst', key => '{id}', watermark => 'ts');
SELECT job_name FROM sync_alter('b', schedule => '* * * * *');
SELECT job_name, schedule FROM insync.jobs;
RESET ROLE;
SELECT job_name FROM sync_define(repeat('x', 57), source => 'app.src', target => 'app.dst', key => '{id}',
       watermark => 'ts', schedule => '* * * * *');
SELECT count(*) AS jobs, (SELECT count(*) FROM cron.job) AS entries FROM insync.jobs;
