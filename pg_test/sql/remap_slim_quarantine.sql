-- A plain remap of a table with a row key quarantines each changed row's key and the old
-- value (one entry per join key and value pair), not its whole before-image; the undo puts
-- the old value back exactly: NULLs, a row remapped twice in one batch, and it refuses when
-- a row changed again after the remap.
CREATE EXTENSION insync;
CREATE TABLE dim (store_id int PRIMARY KEY, org_id int);
INSERT INTO dim SELECT s, 10 + s FROM generate_series(1, 4) s;
-- Row key (day, sale_no): two columns, neither the remapped one; the org column starts with
-- NULLs and stale values, and a json column must come back byte for byte.
CREATE TABLE sales (day date NOT NULL, sale_no int NOT NULL, store_id int, org int, doc json,
                    PRIMARY KEY (day, sale_no));
INSERT INTO sales SELECT '2026-01-01'::date + g % 2, g, 1 + g % 4,
       CASE WHEN g % 3 = 0 THEN NULL ELSE 10 + (1 + g % 4) END, '{"b": 1,  "a": [2]}'
  FROM generate_series(1, 24) g;
UPDATE sales SET org = 99 WHERE sale_no IN (1, 2);
CREATE TABLE before AS TABLE sales;
SELECT old_value, new_value, rows_changed FROM remap_dimension('sales', 'org', 'dim', '{store_id}', 'org_id');
-- One entry per store and (old, new) pair; the row keys name the rows.
SELECT key, row_data, after_data, changed_column, row_key_columns, json_array_length(row_keys) AS rows
  FROM insync.quarantine ORDER BY key::text, row_data::text;
-- Store 2 moves, and store 3's org becomes unknown: the same rows change again in the same
-- batch (the batch holds their keys twice), into and out of NULL.
UPDATE dim SET org_id = CASE store_id WHEN 2 THEN 42 ELSE NULL END WHERE store_id IN (2, 3);
SELECT old_value, new_value, rows_changed
  FROM remap_dimension('sales', 'org', 'dim', '{store_id}', 'org_id',
                       batch_id => (SELECT max(batch_id) FROM insync.quarantine));
-- A row changed again after the remap: the undo would not be exact, so nothing is restored.
UPDATE sales SET org = 7 WHERE sale_no = 5;
SELECT restore_quarantine(max(batch_id)) FROM insync.quarantine;
UPDATE sales SET org = 42 WHERE sale_no = 5;
-- A row gone since (sale 1, remapped twice): refused too, until it is back as it was left.
DELETE FROM sales WHERE sale_no = 1 RETURNING day, sale_no, store_id, org;
SELECT restore_quarantine(max(batch_id)) FROM insync.quarantine;
INSERT INTO sales VALUES ('2026-01-02', 1, 2, 42, '{"b": 1,  "a": [2]}');
-- A later change of another column stays: the undo puts back only what the remap changed.
UPDATE sales SET doc = '{"later": true}' WHERE sale_no = 6;
SELECT restore_quarantine(max(batch_id)) FROM insync.quarantine;
SELECT count(*) AS differing FROM ((SELECT day, sale_no, store_id, org FROM sales
                                    EXCEPT ALL SELECT day, sale_no, store_id, org FROM before)
                                   UNION ALL (SELECT day, sale_no, store_id, org FROM before
                                    EXCEPT ALL SELECT day, sale_no, store_id, org FROM sales)) d;
SELECT sale_no, org, doc FROM sales WHERE sale_no IN (1, 3, 6) ORDER BY sale_no;
SELECT count(*) AS json_kept FROM sales WHERE doc::text = '{"b": 1,  "a": [2]}';
SELECT restore_quarantine(max(batch_id)) FROM insync.quarantine;
-- Without a row key (duplicate rows, no unique index) a remap keeps whole before-images.
CREATE TABLE copies (store_id int, org int);
INSERT INTO copies VALUES (1, 1), (1, 1), (2, NULL);
CREATE TABLE copies_before AS TABLE copies;
SELECT old_value, new_value, rows_changed FROM remap_dimension('copies', 'org', 'dim', '{store_id}', 'org_id');
SELECT row_data, row_keys FROM insync.quarantine WHERE table_name = 'public.copies' ORDER BY row_data::text;
SELECT restore_quarantine(min(batch_id)) FROM insync.quarantine WHERE table_name = 'public.copies';
SELECT count(*) AS differing FROM ((TABLE copies EXCEPT ALL TABLE copies_before)
                                   UNION ALL (TABLE copies_before EXCEPT ALL TABLE copies)) d;
-- The join column is the remapped column (org 11 is absorbed by org 12): the entry's key is
-- the old org, and the undo brings it back.
CREATE TABLE org_map (org_id int PRIMARY KEY, successor int);
INSERT INTO org_map VALUES (11, 12), (12, 12);
CREATE TABLE accounts (account_id int PRIMARY KEY, org int);
INSERT INTO accounts SELECT g, 11 + g % 2 FROM generate_series(1, 6) g;
SELECT old_value, new_value, rows_changed FROM remap_dimension('accounts', 'org', 'org_map', '{org=org_id}', 'successor');
-- (An entry lists its rows' keys in no particular order: sorted here.)
SELECT key, row_data, after_data,
       (SELECT array_agg(k::text::int ORDER BY k::text::int) FROM json_array_elements(row_keys) k) AS row_keys
  FROM insync.quarantine WHERE table_name = 'public.accounts';
SELECT restore_quarantine(min(batch_id)) FROM insync.quarantine WHERE table_name = 'public.accounts';
SELECT org, count(*) FROM accounts GROUP BY 1 ORDER BY 1;
-- Putting old values back is an UPDATE: the caller needs that privilege to restore.
CREATE ROLE clerk;
GRANT SELECT, UPDATE ON accounts TO clerk;
GRANT SELECT ON org_map TO clerk;
SET ROLE clerk;
SELECT rows_changed FROM remap_dimension('accounts', 'org', 'org_map', '{org=org_id}', 'successor');
RESET ROLE;
REVOKE UPDATE ON accounts FROM clerk;
SET ROLE clerk;
SELECT restore_quarantine(max(batch_id)) FROM insync.quarantine WHERE table_name = 'public.accounts';
RESET ROLE;
GRANT UPDATE ON accounts TO clerk;
SET ROLE clerk;
SELECT restore_quarantine(max(batch_id)) FROM insync.quarantine WHERE table_name = 'public.accounts';
RESET ROLE;
SELECT org, count(*) FROM accounts GROUP BY 1 ORDER BY 1;
