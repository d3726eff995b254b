-- A NULL current value into a NOT NULL column: refused up front naming the remap, the column
-- and the dimension (its dry run says so too).
CREATE EXTENSION insync;
SET client_min_messages = notice;
CREATE TABLE org_gone (org_id int PRIMARY KEY, successor int);
INSERT INTO org_gone VALUES (10, NULL), (12, 12);
CREATE TABLE org_totals (store_org_id int PRIMARY KEY, amount numeric(10,2));
INSERT INTO org_totals VALUES (10, 1), (12, 2);
SELECT old_value, new_value, rows_changed FROM remap_dimension('org_totals', 'store_org_id', 'org_gone',
                                                               '{store_org_id=org_id}', 'successor', dry_run => true);
SELECT * FROM remap_dimension('org_totals', 'store_org_id', 'org_gone', '{store_org_id=org_id}', 'successor');
SELECT * FROM org_totals ORDER BY 1;
