-- restore_quarantine puts a dedup batch back exactly, once; a unique index that forbids the
-- copies makes the restore fail with nothing restored.
\i pg_test/setup/orders_duplicates.sql
SET client_min_messages = warning;
SELECT count(*) AS rows_before FROM wh.orders;
SELECT sum(removed) AS removed FROM dedup_table('wh.orders', '{order_id}', keep => 'source_order',
       source_order => '{erp,crm}', order_by => 'updated_at', add_unique_index => true);
SELECT max(batch_id) AS batch FROM insync.quarantine \gset
SELECT restore_quarantine(:batch);
SELECT count(*) AS rows_after_refused_restore FROM wh.orders;
DROP INDEX wh.orders_order_id_idx;
SELECT restore_quarantine(:batch);
SELECT count(*) AS rows_after_restore FROM wh.orders;
SELECT restore_quarantine(:batch);
