-- A full-mode job needs no watermark, says how to run it, and sync_run runs it in full.
\i pg_test/setup/customer.sql
SELECT job_name, mode FROM sync_define('snapshot', source => 'ods.customer', target => 'dw.customer',
                                       key => '{customer_id}', mode => 'full');
SELECT * FROM sync_incremental('snapshot');
SELECT status, rows_inserted, rows_deleted FROM sync_run('snapshot');
DELETE FROM ods.customer WHERE customer_id > 990;
SELECT status, rows_inserted, rows_deleted FROM sync_run('snapshot');
