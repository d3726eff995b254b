-- deletes => 'verify': an incremental run also deletes the target rows whose key has left the
-- source (found by a key-only bucket comparison), each kept in the quarantine; without the
-- option, incremental runs leave them. restore_quarantine puts them back.
\i pg_test/setup/customer.sql
SELECT job_name FROM sync_define('customer', source => 'ods.customer', target => 'dw.customer',
       key => '{customer_id}', watermark => 'updated_at');
SELECT status, rows_inserted, rows_deleted FROM sync_incremental('customer');
DELETE FROM ods.customer WHERE customer_id IN (5, 500, 999);
-- Without the option the rows stay in the target.
SELECT status, rows_read, rows_deleted FROM sync_incremental('customer');
SELECT count(*) AS target_rows FROM dw.customer;
SELECT job_name FROM sync_alter('customer', deletes => 'verify');
SELECT deletes FROM insync.jobs;
SELECT status, rows_read, rows_deleted FROM sync_incremental('customer');
SELECT count(*) AS target_rows, count(*) FILTER (WHERE customer_id IN (5, 500, 999)) AS gone_rows_left
  FROM dw.customer;
SELECT reason, key FROM insync.quarantine ORDER BY key::text;
-- Nothing left to delete: the next run deletes nothing and opens no batch.
SELECT status, rows_deleted FROM sync_incremental('customer');
SELECT count(*) AS batches FROM insync.quarantine_batches;
SELECT status, missing, extra, changed FROM sync_verify('customer');
-- The deletes are undone like any other quarantined removal.
SELECT max(batch_id) AS batch FROM insync.quarantine \gset
SELECT restore_quarantine(:batch) AS restored;
SELECT count(*) AS target_rows FROM dw.customer;
-- A bad value is refused.
SELECT job_name FROM sync_alter('customer', deletes => 'always');
