#!/usr/bin/env bash
# Sources on another server, tested for real: an OLTP cluster (127.0.0.1:54334) read by the
# warehouse cluster (127.0.0.1:54333) through postgres_fdw, as a data engineer sets it up
# (IMPORT FOREIGN SCHEMA). Checks:
#   1. the window is sent to the source: the query postgres_fdw sends carries the bounds as
#      parameters, the run's counts are an aggregate computed there, and a run over one
#      changed row reads that row on the source (once to merge, once to count);
#   2. the same for a watermark taken from a related table (order lines -> orders);
#   3. a foreign source never runs in parallel segments (each would fetch the whole window);
#   4. the target equals the source after every run; sync_define finds an unreachable server;
#   5. sync_verify computes its bucket checksums on the source: only aggregates cross the wire.
# The source logs every statement it runs; rows read are the source's own table counters,
# read after the warehouse closed its connection (a backend reports them when it exits).
set -euo pipefail
cd "$(dirname "$0")/.."
WH_PORT=${INSYNC_REMOTE_WH_PORT:-54333}
SRC_PORT=${INSYNC_REMOTE_SRC_PORT:-54334}
WH_DIR=${INSYNC_REMOTE_WH_DIR:-/tmp/insync-remote-wh}
SRC_DIR=${INSYNC_REMOTE_SRC_DIR:-/tmp/insync-remote-src}
source scripts/pg.sh
failures=0

wh() { "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$WH_PORT" -U postgres -d warehouse "$@"; }
src() { "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$SRC_PORT" -U postgres -d oltp "$@"; }
check() { # DESCRIPTION GOT EXPECTED
  if [ "$2" = "$3" ]; then echo "ok   $1"; else echo "FAIL $1: expected [$3], got [$2]"; failures=$((failures + 1)); fi
}
starts() { # DESCRIPTION GOT EXPECTED-PREFIX
  if [ "${2#"$3"}" != "$2" ]; then echo "ok   $1"; else echo "FAIL $1: expected [$3...], got [$2]"; failures=$((failures + 1)); fi
}
# Closes the warehouse's connections to the source and waits until the source has seen them go.
disconnect() {
  wh -At -c "SELECT postgres_fdw_disconnect_all()" >/dev/null
  for _ in $(seq 1 600); do
    [ "$(src -At -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'postgres_fdw'")" = 0 ] && return 0
    sleep 0.1
  done
  echo "FAIL the warehouse's connections to the source did not end"; failures=$((failures + 1))
}
# Rows the source read from TABLE (sequential + index fetches) since the last reset.
rows_read() { src -At -c "SELECT coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0) FROM pg_stat_user_tables WHERE relname = '$1'"; }
reset_counters() { disconnect; src -At -c "SELECT pg_stat_reset()" >/dev/null; }
# The statements postgres_fdw sent since the log was last cut.
remote_sql() { sed -n "$((log_mark + 1)),\$p" "$SRC_DIR/server.log" | grep -A1 'DECLARE c[0-9]* CURSOR FOR' || true; }
cut_log() { log_mark=$(wc -l <"$SRC_DIR/server.log"); }

# The source keeps local time in New York; the warehouse runs in UTC.
scripts/cluster.sh start "$SRC_DIR" "$SRC_PORT" log_statement=all timezone=America/New_York
scripts/cluster.sh start "$WH_DIR" "$WH_PORT" timezone=UTC
trap 'scripts/cluster.sh stop "$WH_DIR"; scripts/cluster.sh stop "$SRC_DIR"' EXIT
"$PGBIN/createdb" -h 127.0.0.1 -p "$SRC_PORT" -U postgres oltp
"$PGBIN/createdb" -h 127.0.0.1 -p "$WH_PORT" -U postgres warehouse

