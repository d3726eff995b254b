-- A store moves to another organization: re-point facts and aggregates, lose nothing.
SET client_min_messages = notice;
CREATE SCHEMA mart;
CREATE TABLE mart.dim_store (store_id int, org_id int, valid_from date, is_current boolean);
INSERT INTO mart.dim_store SELECT s, 10 + s % 3, '2025-01-01', true FROM generate_series(1, 6) s;
CREATE TABLE mart.sales (sale_id int PRIMARY KEY, store_id int, store_org_id int, day date, amount numeric(10,2));
INSERT INTO mart.sales SELECT g, 1 + g % 6, 10 + (1 + g % 6) % 3, '2026-01-01'::date + g % 3, g
  FROM generate_series(1, 60) g;
CREATE TABLE mart.sales_daily (day date, store_id int, store_org_id int, amount numeric(10,2),
                               PRIMARY KEY (day, store_id));
INSERT INTO mart.sales_daily SELECT day, store_id, store_org_id, sum(amount) FROM mart.sales GROUP BY 1, 2, 3;
-- A larger copy of the facts, for the batched remap below.
CREATE TABLE mart.sales_history AS
SELECT g AS sale_id, 1 + g % 6 AS store_id, 10 + (1 + g % 6) % 3 AS store_org_id, 'x' AS note FROM generate_series(1, 3000) g;

-- Store 4 moves from org 11 to org 42; the dimension keeps the old version.
UPDATE mart.dim_store SET is_current = false WHERE store_id = 4;
INSERT INTO mart.dim_store VALUES (4, 42, '2026-02-01', true);

SELECT * FROM remap_dimension('mart.sales', 'store_org_id', 'mart.dim_store', '{store_id}', 'org_id');
SELECT old_value, new_value, rows_changed
  FROM remap_dimension('mart.sales', 'store_org_id', 'mart.dim_store', '{store_id}', 'org_id',
                       current_by => 'valid_from', dry_run => true);
SELECT old_value, new_value, rows_changed, rows_merged, batch_id IS NOT NULL AS quarantined
  FROM remap_dimension('mart.sales', 'store_org_id', 'mart.dim_store', '{store_id}', 'org_id',
                       current_flag => 'is_current');
SELECT old_value, new_value, rows_changed
  FROM remap_dimension('mart.sales_daily', 'store_org_id', 'mart.dim_store', '{store_id}', 'org_id',
                       current_by => 'valid_from');
-- The aggregate agrees with a fresh GROUP BY over the facts joined to the dimension.
SELECT count(*) AS disagreements FROM (
  (SELECT day, store_org_id, sum(amount) FROM mart.sales_daily GROUP BY 1, 2
   EXCEPT
   SELECT s.day, d.org_id, sum(s.amount) FROM mart.sales s
     JOIN mart.dim_store d ON d.store_id = s.store_id AND d.is_current GROUP BY 1, 2)) x;
-- A second run finds nothing to do.
SELECT old_value, new_value, rows_changed
  FROM remap_dimension('mart.sales', 'store_org_id', 'mart.dim_store', '{store_id}', 'org_id',
                       current_flag => 'is_current');
SELECT table_name, reason, changed_column, count(*) FROM insync.quarantine GROUP BY 1, 2, 3 ORDER BY 1;

-- Organizations merge: org 11 is absorbed by org 12, and per-org aggregate rows collide.
CREATE TABLE mart.org_successor (org_id int PRIMARY KEY, successor int);
INSERT INTO mart.org_successor VALUES (10, 10), (11, 12), (12, 12), (42, 42);
CREATE TABLE mart.org_daily (day date, store_org_id int, amount numeric(10,2), orders int,
                             UNIQUE (day, store_org_id));
INSERT INTO mart.org_daily SELECT '2026-01-01'::date + d, o, 100 * o + d, o - 9
  FROM generate_series(0, 2) d, generate_series(10, 12) o;
SELECT sum(amount), sum(orders), count(*) FROM mart.org_daily;
SELECT * FROM remap_dimension('mart.org_daily', 'store_org_id', 'mart.org_successor',
                              '{store_org_id=org_id}', 'successor');
