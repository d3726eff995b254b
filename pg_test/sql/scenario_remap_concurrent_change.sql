-- A remap whose rows another transaction changes or deletes while the remap waits for them:
-- those rows are left as the other transaction left them (never overwritten with a stale
-- before-image in the quarantine), the remap says how many in a WARNING, a second run remaps
-- them, and the undo restores exactly what each remap overwrote.
CREATE EXTENSION insync;
\i pg_test/setup/sessions.sql
CREATE TABLE dim (store_id int PRIMARY KEY, org_id int);
INSERT INTO dim VALUES (1, 20), (2, 30);
CREATE TABLE sales (sale_id int PRIMARY KEY, store_id int, org int);
INSERT INTO sales VALUES (1, 1, 10), (2, 1, 10), (3, 1, 10), (4, 1, 11), (5, 1, 10), (6, 2, 30);
SELECT scenario.connect('writer');
-- The writer changes rows 1 to 3 and holds them; once this session's remap waits for them,
-- the writer commits.
SELECT dblink_exec('writer', 'BEGIN');
SELECT dblink_exec('writer', 'UPDATE sales SET org = 11 WHERE sale_id = 1');
SELECT dblink_exec('writer', 'UPDATE sales SET org = 99 WHERE sale_id = 2');
SELECT dblink_exec('writer', 'DELETE FROM sales WHERE sale_id = 3');
SELECT dblink_send_query('writer', format(
  'SELECT scenario.wait_until(%L); COMMIT',
  format('SELECT EXISTS (SELECT FROM pg_stat_activity WHERE pid = %s AND wait_event_type = ''Lock'')',
         pg_backend_pid())));
SELECT old_value, new_value, rows_changed FROM remap_dimension('sales', 'org', 'dim', '{store_id}', 'org_id');
SELECT * FROM dblink_get_result('writer') AS t(waited boolean);
SELECT * FROM dblink_get_result('writer') AS t(done text);
SELECT sale_id, org FROM sales ORDER BY sale_id;
SELECT key, row_data, after_data,
       (SELECT array_agg(k::text::int ORDER BY k::text::int) FROM json_array_elements(row_keys) k) AS row_keys
  FROM insync.quarantine ORDER BY row_data::text;
-- Run again, it remaps what rows 1 and 2 hold now.
SELECT old_value, new_value, rows_changed FROM remap_dimension('sales', 'org', 'dim', '{store_id}', 'org_id');
-- The undo of the first batch puts back what it overwrote (rows 4 and 5); rows 1 and 2
-- belong to the second batch.
SELECT restore_quarantine(min(batch_id)) FROM insync.quarantine;
SELECT sale_id, org FROM sales ORDER BY sale_id;
SELECT dblink_disconnect('writer');
