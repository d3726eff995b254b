-- dedup_table with a missing table, key or column, or a bad keep rule: a clear error, nothing
-- removed.
\i pg_test/setup/orders_duplicates.sql
SELECT * FROM dedup_table('wh.nope', '{order_id}');
SELECT * FROM dedup_table('wh.orders', '{}');
SELECT * FROM dedup_table('wh.orders', '{order_no}');
SELECT * FROM dedup_table('wh.orders', '{order_id}', order_by => 'changed');
SELECT * FROM dedup_table('wh.orders', '{order_id}', keep => 'newest', order_by => 'updated_at');
SELECT * FROM dedup_table('wh.orders', '{order_id}', keep => 'source_order');
SELECT * FROM restore_quarantine(424242);
SELECT count(*) FROM wh.orders;