-- The dry run of a merge reports the rows it would merge, as the merge itself then does.
SELECT old_value, new_value, rows_changed, rows_merged
  FROM remap_dimension('mart.org_daily', 'store_org_id', 'mart.org_successor',
                       '{store_org_id=org_id}', 'successor', merge => '{"amount": "sum", "orders": "sum"}',
                       dry_run => true);
SELECT old_value, new_value, rows_changed, rows_merged
  FROM remap_dimension('mart.org_daily', 'store_org_id', 'mart.org_successor',
                       '{store_org_id=org_id}', 'successor', merge => '{"amount": "sum", "orders": "sum"}');
SELECT sum(amount), sum(orders), count(*) FROM mart.org_daily;
SELECT day, store_org_id, amount, orders FROM mart.org_daily ORDER BY 1, 2;
-- Undo the merge: the aggregate comes back exactly.
SELECT restore_quarantine((SELECT max(batch_id) FROM insync.quarantine));
SELECT sum(amount), sum(orders), count(*) FROM mart.org_daily;

-- Large targets: one batch of heap blocks per transaction, with progress.
SELECT pg_relation_size('mart.sales_history') / current_setting('block_size')::int AS blocks;
CALL remap_dimension_batched('mart.sales_history', 'store_org_id', 'mart.dim_store', '{store_id}', 'org_id',
                             current_flag => 'is_current', batch_blocks => 8);
SELECT store_org_id, count(*) FROM mart.sales_history WHERE store_id = 4 GROUP BY 1;

-- Bad input: a clear error, and nothing changes.
SELECT * FROM remap_dimension('mart.nope', 'store_org_id', 'mart.dim_store', '{store_id}', 'org_id');
SELECT * FROM remap_dimension('mart.sales', 'org', 'mart.dim_store', '{store_id}', 'org_id');
SELECT * FROM remap_dimension('mart.sales', 'store_org_id', 'mart.dim_nope', '{store_id}', 'org_id');
SELECT * FROM remap_dimension('mart.sales', 'store_org_id', 'mart.dim_store', '{shop_id}', 'org_id');
SELECT * FROM remap_dimension('mart.sales', 'store_org_id', 'mart.dim_store', '{store_id}', 'org_name');
ALTER TABLE mart.dim_store ADD COLUMN org_code text, ADD COLUMN store_key bigint;
SELECT * FROM remap_dimension('mart.sales', 'store_org_id', 'mart.dim_store', '{store_id}', 'org_code',
                              current_by => 'valid_from');
SELECT * FROM remap_dimension('mart.sales', 'store_org_id', 'mart.dim_store', '{store_id=store_key}', 'org_id',
                              current_by => 'valid_from');
SELECT * FROM remap_dimension('mart.org_daily', 'store_org_id', 'mart.org_successor',
                              '{store_org_id=org_id}', 'successor', merge => '{"amount": "avg"}');
CREATE ROLE analyst;
GRANT USAGE ON SCHEMA mart TO analyst;
GRANT SELECT ON ALL TABLES IN SCHEMA mart TO analyst;
SET ROLE analyst;
SELECT * FROM remap_dimension('mart.sales', 'store_org_id', 'mart.dim_store', '{store_id}', 'org_id',
                              current_by => 'valid_from');
SELECT old_value, new_value, rows_changed
  FROM remap_dimension('mart.sales', 'store_org_id', 'mart.dim_store', '{store_id}', 'org_id',
                       current_by => 'valid_from', dry_run => true);
RESET ROLE;

-- A NULL current value into a NOT NULL column: refused up front naming the remap, the
-- column and the dimension (its dry run says so too).
CREATE TABLE mart.org_gone (org_id int PRIMARY KEY, successor int);
INSERT INTO mart.org_gone VALUES (10, NULL), (12, 12);
CREATE TABLE mart.org_totals (store_org_id int PRIMARY KEY, amount numeric(10,2));
INSERT INTO mart.org_totals VALUES (10, 1), (12, 2);
SELECT old_value, new_value, rows_changed FROM remap_dimension('mart.org_totals', 'store_org_id', 'mart.org_gone',
                                                               '{store_org_id=org_id}', 'successor', dry_run => true);
SELECT * FROM remap_dimension('mart.org_totals', 'store_org_id', 'mart.org_gone', '{store_org_id=org_id}', 'successor');
SELECT * FROM mart.org_totals ORDER BY 1;
