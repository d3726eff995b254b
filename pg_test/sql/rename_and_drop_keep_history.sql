-- Renaming a job carries its history; dropping it keeps the runs; dropping twice is an error.
\i pg_test/setup/customer.sql
SELECT job_name FROM sync_define('snapshot', source => 'ods.customer', target => 'dw.customer',
                                 key => '{customer_id}', mode => 'full');
SELECT status FROM sync_run('snapshot');
SELECT job_name FROM sync_alter('snapshot', new_name => 'customer_snapshot');
SELECT job_name, status FROM insync.runs;
SELECT sync_drop('customer_snapshot');
SELECT sync_drop('customer_snapshot');
SELECT count(*) AS runs_kept FROM insync.runs WHERE job_name = 'customer_snapshot';
