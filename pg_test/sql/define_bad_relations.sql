-- sync_define with a taken name, a missing table, or a target that cannot hold the source:
-- a clear error, and no job is created.
\i pg_test/setup/customer.sql
SELECT job_name FROM sync_define('customer', source => 'ods.customer', target => 'dw.customer',
                                 key => '{customer_id}', watermark => 'updated_at');
SELECT * FROM sync_define('customer', source => 'ods.customer', target => 'dw.customer',
                          key => '{customer_id}', watermark => 'updated_at');
SELECT * FROM sync_define('j1', source => 'ods.missing', target => 'dw.customer',
                          key => '{customer_id}', watermark => 'updated_at');
SELECT * FROM sync_define('j1', source => 'ods.customer', target => 'dw.missing',
                          key => '{customer_id}', watermark => 'updated_at');
CREATE TABLE dw.customer_narrow (name text, city text);
SELECT * FROM sync_define('j1', source => 'ods.customer', target => 'dw.customer_narrow',
                          key => '{customer_id}', watermark => 'updated_at');
CREATE TABLE dw.customer_typed (customer_id int PRIMARY KEY, name int, updated_at timestamptz);
SELECT * FROM sync_define('j1', source => 'ods.customer', target => 'dw.customer_typed',
                          key => '{customer_id}', watermark => 'updated_at');
SELECT job_name FROM insync.jobs;
