-- A job's target must be writable by its owner at definition, and a run uses the owner's
-- privileges: alice losing UPDATE makes her run fail, and the failure is recorded.
\i pg_test/setup/shop.sql
SET ROLE bob;
SELECT * FROM sync_define('bob_job', source => 'shop.src', target => 'shop.dst', key => '{id}',
                          watermark => 'ts');
RESET ROLE;
REVOKE UPDATE ON shop.dst FROM alice;
UPDATE shop.src SET v = 'changed', ts = clock_timestamp();
SELECT pg_sleep(1.2);
SET ROLE alice;
SELECT * FROM sync_incremental('alice_job');
RESET ROLE;
SELECT job_name, status, error_message, run_by FROM insync.runs WHERE status = 'failed';
