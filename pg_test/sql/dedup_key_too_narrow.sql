-- A key that is too narrow: distinct order lines keyed by order alone are not deleted, and a
-- unique index on that key is refused.
CREATE EXTENSION insync;
SET client_min_messages = notice;
CREATE TABLE lines (order_id int, sku text, qty int);
INSERT INTO lines VALUES (1, 'apple', 2), (1, 'pear', 1), (2, 'plum', 5);
SELECT cause, keys, removed, action FROM dedup_table('lines', '{order_id}', keep => 'first');
SELECT count(*) FROM lines;
SELECT cause, keys, removed, action FROM dedup_table('lines', '{order_id}', keep => 'first', add_unique_index => true);
SELECT * FROM dedup_table('lines', '{order_id}', allow_distinct_rows => true);
SELECT count(*) FROM lines;
