-- Jobs belong to their owner: others can neither see, run, alter nor drop them, nobody edits
-- the catalog behind insync's back, and superusers may act on any job.
\i pg_test/setup/shop.sql
SET ROLE alice;
SELECT job_name, owner FROM insync.jobs;
RESET ROLE;
SET ROLE bob;
-- bob sees neither the job nor its runs...
SELECT count(*) AS visible_jobs FROM insync.jobs;
SELECT count(*) AS visible_runs FROM insync.runs;
-- ...cannot run, alter or drop it...
SELECT * FROM sync_incremental('alice_job');
SELECT * FROM sync_alter('alice_job', source_filter => 'true');
SELECT sync_drop('alice_job');
-- ...cannot take it over or repoint it through the catalog tables...
UPDATE insync.jobs SET owner = 'bob' WHERE job_name = 'alice_job';
UPDATE insync.jobs SET source = 'shop.dst' WHERE job_name = 'alice_job';
INSERT INTO insync.runs (run_id, job_name, owner, kind, status, started_at, run_by)
VALUES (999, 'alice_job', 'bob', 'full', 'succeeded', now(), 'bob');
DELETE FROM insync.job_state;
RESET ROLE;
SELECT job_name, owner, source FROM insync.jobs;
SELECT count(*) AS job_states FROM insync.job_state;
SELECT sync_drop('alice_job');
