-- A store moves to another organization: re-point facts and aggregates, lose nothing. A
-- dimension with history needs a rule for its current row; a second run finds nothing to do.
\i pg_test/setup/stores.sql
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
SELECT old_value, new_value, rows_changed
  FROM remap_dimension('mart.sales', 'store_org_id', 'mart.dim_store', '{store_id}', 'org_id',
                       current_flag => 'is_current');
SELECT table_name, reason, changed_column, count(*) AS entries, sum(coalesce(json_array_length(row_keys), 1)) AS rows
  FROM insync.quarantine GROUP BY 1, 2, 3 ORDER BY 1;
-- Undo the facts' remap: the old organization comes back.
SELECT restore_quarantine(min(batch_id)) FROM insync.quarantine WHERE table_name = 'mart.sales';
SELECT store_org_id, count(*) FROM mart.sales WHERE store_id = 4 GROUP BY 1;
