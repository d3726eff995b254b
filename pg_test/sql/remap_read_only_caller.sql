-- A role that may only read the facts gets a privilege error, but may dry-run.
\i pg_test/setup/stores.sql
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
SELECT count(*) AS rows_moved FROM mart.sales WHERE store_org_id = 42;
