-- Scheduling needs pg_cron in this database: without it, sync_define says so (with the way
-- to install it) and defines nothing; unscheduled jobs do not need it.
CREATE EXTENSION insync;
SET client_min_messages = warning;
CREATE TABLE src (id int PRIMARY KEY, ts timestamptz NOT NULL);
CREATE TABLE dst (id int PRIMARY KEY, ts timestamptz);
SELECT job_name FROM sync_define('j', source => 'src', target => 'dst', key => '{id}', watermark => 'ts',
       schedule => '*/5 * * * *');
SELECT count(*) AS jobs FROM insync.jobs;
SELECT job_name FROM sync_define('j', source => 'src', target => 'dst', key => '{id}', watermark => 'ts');
SELECT job_name FROM sync_alter('j', schedule => '*/5 * * * *');
SELECT job_name, schedule, schedule_problem FROM insync.job_status;
SELECT sync_drop('j');
