-- Jobs belong to their owner: others can neither see, run, alter nor drop them,
-- and nobody edits the catalog behind insync's back.
SET client_min_messages = warning;
CREATE ROLE alice;
CREATE ROLE bob;
CREATE SCHEMA shop;
GRANT USAGE ON SCHEMA shop TO alice, bob;
CREATE TABLE shop.src (id int PRIMARY KEY, v text, ts timestamptz);
CREATE TABLE shop.dst (id int PRIMARY KEY, v text, ts timestamptz);
INSERT INTO shop.src SELECT g, 'v', now() - interval '1 hour' FROM generate_series(1, 5) g;
GRANT SELECT ON shop.src TO alice, bob;
GRANT SELECT, INSERT, UPDATE, DELETE ON shop.dst TO alice;
GRANT SELECT ON shop.dst TO bob;

SET ROLE alice;
SELECT job_name FROM sync_define('alice_job', source => 'shop.src', target => 'shop.dst',
                                 key => '{id}', watermark => 'ts');
SELECT status, rows_inserted FROM sync_incremental('alice_job');
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
-- ...and cannot define a job writing to a table it may not write.
SELECT * FROM sync_define('bob_job', source => 'shop.src', target => 'shop.dst', key => '{id}',
                          watermark => 'ts');
RESET ROLE;

-- A sync runs with its owner's privileges: alice losing UPDATE makes her run fail.
REVOKE UPDATE ON shop.dst FROM alice;
UPDATE shop.src SET v = 'changed', ts = clock_timestamp();
SELECT pg_sleep(1.2);
SET ROLE alice;
SELECT * FROM sync_incremental('alice_job');
RESET ROLE;
SELECT job_name, status, error_message, run_by FROM insync.runs WHERE status = 'failed';

-- Superusers may act on any job.
SELECT sync_drop('alice_job');
