-- remap_dimension with a missing table, column or dimension, or a join or current rule that
-- does not fit: a clear error, and nothing changes.
\i pg_test/setup/stores.sql
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
SELECT * FROM remap_dimension('mart.sales', 'store_org_id', 'mart.dim_store', '{store_id}', 'org_id',
                              current_by => 'valid_from', current_flag => 'is_current');
SELECT * FROM remap_dimension('mart.sales', 'store_org_id', 'mart.dim_store', '{store_id}', 'org_id',
                              current_flag => 'valid_from');
SELECT count(*) AS rows_moved FROM mart.sales WHERE store_org_id = 42;
