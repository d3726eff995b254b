-- A dry run reports and changes nothing; the repair keeps one row per key by source order,
-- quarantines the rest, adds a unique index, and a second repair removes nothing.
\i pg_test/setup/orders_duplicates.sql
SELECT cause, keys, rows, removed, action
  FROM dedup_table('wh.orders', '{order_id}', keep => 'source_order', source_order => '{erp,crm}',
                   order_by => 'updated_at', dry_run => true);
SELECT count(*) FROM wh.orders;
SELECT cause, keys, rows, removed, action
  FROM dedup_table('wh.orders', '{order_id}', keep => 'source_order', source_order => '{erp,crm}',
                   order_by => 'updated_at', add_unique_index => true);
SELECT count(*), count(DISTINCT order_id) FROM wh.orders;
SELECT order_id, amount, data_source FROM wh.orders WHERE order_id <= 3 ORDER BY order_id;
SELECT table_name, reason, count(*) FROM insync.quarantine GROUP BY 1, 2 ORDER BY 2;
SELECT count(*) AS findings FROM find_duplicates('wh.orders', '{order_id}');
SELECT coalesce(sum(removed), 0) AS removed_again FROM dedup_table('wh.orders', '{order_id}');
