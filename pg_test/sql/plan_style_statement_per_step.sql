-- insync.plan_style = 'statement_per_step' (what Greenplum-family engines always run): the
-- window is staged in a temporary table, then one statement per write. Two copies of the same
-- target, one merged each way, end up identical, with identical run counts.
\i pg_test/setup/customer.sql
SHOW insync.plan_style;
CREATE TABLE dw.customer_steps (LIKE dw.customer INCLUDING ALL);
-- Without a unique key: delete+insert, statement-per-step too.
CREATE TABLE dw.customer_steps_nokey (LIKE dw.customer);
SELECT job_name FROM sync_define('combined', source => 'ods.customer', target => 'dw.customer',
                                 key => '{customer_id}', watermark => 'updated_at');
SELECT job_name FROM sync_define('steps', source => 'ods.customer', target => 'dw.customer_steps',
                                 key => '{customer_id}', watermark => 'updated_at');
SELECT job_name FROM sync_define('steps_nokey', source => 'ods.customer', target => 'dw.customer_steps_nokey',
                                 key => '{customer_id}', watermark => 'updated_at');
SELECT status, rows_read, rows_inserted, rows_updated FROM sync_incremental('combined');
SET insync.plan_style = 'statement_per_step';
SELECT status, rows_read, rows_inserted, rows_updated FROM sync_incremental('steps');
SELECT status, rows_read, rows_inserted, rows_updated FROM sync_incremental('steps_nokey');
RESET insync.plan_style;

-- Changes, a new key, then a full run after deletes.
UPDATE ods.customer SET city = 'Nice', updated_at = clock_timestamp() WHERE customer_id <= 25;
UPDATE ods.customer SET updated_at = clock_timestamp() WHERE customer_id BETWEEN 26 AND 30; -- same payload but the watermark
INSERT INTO ods.customer VALUES (1001, 'late customer', 'Lille', clock_timestamp());
SELECT pg_sleep(1.2);
SELECT status, rows_read, rows_inserted, rows_updated FROM sync_incremental('combined');
SET insync.plan_style = 'statement_per_step';
SELECT status, rows_read, rows_inserted, rows_updated FROM sync_incremental('steps');
SELECT status, rows_read, rows_inserted, rows_updated FROM sync_incremental('steps_nokey');
RESET insync.plan_style;
DELETE FROM ods.customer WHERE customer_id > 990;
UPDATE ods.customer SET name = 'renamed' WHERE customer_id = 500;
SELECT status, rows_read, rows_inserted, rows_updated, rows_deleted FROM sync_full('combined');
SET insync.plan_style = 'statement_per_step';
SELECT status, rows_read, rows_inserted, rows_updated, rows_deleted FROM sync_full('steps');
SELECT status, rows_read, rows_inserted, rows_updated, rows_deleted FROM sync_full('steps_nokey');
-- A NULL key fails the run before anything is written, and leaves no staging table behind.
INSERT INTO dw.customer_steps VALUES (5000, 'target only', 'Metz', now());
ALTER TABLE ods.customer DROP CONSTRAINT customer_pkey, ALTER customer_id DROP NOT NULL;
INSERT INTO ods.customer VALUES (NULL, 'no key', 'Brest', now());
SELECT status FROM sync_full('steps');
SELECT count(*) AS still_there FROM dw.customer_steps WHERE customer_id = 5000;
SELECT count(*) AS staging_tables FROM pg_catalog.pg_class WHERE relname = 'insync_run_window';
DELETE FROM ods.customer WHERE customer_id IS NULL;
DELETE FROM dw.customer_steps WHERE customer_id = 5000;
RESET insync.plan_style;

SELECT count(*) AS differences FROM (
  (SELECT * FROM dw.customer EXCEPT SELECT * FROM dw.customer_steps)
  UNION ALL (SELECT * FROM dw.customer_steps EXCEPT SELECT * FROM dw.customer)
  UNION ALL (SELECT * FROM dw.customer EXCEPT SELECT * FROM dw.customer_steps_nokey)
  UNION ALL (SELECT * FROM dw.customer_steps_nokey EXCEPT SELECT * FROM dw.customer)) d;
-- The same counts run by run.
SELECT r.kind, r.rows_read, r.rows_inserted, r.rows_updated, r.rows_deleted,
       pg_catalog.count(DISTINCT r.job_name) AS jobs
  FROM insync.runs r WHERE r.status = 'succeeded'
 GROUP BY r.kind, r.rows_read, r.rows_inserted, r.rows_updated, r.rows_deleted
 ORDER BY pg_catalog.min(r.run_id);
