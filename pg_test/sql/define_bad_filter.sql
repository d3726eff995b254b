-- A source filter is checked against the source at definition: an unknown column is an error,
-- and text that would reshape the query is refused.
\i pg_test/setup/customer.sql
SELECT * FROM sync_define('j1', source => 'ods.customer', target => 'dw.customer',
                          key => '{customer_id}', watermark => 'updated_at',
                          source_filter => 'cty = ''Paris''');
SELECT * FROM sync_define('j1', source => 'ods.customer', target => 'dw.customer',
                          key => '{customer_id}', watermark => 'updated_at',
                          source_filter => 'true); DROP TABLE dw.customer; SELECT (1');
SELECT count(*) AS jobs, (SELECT count(*) FROM dw.customer) AS target_still_there FROM insync.jobs;