src <<'SQL'
CREATE TABLE customer (customer_id int PRIMARY KEY, name text, city text, updated_at timestamptz NOT NULL);
CREATE INDEX customer_updated_at ON customer (updated_at);
INSERT INTO customer SELECT g, 'customer ' || g, 'Paris', now() - interval '1 day' FROM generate_series(1, 20000) g;
CREATE TABLE orders (order_id int PRIMARY KEY, status text, updated_at timestamptz NOT NULL);
CREATE INDEX orders_updated_at ON orders (updated_at);
CREATE TABLE order_lines (line_id int PRIMARY KEY, order_id int NOT NULL REFERENCES orders, qty int);
CREATE INDEX order_lines_order_id ON order_lines (order_id);
INSERT INTO orders SELECT g, 'open', now() - interval '1 day' FROM generate_series(1, 5000) g;
INSERT INTO order_lines SELECT g, 1 + g % 5000, g % 7 FROM generate_series(1, 20000) g;
CREATE TABLE events (id int PRIMARY KEY, v text, changed_at timestamp NOT NULL DEFAULT localtimestamp);
INSERT INTO events SELECT g, 'a', localtimestamp - interval '1 day' FROM generate_series(1, 10) g;
ANALYZE;
SQL
wh <<SQL
SET client_min_messages = warning;
CREATE EXTENSION insync;
CREATE EXTENSION postgres_fdw;
CREATE EXTENSION dblink;
CREATE SERVER oltp FOREIGN DATA WRAPPER postgres_fdw
  OPTIONS (host '127.0.0.1', port '$SRC_PORT', dbname 'oltp', use_remote_estimate 'true');
CREATE USER MAPPING FOR postgres SERVER oltp OPTIONS (user 'postgres');
CREATE SCHEMA remote;
IMPORT FOREIGN SCHEMA public FROM SERVER oltp INTO remote;
CREATE SCHEMA dw;
CREATE TABLE dw.customer (customer_id int PRIMARY KEY, name text, city text, updated_at timestamptz);
CREATE TABLE dw.order_lines (line_id int PRIMARY KEY, order_id int, qty int);
CREATE TABLE dw.events (id int PRIMARY KEY, v text, changed_at timestamp);
SQL

same() { # JOB LOCAL REMOTE: rows differing between target and source
  wh -At -c "SELECT count(*) FROM ((TABLE $2 EXCEPT TABLE $3) UNION ALL (TABLE $3 EXCEPT TABLE $2)) d"
}

# --- 1. a timestamptz watermark ---------------------------------------------------------------
wh -At -c "SELECT job_name FROM sync_define('customer', source => 'remote.customer', target => 'dw.customer',
           key => '{customer_id}', watermark => 'updated_at')" >/dev/null
check "initial load reads the remote table" \
  "$(wh -At -c "SELECT status || ':' || rows_inserted FROM sync_incremental('customer')")" "succeeded:20000"
src -c "UPDATE customer SET city = 'Lyon', updated_at = now() WHERE customer_id = 42"
sleep 1.2 # the window stops one second before a run starts (the start margin)
reset_counters
cut_log
check "one changed row: one row read and merged" \
  "$(wh -At -c "SELECT status || ':' || rows_read || ':' || rows_updated FROM sync_incremental('customer')")" "succeeded:1:1"
disconnect
sent=$(remote_sql)
# The bounds arrive as typed parameters, which the planner folds into constants that
# postgres_fdw can ship (a text parameter cast in SQL would have stayed local).
check "the window's bounds are sent to the source" \
  "$(grep -c "WHERE ((updated_at > '[^']*')) AND ((updated_at <= '[^']*'))" <<<"$sent")" 1
# The run's counts are an aggregate the source computes over the same window (one row comes
# back): the source reads the changed row twice, and sends it once.
check "the counts are computed on the source" \
  "$(grep -c "SELECT count(\*), count(\*) FILTER (WHERE (customer_id IS NULL)) FROM public.customer WHERE ((updated_at > '[^']*')) AND ((updated_at <= '[^']*'))" <<<"$sent")" 1
check "the source read only the changed row (merge and count)" "$(rows_read customer)" 2
check "target equals source" "$(same customer dw.customer remote.customer)" 0
cut_log
check "an empty window reads nothing" \
  "$(wh -At -c "SELECT status || ':' || rows_read FROM sync_incremental('customer')")" "succeeded:0"
check "a parallel call on a foreign source runs serially" \
  "$(wh -At -c "SET client_min_messages = notice" -c "SELECT status FROM sync_incremental('customer', parallel => 2)" \
        -c "SELECT segments IS NULL FROM insync.runs ORDER BY run_id DESC LIMIT 1" 2>&1 | paste -sd'|' -)" \
  "NOTICE:  sync job \"customer\" runs serially: remote.customer is a foreign table, and each segment would fetch the whole window from its server|succeeded|t"

