-- A full sync of an incremental job also removes target rows whose key left the source.
\i pg_test/setup/customer.sql
SELECT job_name FROM sync_define('customer', source => 'ods.customer', target => 'dw.customer',
                                 key => '{customer_id}', watermark => 'updated_at');
SELECT status, rows_inserted FROM sync_incremental('customer');
DELETE FROM ods.customer WHERE customer_id > 990;
SELECT status, rows_read, rows_inserted, rows_updated, rows_deleted FROM sync_full('customer');
SELECT count(*) FROM dw.customer;
SELECT kind, status, rows_deleted FROM insync.runs ORDER BY run_id;
