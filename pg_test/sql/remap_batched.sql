-- Large targets: remap_dimension_batched commits one batch of heap blocks per transaction,
-- with progress.
\i pg_test/setup/stores.sql
CREATE TABLE mart.sales_history AS
SELECT g AS sale_id, 1 + g % 6 AS store_id, 10 + (1 + g % 6) % 3 AS store_org_id, 'x' AS note FROM generate_series(1, 3000) g;
SELECT pg_relation_size('mart.sales_history') / current_setting('block_size')::int AS blocks;
CALL remap_dimension_batched('mart.sales_history', 'store_org_id', 'mart.dim_store', '{store_id}', 'org_id',
                             current_flag => 'is_current', batch_blocks => 8);
SELECT store_org_id, count(*) FROM mart.sales_history WHERE store_id = 4 GROUP BY 1;
SELECT count(*) AS quarantine_batches FROM insync.quarantine_batches;
