-- Duplicates explained: how many keys and rows per cause, and for each key which columns differ.
\i pg_test/setup/orders_duplicates.sql
SELECT * FROM duplicate_summary('wh.orders', '{order_id}');
SELECT key, copies, differing_columns, cause FROM find_duplicates('wh.orders', '{order_id}')
 WHERE cause <> 'identical' OR key = '{"order_id": 24}';