# --- 1b. verification: per-bucket checksums computed on the source ----------------------------
wh -c "UPDATE dw.customer SET city = 'drifted' WHERE customer_id = 7" -c "DELETE FROM dw.customer WHERE customer_id = 8" \
   -c "INSERT INTO dw.customer VALUES (99999, 'ghost', 'Nowhere', now())" >/dev/null
reset_counters
cut_log
check "verify finds a changed, a missing and an extra key" \
  "$(wh -At -c "SELECT status || ':' || missing || ':' || extra || ':' || changed FROM sync_verify('customer')")" "different:1:1:1"
disconnect
sent=$(remote_sql)
# postgres_fdw sends its queries as DECLARE ... CURSOR; every one reading the table groups there.
check "verify: every query on the source table is an aggregate computed there" \
  "$(grep 'FROM public.customer' <<<"$sent" | grep -vc 'GROUP BY' || true)" 0
check "verify: bucket checksums and the keys of differing buckets, both aggregated on the source" \
  "$(grep 'FROM public.customer' <<<"$sent" | grep -c 'sum(')" 2
# Rows cross the wire in FETCHes of 100 (postgres_fdw's fetch_size): reading the 20,000-row
# table once would take 200 of them.
fetches=$(sed -n "$((log_mark + 1)),\$p" "$SRC_DIR/server.log" | grep -c 'FETCH 100 FROM c' || true)
echo "     verify: $fetches fetches of at most 100 rows crossed the wire for a 20,000-row source"
check "verify: only bucket checksums and differing buckets crossed the wire (under 20 fetches)" \
  "$([ "$fetches" -lt 20 ] && echo yes || echo "no ($fetches)")" yes
check "verify and repair a foreign source" \
  "$(wh -At -c "SELECT status || ':' || rows_deleted || ':' || rows_inserted FROM sync_verify('customer', repair => true)")" "repaired:2:2"
check "repair: target equals source" "$(same customer dw.customer remote.customer)" 0
check "after the repair, verify finds them equal" \
  "$(wh -At -c "SELECT status FROM sync_verify('customer')")" "equal"
# deletes => 'verify': an incremental run finds the key that left the source with key-only
# bucket checksums computed on the source.
wh -At -c "SET client_min_messages = warning" -c "SELECT job_name FROM sync_alter('customer', deletes => 'verify')" >/dev/null
src -c "DELETE FROM customer WHERE customer_id = 11" >/dev/null
reset_counters
cut_log
check "deletes => 'verify': the incremental run deletes the key gone from the source" \
  "$(wh -At -c "SELECT status || ':' || rows_deleted FROM sync_incremental('customer')")" "succeeded:1"
disconnect
sent=$(remote_sql)
check "deletes => 'verify': key-only bucket checksums are aggregated on the source" \
  "$(grep 'FROM public.customer' <<<"$sent" | grep 'GROUP BY' | grep -vc 'name' || true)" 1
check "deletes => 'verify': nothing else reads the whole source table" \
  "$(grep -c 'FROM public.customer$' <<<"$sent" || true)" 0
check "deletes: target equals source" "$(same customer dw.customer remote.customer)" 0
# Put the row back (the later checks count the source's rows) and resync.
src -c "INSERT INTO customer VALUES (11, 'customer 11', 'Paris', now() - interval '1 day')" >/dev/null
wh -At -c "SELECT status FROM sync_full('customer')" >/dev/null
wh -At -c "SET client_min_messages = warning" -c "SELECT job_name FROM sync_alter('customer', deletes => 'ignore')" >/dev/null

# --- 2. a watermark taken from a related table ------------------------------------------------
wh -At -c "SELECT job_name FROM sync_define('order_lines', source => 'remote.order_lines', target => 'dw.order_lines',
           key => '{line_id}', watermark => 'updated_at', watermark_source => 'remote.orders',
           watermark_join => '{order_id}')" >/dev/null
check "related watermark: initial load" \
  "$(wh -At -c "SELECT status || ':' || rows_inserted FROM sync_incremental('order_lines')")" "succeeded:20000"
