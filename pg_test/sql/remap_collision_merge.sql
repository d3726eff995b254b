-- Organizations merge: org 11 is absorbed by org 12, and per-org aggregate rows collide. Without
-- a merge rule the remap is refused; with one, colliding rows are summed, the dry run reports
-- what the run then does, and the restore brings the aggregate back exactly.
CREATE EXTENSION insync;
SET client_min_messages = notice;
CREATE TABLE org_successor (org_id int PRIMARY KEY, successor int);
INSERT INTO org_successor VALUES (10, 10), (11, 12), (12, 12), (42, 42);
CREATE TABLE org_daily (day date, store_org_id int, amount numeric(10,2), orders int,
                        UNIQUE (day, store_org_id));
INSERT INTO org_daily SELECT '2026-01-01'::date + d, o, 100 * o + d, o - 9
  FROM generate_series(0, 2) d, generate_series(10, 12) o;
SELECT sum(amount), sum(orders), count(*) FROM org_daily;
SELECT * FROM remap_dimension('org_daily', 'store_org_id', 'org_successor', '{store_org_id=org_id}', 'successor');
SELECT old_value, new_value, rows_changed, rows_merged
  FROM remap_dimension('org_daily', 'store_org_id', 'org_successor', '{store_org_id=org_id}', 'successor',
                       merge => '{"amount": "sum", "orders": "sum"}', dry_run => true);
SELECT old_value, new_value, rows_changed, rows_merged
  FROM remap_dimension('org_daily', 'store_org_id', 'org_successor', '{store_org_id=org_id}', 'successor',
                       merge => '{"amount": "sum", "orders": "sum"}');
SELECT sum(amount), sum(orders), count(*) FROM org_daily;
SELECT day, store_org_id, amount, orders FROM org_daily ORDER BY 1, 2;
SELECT restore_quarantine((SELECT max(batch_id) FROM insync.quarantine));
SELECT sum(amount), sum(orders), count(*) FROM org_daily;
-- Merge rules are checked: an unknown aggregate, an unknown key.
SELECT * FROM remap_dimension('org_daily', 'store_org_id', 'org_successor', '{store_org_id=org_id}', 'successor',
                              merge => '{"amount": "avg"}');
SELECT * FROM remap_dimension('org_daily', 'store_org_id', 'org_successor', '{store_org_id=org_id}', 'successor',
                              merge => '{"amount": "sum", "orderz": "sum"}');
