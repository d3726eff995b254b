-- An incremental job needs a watermark column that exists and can be ordered as a change time
-- or version; a lookback must be an interval.
\i pg_test/setup/customer.sql
SELECT * FROM sync_define('j1', source => 'ods.customer', target => 'dw.customer',
                          key => '{customer_id}', watermark => 'changed_at');
SELECT * FROM sync_define('j1', source => 'ods.customer', target => 'dw.customer',
                          key => '{customer_id}', watermark => 'city');
SELECT * FROM sync_define('j1', source => 'ods.customer', target => 'dw.customer',
                          key => '{customer_id}');
SELECT * FROM sync_define('j1', source => 'ods.customer', target => 'dw.customer',
                          key => '{customer_id}', watermark => 'updated_at', lookback => '3 parsecs');
SELECT count(*) AS jobs FROM insync.jobs;
-- The zone local times are written in must be one Postgres knows.
SELECT * FROM sync_define('j1', source => 'ods.customer', target => 'dw.customer',
                          key => '{customer_id}', watermark => 'updated_at', source_timezone => 'Mars/Olympus');
SELECT count(*) AS jobs FROM insync.jobs;