src -c "UPDATE orders SET status = 'paid', updated_at = now() WHERE order_id IN (7, 8)" \
    -c "UPDATE order_lines SET qty = qty + 100 WHERE order_id IN (7, 8)"
sleep 1.2
reset_counters
cut_log
check "related watermark: the lines of two changed orders" \
  "$(wh -At -c "SELECT status || ':' || rows_read || ':' || rows_updated FROM sync_incremental('order_lines')")" "succeeded:8:8"
disconnect
sent=$(remote_sql)
check "related watermark: the join and the window are sent to the source as one query" \
  "$(grep -c "public.order_lines r1 INNER JOIN public.orders r2 ON .*r2.updated_at > '[^']*'" <<<"$sent")" 1
check "related watermark: the source read the changed orders and their lines, not the tables" \
  "$(( $(rows_read orders) + $(rows_read order_lines) <= 20 ))" 1
check "related watermark: target equals source" "$(same order_lines dw.order_lines remote.order_lines)" 0

# --- 3. errors --------------------------------------------------------------------------------
wh -c "CREATE SERVER nowhere FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host '127.0.0.1', port '9', dbname 'x')" \
   -c "CREATE USER MAPPING FOR postgres SERVER nowhere" \
   -c "CREATE FOREIGN TABLE remote.unreachable (id int, ts timestamptz) SERVER nowhere" \
   -c "CREATE TABLE dw.unreachable (id int PRIMARY KEY, ts timestamptz)"
starts "sync_define finds an unreachable server" \
  "$(wh -At -c "SELECT job_name FROM sync_define('unreachable', source => 'remote.unreachable', target => 'dw.unreachable', key => '{id}', watermark => 'ts')" 2>&1 | head -1)" \
  "ERROR:  sync job \"unreachable\" is invalid: reading server \"nowhere\": could not connect to server"

# --- 4. a row committed late on the source ----------------------------------------------------
# A source session stamps a row at its transaction's start and commits after a run.
fifo=$(mktemp -u); mkfifo "$fifo"
src <"$fifo" >/dev/null 2>&1 & writer=$!
exec 3>"$fifo"
echo "BEGIN; INSERT INTO customer VALUES (90001, 'late', 'Nice', now());" >&3
for _ in $(seq 1 600); do
  [ "$(src -At -c "SELECT count(*) FROM pg_stat_activity WHERE state = 'idle in transaction' AND query LIKE 'INSERT INTO customer%'")" = 1 ] && break
  sleep 0.1
done
sleep 1.2 # past the start margin: only the open transaction holds the window back now
check "a run while a source transaction is open does not read past its start" \
  "$(wh -At -c "SELECT status || ':' || rows_read FROM sync_incremental('customer')")" "succeeded:0"
echo "COMMIT;" >&3; exec 3>&-; wait "$writer"; rm -f "$fifo"
sleep 1.2
check "the late row is synced by the next run" \
  "$(wh -At -c "SELECT status || ':' || rows_inserted FROM sync_incremental('customer')")" "succeeded:1"
check "late commit: target equals source" "$(same customer dw.customer remote.customer)" 0

# --- 5. a source snapshot older than the window -----------------------------------------------
src_conn="host=127.0.0.1 port=$SRC_PORT dbname=oltp user=postgres"
starts "a run in a transaction that already read the server is refused" \
  "$(wh -At -c "BEGIN" -c "SELECT count(*) FROM remote.orders" \
        -c "SELECT dblink_exec('$src_conn', 'UPDATE orders SET status = ''late'', updated_at = now() WHERE order_id = 11')" \
        -c "SELECT pg_sleep(1.2)" -c "SELECT status FROM sync_incremental('order_lines')" 2>&1 | grep ERROR)" \
  "ERROR:  sync job \"order_lines\" cannot read remote.orders: this transaction already used server \"oltp\", so the"
check "after it, a run of its own syncs the change" \
  "$(wh -At -c "SELECT status || ':' || rows_read FROM sync_incremental('order_lines')")" "succeeded:4"
