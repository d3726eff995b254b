-- An incremental job: the first run loads everything, later runs read only what changed.
\i pg_test/setup/customer.sql
SELECT * FROM sync_define('customer', source => 'ods.customer', target => 'dw.customer',
                          key => '{customer_id}', watermark => 'updated_at');

-- The first run is the initial load.
SELECT status, window_low, rows_read, rows_inserted, rows_updated FROM sync_incremental('customer');

-- Change some rows, add one, and let the run's one-second start margin pass.
UPDATE ods.customer SET city = 'Nice', updated_at = clock_timestamp() WHERE customer_id <= 25;
INSERT INTO ods.customer VALUES (1001, 'late customer', 'Lille', clock_timestamp());
SELECT pg_sleep(1.2);
SELECT status, window_low IS NOT NULL AS has_low, rows_read, rows_inserted, rows_updated
  FROM sync_incremental('customer');
-- Nothing changed since: nothing is read, nothing rewritten.
SELECT status, rows_read, rows_inserted, rows_updated FROM sync_incremental('customer');

SELECT count(*) AS differences FROM (
  (SELECT * FROM ods.customer EXCEPT SELECT * FROM dw.customer)
  UNION ALL (SELECT * FROM dw.customer EXCEPT SELECT * FROM ods.customer)) d;

SELECT job_name, mode, status, last_rows_read, watermark IS NOT NULL AS has_watermark,
       lag < interval '1 minute' AS fresh
  FROM insync.job_status;
SELECT job_name, kind, status, rows_read, rows_inserted, rows_updated, rows_deleted
  FROM insync.runs ORDER BY run_id;
