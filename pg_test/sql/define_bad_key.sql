-- A key column that does not exist, or a type without equality: refused at definition.
\i pg_test/setup/customer.sql
SELECT * FROM sync_define('j1', source => 'ods.customer', target => 'dw.customer',
                          key => '{id}', watermark => 'updated_at');
CREATE TABLE ods.events (payload json, seen_at timestamptz);
CREATE TABLE dw.events (payload json, seen_at timestamptz);
SELECT * FROM sync_define('j1', source => 'ods.events', target => 'dw.events',
                          key => '{payload}', watermark => 'seen_at');
SELECT count(*) AS jobs FROM insync.jobs;