# Two jobs in one DO block, a commit on the source between them: the second job's window
# stops where the first one's snapshot stands; the change is read by the next run.
wh -q -c "DO \$\$ BEGIN
  PERFORM sync_incremental('customer');
  PERFORM dblink_exec('$src_conn', 'UPDATE orders SET status = ''later'', updated_at = now() WHERE order_id = 12');
  PERFORM pg_sleep(1.2);
  PERFORM sync_incremental('order_lines');
END \$\$"
check "two jobs in one transaction: the second one did not skip the change" \
  "$(wh -At -c "SELECT status || ':' || rows_read FROM sync_incremental('order_lines')")" "succeeded:4"
check "two jobs in one transaction: target equals source" "$(same order_lines dw.order_lines remote.order_lines)" 0

# --- 6. a mapped role that cannot see the source's sessions -----------------------------------
src -c "CREATE ROLE reader LOGIN" -c "GRANT SELECT ON customer TO reader"
wh -q -c "CREATE ROLE analyst" -c "GRANT USAGE ON SCHEMA remote, dw TO analyst" \
   -c "GRANT SELECT ON remote.customer TO analyst" -c "CREATE TABLE dw.customer_a (LIKE dw.customer)" \
   -c "ALTER TABLE dw.customer_a OWNER TO analyst" -c "GRANT USAGE ON FOREIGN SERVER oltp TO analyst" \
   -c "CREATE USER MAPPING FOR analyst SERVER oltp OPTIONS (user 'reader', password_required 'false')"
starts "definition warns when the mapped role cannot see other sessions" \
  "$(wh -At -c "SET ROLE analyst" -c "SELECT job_name FROM sync_define('customer_a', source => 'remote.customer', target => 'dw.customer_a', key => '{customer_id}', watermark => 'updated_at')" 2>&1 | head -1)" \
  "WARNING:  sync job \"customer_a\": the role mapped on server \"oltp\" cannot see other sessions' trans"
check "job_status says why it is exposed" \
  "$(wh -At -c "SELECT late_commit_risk FROM insync.job_status WHERE job_name = 'customer_a'")" \
  "the role mapped on server \"oltp\" cannot see other sessions there (grant it pg_read_all_stats on the source, or set a lookback)"
src -c "GRANT pg_read_all_stats TO reader"
check "with pg_read_all_stats on the source, no warning" \
  "$(wh -At -c "SET ROLE analyst" -c "SELECT job_name FROM sync_alter('customer_a', source_filter => 'true')" 2>&1 | paste -sd'|' -)" \
  "customer_a"
check "after the grant, job_status no longer shows a risk" \
  "$(wh -At -c "SELECT late_commit_risk IS NULL FROM insync.job_status WHERE job_name = 'customer_a'")" t
check "the superuser-mapped job is not exposed" \
  "$(wh -At -c "SELECT count(*) FROM insync.job_status WHERE job_name = 'customer' AND late_commit_risk IS NULL")" 1
check "the mapped role's job runs" \
  "$(wh -At -c "SET ROLE analyst" -c "SELECT status || ':' || rows_inserted FROM sync_incremental('customer_a')")" "succeeded:20001"

# --- 7. local times written in another zone ---------------------------------------------------
# The source writes timestamp-without-time-zone values in New York time; the warehouse is in
# UTC. The window is read in the source's configured zone.
wh -At -c "SELECT job_name FROM sync_define('events', source => 'remote.events', target => 'dw.events',
           key => '{id}', watermark => 'changed_at')" >/dev/null
check "local times: initial load" \
  "$(wh -At -c "SELECT status || ':' || rows_inserted FROM sync_incremental('events')")" "succeeded:10"
src -c "UPDATE events SET v = 'b', changed_at = localtimestamp"
sleep 1.2
check "local times: every update in the source's zone is read" \
  "$(wh -At -c "SELECT status || ':' || rows_updated FROM sync_incremental('events')")" "succeeded:10"
check "local times: target equals source" "$(same events dw.events remote.events)" 0
starts "an unknown zone is refused" \
  "$(wh -At -c "SELECT job_name FROM sync_alter('events', source_timezone => 'Mars/Olympus')" 2>&1 | head -1)" \
  "ERROR:  source_timezone 'Mars/Olympus' of sync job \"events\" is not a time zone"

if [ "$failures" -gt 0 ]; then echo "$failures remote check(s) failed"; exit 1; fi
echo "all remote checks pass"
