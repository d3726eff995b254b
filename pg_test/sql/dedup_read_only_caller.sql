-- A role that may only read the table gets a privilege error, but may dry-run.
\i pg_test/setup/orders_duplicates.sql
CREATE ROLE reader;
GRANT USAGE ON SCHEMA wh TO reader;
GRANT SELECT ON wh.orders TO reader;
SET ROLE reader;
SELECT * FROM dedup_table('wh.orders', '{order_id}', order_by => 'updated_at');
SELECT cause, keys, removed, action FROM dedup_table('wh.orders', '{order_id}', order_by => 'updated_at', dry_run => true);
RESET ROLE;
SELECT count(*) FROM wh.orders;
