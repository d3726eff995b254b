-- An unknown mode is refused, naming the accepted ones.
\i pg_test/setup/customer.sql
SELECT * FROM sync_define('j1', source => 'ods.customer', target => 'dw.customer',
                          key => '{customer_id}', watermark => 'updated_at', mode => 'mirror');
SELECT count(*) AS jobs FROM insync.jobs;
