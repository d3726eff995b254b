-- Upstream jobs: order lines run after orders, totals after order lines. sync_run_all runs
-- them in dependency order; a failed upstream skips its dependents, with the reason recorded;
-- cycles are refused when defined; a job others run after cannot be dropped.
CREATE EXTENSION insync;
SET client_min_messages = warning;
CREATE SCHEMA ods;
CREATE SCHEMA dw;
CREATE TABLE ods.orders (order_id int, updated_at timestamptz NOT NULL);
CREATE TABLE ods.order_lines (line_id int PRIMARY KEY, order_id int, updated_at timestamptz NOT NULL);
CREATE TABLE dw.orders (order_id int PRIMARY KEY, updated_at timestamptz);
CREATE TABLE dw.order_lines (line_id int PRIMARY KEY, order_id int, updated_at timestamptz);
CREATE TABLE dw.line_copy (line_id int PRIMARY KEY, order_id int, updated_at timestamptz);
INSERT INTO ods.orders SELECT g, now() - interval '1 hour' FROM generate_series(1, 10) g;
INSERT INTO ods.order_lines SELECT g, g % 10 + 1, now() - interval '1 hour' FROM generate_series(1, 30) g;
-- Defined in any order: totals first would need lines, so define bottom-up.
SELECT job_name FROM sync_define('orders', source => 'ods.orders', target => 'dw.orders', key => '{order_id}',
       watermark => 'updated_at');
SELECT job_name FROM sync_define('order_lines', source => 'ods.order_lines', target => 'dw.order_lines',
       key => '{line_id}', watermark => 'updated_at', after => '{orders}');
SELECT job_name FROM sync_define('line_copy', source => 'dw.order_lines', target => 'dw.line_copy',
       key => '{line_id}', mode => 'full', after => '{order_lines}');
SELECT job_name, runs_after FROM insync.job_status ORDER BY job_name;
-- Unknown upstreams and cycles are refused, and change nothing.
SELECT job_name FROM sync_define('x', source => 'ods.orders', target => 'dw.orders', key => '{order_id}',
       watermark => 'updated_at', after => '{no_such_job}');
SELECT job_name FROM sync_alter('orders', after => '{line_copy}');
SELECT job_name FROM sync_alter('orders', after => '{orders}');
SELECT job_name, runs_after FROM insync.job_status WHERE job_name = 'orders';
-- One pass, upstreams first whatever order the names come in.
SELECT job_name, status, rows_inserted, message FROM sync_run_all('{line_copy,order_lines,orders}');
-- A NULL key in orders fails its run; its dependents are skipped and say why.
-- (stamped inside the next window: 0.9 s ago, then the run's one-second start margin waited out)
INSERT INTO ods.orders VALUES (NULL, now() - interval '0.9 seconds');
SELECT pg_sleep(1.1);
SELECT job_name, status, message FROM sync_run_all();
SELECT job_name, status, error_message FROM insync.runs WHERE status <> 'succeeded' ORDER BY run_id;
-- Run on its own, a job whose upstream's last run failed is skipped too.
SELECT status FROM sync_run('order_lines');
SELECT error_message FROM insync.runs ORDER BY run_id DESC LIMIT 1;
-- Fixed upstream: the next pass runs everything again.
DELETE FROM ods.orders WHERE order_id IS NULL;
SELECT job_name, status FROM sync_run_all();
-- A rename keeps the link (upstreams are kept by job id).
SELECT job_name FROM sync_alter('orders', new_name => 'all_orders');
SELECT job_name, runs_after FROM insync.job_status ORDER BY job_name;
-- A job others run after cannot be dropped; clearing the link allows it.
SELECT sync_drop('all_orders');
SELECT job_name FROM sync_alter('order_lines', after => '{}');
SELECT sync_drop('all_orders');
SELECT job_name, runs_after FROM insync.job_status ORDER BY job_name;
