-- What a job's pg_cron entry calls, sync_run_scheduled: the job, then the jobs downstream of it
-- that have no schedule of their own, in dependency order, all recorded as scheduled runs. When
-- the job itself fails the call fails (so pg_cron records the failure) and its dependents'
-- skips are still recorded.
CREATE EXTENSION insync;
SET client_min_messages = warning;
CREATE TABLE orders (order_id int, ts timestamptz NOT NULL);
CREATE TABLE orders_copy (order_id int PRIMARY KEY, ts timestamptz);
CREATE TABLE lines (line_id int PRIMARY KEY, order_id int, ts timestamptz NOT NULL);
CREATE TABLE lines_copy (line_id int PRIMARY KEY, order_id int, ts timestamptz);
CREATE TABLE other (id int PRIMARY KEY, ts timestamptz NOT NULL);
CREATE TABLE other_copy (id int PRIMARY KEY, ts timestamptz);
INSERT INTO orders SELECT g, now() - interval '1 hour' FROM generate_series(1, 5) g;
INSERT INTO lines SELECT g, g % 5 + 1, now() - interval '1 hour' FROM generate_series(1, 15) g;
INSERT INTO other VALUES (1, now() - interval '1 hour');
SELECT job_name FROM sync_define('orders', source => 'orders', target => 'orders_copy', key => '{order_id}', watermark => 'ts');
SELECT job_name FROM sync_define('lines', source => 'lines', target => 'lines_copy', key => '{line_id}', watermark => 'ts',
       after => '{orders}');
SELECT job_name FROM sync_define('other', source => 'other', target => 'other_copy', key => '{id}', watermark => 'ts');
SELECT job_name, status, rows_inserted FROM sync_run_scheduled('orders');
SELECT job_name, status, scheduled FROM insync.runs ORDER BY run_id;
-- (stamped inside the next window: 0.9 s ago, then the run's one-second start margin waited out)
INSERT INTO orders VALUES (NULL, now() - interval '0.9 seconds');
SELECT pg_sleep(1.1);
SELECT job_name, status FROM sync_run_scheduled('orders');
SELECT job_name, status, scheduled, error_message FROM insync.runs WHERE status <> 'succeeded' ORDER BY run_id;
SELECT job_name, last_scheduled_status FROM insync.job_status ORDER BY job_name;
