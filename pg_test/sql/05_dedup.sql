-- Duplicates: find why a table has them, repair it, lose nothing.
SET client_min_messages = notice;
CREATE SCHEMA wh;
-- 1. An overlapping extraction window: 2026-01-02 was extracted twice by the nightly script.
CREATE TABLE wh.orders (order_id int, amount numeric(10,2), data_source text,
                        updated_at timestamptz, loaded_at timestamptz);
INSERT INTO wh.orders SELECT g, g, 'erp', '2026-01-01'::timestamptz + g * interval '1 hour', '2026-01-03 02:00'
  FROM generate_series(1, 48) g;
INSERT INTO wh.orders SELECT order_id, amount, data_source, updated_at, '2026-01-04 02:00'
  FROM wh.orders WHERE updated_at >= '2026-01-02' AND updated_at < '2026-01-03';
-- 2. The same orders arriving from two source systems.
INSERT INTO wh.orders VALUES (1, 1, 'crm', '2026-01-01 01:00', '2026-01-03 02:00'),
                             (2, 2, 'crm', '2026-01-01 02:00', '2026-01-03 02:00');
-- 3. A later version of an order loaded beside the old one.
INSERT INTO wh.orders VALUES (3, 30, 'erp', '2026-01-05', '2026-01-06 02:00');

SELECT * FROM duplicate_summary('wh.orders', '{order_id}');
SELECT key, copies, differing_columns, cause FROM find_duplicates('wh.orders', '{order_id}')
 WHERE cause <> 'identical' OR key = '{"order_id": 24}';

-- A dry run reports and changes nothing.
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
-- Twice removes nothing.
SELECT count(*) AS findings FROM find_duplicates('wh.orders', '{order_id}');
SELECT coalesce(sum(removed), 0) AS removed_again FROM dedup_table('wh.orders', '{order_id}');

-- Restore puts the batch back exactly (after dropping the unique index that forbids it).
DROP INDEX wh.orders_order_id_idx;
SELECT restore_quarantine((SELECT max(batch_id) FROM insync.quarantine));
SELECT count(*) FROM wh.orders;
SELECT restore_quarantine((SELECT max(batch_id) FROM insync.quarantine));

-- A key that is too narrow: distinct order lines keyed by order alone are not deleted.
CREATE TABLE wh.lines (order_id int, sku text, qty int);
INSERT INTO wh.lines VALUES (1, 'apple', 2), (1, 'pear', 1), (2, 'plum', 5);
SELECT cause, keys, removed, action FROM dedup_table('wh.lines', '{order_id}', keep => 'first');
SELECT count(*) FROM wh.lines;
SELECT cause, keys, removed, action FROM dedup_table('wh.lines', '{order_id}', keep => 'first', add_unique_index => true);

-- Bad input: a clear error, nothing removed.
SELECT * FROM dedup_table('wh.nope', '{order_id}');
SELECT * FROM dedup_table('wh.orders', '{}');
SELECT * FROM dedup_table('wh.orders', '{order_no}');
SELECT * FROM dedup_table('wh.orders', '{order_id}', order_by => 'changed');
SELECT * FROM dedup_table('wh.lines', '{order_id}', allow_distinct_rows => true);
-- Without a change-time column the default keep => 'latest' still removes identical copies
-- (which one stays does not matter); copies that differ are kept as distinct rows.
CREATE TABLE wh.copies (id int, v text);
INSERT INTO wh.copies VALUES (1, 'a'), (1, 'a'), (2, 'b'), (2, 'c');
SELECT cause, keys, removed, action FROM dedup_table('wh.copies', '{id}');
SELECT id, v FROM wh.copies ORDER BY id, v;
SELECT * FROM dedup_table('wh.orders', '{order_id}', keep => 'newest', order_by => 'updated_at');
SELECT * FROM dedup_table('wh.orders', '{order_id}', keep => 'source_order');
SELECT * FROM restore_quarantine(424242);
CREATE ROLE reader;
GRANT USAGE ON SCHEMA wh TO reader;
GRANT SELECT ON wh.orders TO reader;
SET ROLE reader;
SELECT * FROM dedup_table('wh.orders', '{order_id}', order_by => 'updated_at');
SELECT cause, keys, removed, action FROM dedup_table('wh.orders', '{order_id}', order_by => 'updated_at', dry_run => true);
RESET ROLE;
SELECT count(*) FROM wh.orders;
