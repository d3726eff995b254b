#!/usr/bin/env bash
# The insync demo: an OLTP-like `ods` schema synced into a `dw` schema inside PostgreSQL 15,
# on a throwaway cluster (user postgres, 127.0.0.1:54330). The extension must be installed.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${INSYNC_DEMO_PORT:-54330}
DIR=/tmp/insync-demo
scripts/cluster.sh start "$DIR" "$PORT"
trap 'scripts/cluster.sh stop "$DIR"' EXIT
psql() { command psql -X -q -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 "$@"; }
step() { printf '\n== %s\n' "$*"; }

step "OLTP source (ods) and warehouse (dw): 20,000 customers, 30,000 orders, 90,000 order lines"
psql <<'SQL'
CREATE EXTENSION insync;
CREATE SCHEMA ods; CREATE SCHEMA dw;
CREATE TABLE ods.customers (customer_id int PRIMARY KEY, name text NOT NULL, city text,
                            updated_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE ods.orders (order_id int PRIMARY KEY, customer_id int NOT NULL, status text,
                         updated_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE ods.order_lines (line_id int PRIMARY KEY, order_id int NOT NULL, sku text, qty int);
CREATE INDEX ON ods.customers (updated_at);
CREATE INDEX ON ods.orders (updated_at);
CREATE INDEX ON ods.order_lines (order_id);
INSERT INTO ods.customers SELECT g, 'customer ' || g, (ARRAY['Paris','Lyon','Nice','Lille'])[1 + g % 4],
       now() - interval '2 days' + g * interval '1 second' FROM generate_series(1, 20000) g;
INSERT INTO ods.orders SELECT g, 1 + g % 20000, 'new', now() - interval '1 day' + g * interval '1 second'
  FROM generate_series(1, 30000) g;
INSERT INTO ods.order_lines SELECT g, 1 + (g - 1) / 3, 'sku-' || (g % 97), 1 + g % 5 FROM generate_series(1, 90000) g;
CREATE TABLE dw.customers (customer_id int PRIMARY KEY, name text, city text, updated_at timestamptz);
CREATE TABLE dw.orders (order_id int PRIMARY KEY, customer_id int, status text, updated_at timestamptz);
CREATE TABLE dw.order_lines (line_id int PRIMARY KEY, order_id int, sku text, qty int);
SQL

step "Define the jobs (order lines take their change time from orders.updated_at)"
psql <<'SQL'
\pset footer off
SELECT job_name, source, target, key_columns, merge_strategy FROM sync_define('customers',
       source => 'ods.customers', target => 'dw.customers', key => '{customer_id}', watermark => 'updated_at');
SELECT job_name, source, target, key_columns, merge_strategy FROM sync_define('orders',
       source => 'ods.orders', target => 'dw.orders', key => '{order_id}', watermark => 'updated_at',
       lookback => '5 minutes');
SELECT job_name, source, target, key_columns, merge_strategy FROM sync_define('order_lines',
       source => 'ods.order_lines', target => 'dw.order_lines', key => '{line_id}',
       watermark => 'updated_at', watermark_source => 'ods.orders', watermark_join => '{order_id}');
SQL

step "Initial load: the first run of each job"
psql -c "SELECT j AS job, r.* FROM unnest(ARRAY['customers','orders','order_lines']) j, sync_incremental(j) r"

step "Changes: 500 customers move, 1,000 orders ship (their lines change too), 200 new orders"
psql <<'SQL'
UPDATE ods.customers SET city = 'Bordeaux', updated_at = clock_timestamp() WHERE customer_id % 40 = 0;
UPDATE ods.order_lines SET qty = qty + 1 WHERE order_id IN (SELECT order_id FROM ods.orders WHERE order_id % 30 = 0);
UPDATE ods.orders SET status = 'shipped', updated_at = clock_timestamp() WHERE order_id % 30 = 0;
INSERT INTO ods.orders SELECT g, 1 + g % 20000, 'new', clock_timestamp() FROM generate_series(30001, 30200) g;
INSERT INTO ods.order_lines SELECT g, 30001 + (g - 90001) / 3, 'sku-new', 1 FROM generate_series(90001, 90600) g;
SQL

step "A late-arriving order: its transaction starts now and commits in 4 seconds"
command psql -X -q -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -c \
  "BEGIN; INSERT INTO ods.orders VALUES (99999, 1, 'late', now()); SELECT pg_sleep(4); COMMIT;" >/dev/null &
late=$!
sleep 1.5

step "Incremental run while the late transaction is still open (its window stops before it)"
psql -c "SET client_min_messages = warning; SELECT j AS job, r.status, r.rows_read, r.rows_inserted, r.rows_updated FROM unnest(ARRAY['customers','orders','order_lines']) j, sync_incremental(j) r"
wait "$late"
sleep 1.2

step "Next run after the late commit: the late order is picked up, nothing is duplicated"
psql -c "SELECT j AS job, r.status, r.rows_read, r.rows_inserted, r.rows_updated FROM unnest(ARRAY['customers','orders','order_lines']) j, sync_incremental(j) r"

step "Run history"
psql -c "SELECT run_id, job_name, kind, status, rows_read, rows_inserted, rows_updated, finished_at - started_at AS took FROM insync.runs ORDER BY run_id"
psql -c "SELECT job_name, status, last_rows_read, watermark, lag FROM insync.job_status ORDER BY job_name"

step "Do source and target agree? (rows differing in either direction)"
psql <<'SQL'
SELECT 'customers' AS job_table, count(*) AS differences FROM ((TABLE ods.customers EXCEPT TABLE dw.customers) UNION ALL (TABLE dw.customers EXCEPT TABLE ods.customers)) d
UNION ALL
SELECT 'orders', count(*) FROM ((TABLE ods.orders EXCEPT TABLE dw.orders) UNION ALL (TABLE dw.orders EXCEPT TABLE ods.orders)) d
UNION ALL
SELECT 'order_lines', count(*) FROM ((TABLE ods.order_lines EXCEPT TABLE dw.order_lines) UNION ALL (TABLE dw.order_lines EXCEPT TABLE ods.order_lines)) d;
SELECT count(*) AS late_order_in_dw FROM dw.orders WHERE order_id = 99999;
SQL
