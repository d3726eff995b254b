#!/usr/bin/env bash
# Benchmark (not a test): a source on another server. An OLTP cluster (127.0.0.1:54336) holds
# a 2,000,000-row customer table; the warehouse (127.0.0.1:54335) reads it through
# postgres_fdw. Side by side, in one run: insync, the hand-written pushed-down upsert, and a
# \copy pipeline (source -> stdout -> warehouse staging -> upsert), for the initial load,
# 200,000 changed rows and 1 changed row. Each side's writes are rolled back (every attempt
# starts from the same state); best of BENCH_ROUNDS attempts, the sides taking turns going
# first. Prints times with their spread, ratios, and for each side the rows it read on the
# source (the source's table counters, read after the warehouse disconnected) and the rows
# that crossed the wire (the FETCHes the source answered, from its pg_stat_statements).
set -euo pipefail
cd "$(dirname "$0")/.."
WH_PORT=${INSYNC_BENCH_PORT:-54335}
SRC_PORT=${INSYNC_BENCH_SRC_PORT:-54336}
WH_DIR=${INSYNC_BENCH_WH_DIR:-/tmp/insync-bench-wh}
SRC_DIR=${INSYNC_BENCH_SRC_DIR:-/tmp/insync-bench-src}
ROWS=${BENCH_ROWS:-2000000}
CHANGED=${BENCH_CHANGED:-200000}
source scripts/pg.sh
source bench/measure.sh
SETTINGS=(shared_buffers=1GB max_wal_size=8GB checkpoint_timeout=1h)
scripts/cluster.sh start "$SRC_DIR" "$SRC_PORT" "${SETTINGS[@]}" shared_preload_libraries=pg_stat_statements \
  pg_stat_statements.track_utility=on ${BENCH_SRC_LOG:+log_min_duration_statement=$BENCH_SRC_LOG}
# BENCH_EXPLAIN=1 logs the warehouse's slow plans (with timings) to $WH_DIR/server.log.
WH_SETTINGS=("${SETTINGS[@]}")
[ "${BENCH_EXPLAIN:-0}" = 1 ] && WH_SETTINGS+=(session_preload_libraries=auto_explain auto_explain.log_min_duration=500
  auto_explain.log_analyze=on auto_explain.log_nested_statements=on auto_explain.log_verbose=on)
scripts/cluster.sh start "$WH_DIR" "$WH_PORT" "${WH_SETTINGS[@]}"
trap '[ "${BENCH_KEEP:-0}" = 1 ] || { scripts/cluster.sh stop "$WH_DIR"; scripts/cluster.sh stop "$SRC_DIR"; }' EXIT
"$PGBIN/createdb" -h 127.0.0.1 -p "$SRC_PORT" -U postgres oltp
"$PGBIN/createdb" -h 127.0.0.1 -p "$WH_PORT" -U postgres warehouse
wh() { "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$WH_PORT" -U postgres -d warehouse "$@"; }
src() { "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$SRC_PORT" -U postgres -d oltp "$@"; }
ms() { local t0 t1; t0=$(date +%s%N); "$@" >/dev/null; t1=$(date +%s%N); echo $(((t1 - t0) / 1000))e-3 | awk '{printf "%.1f", $1}'; }
disconnect() {
  wh -At -c "SELECT postgres_fdw_disconnect_all()" >/dev/null
  until [ "$(src -At -c "SELECT count(*) FROM pg_stat_activity WHERE application_name IN ('postgres_fdw', 'insync')")" = 0 ]; do sleep 0.1; done
}
# Rows read on the source by what ran since the last call, then those sent (FETCH, COPY).
rows_read() {
  disconnect
  local n
  n=$(src -At -c "SELECT coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0) FROM pg_stat_user_tables WHERE relname = 'customer'")
  n+=" $(src -At -c "SELECT coalesce(sum(rows), 0) FROM pg_stat_statements WHERE query ~* '^(FETCH|COPY)'")"
  src -At -c "SELECT pg_stat_reset(), pg_stat_statements_reset()" >/dev/null
  echo "$n"
}

echo "machine: $(nproc) cores; setup: $ROWS source rows"
src <<SQL
CREATE EXTENSION pg_stat_statements;
CREATE TABLE customer (id bigint PRIMARY KEY, customer_id int, amount numeric(12,2), status text,
                       note text, updated_at timestamptz NOT NULL);
INSERT INTO customer SELECT g, g % 50000, (g % 1000) / 10.0, 'open', md5(g::text), now() - interval '1 day'
  FROM generate_series(1, $ROWS) g;
CREATE INDEX customer_updated_at ON customer (updated_at);
VACUUM ANALYZE customer;
SQL
wh <<SQL
SET client_min_messages = warning;
CREATE EXTENSION insync;
CREATE EXTENSION postgres_fdw;
CREATE SERVER oltp FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host '127.0.0.1', port '$SRC_PORT', dbname 'oltp', fetch_size '10000');
CREATE USER MAPPING FOR postgres SERVER oltp OPTIONS (user 'postgres');
CREATE SCHEMA remote;
IMPORT FOREIGN SCHEMA public FROM SERVER oltp INTO remote;
CREATE TABLE dst_insync (id bigint PRIMARY KEY, customer_id int, amount numeric(12,2), status text, note text, updated_at timestamptz);
CREATE TABLE dst_hand (LIKE dst_insync INCLUDING ALL);
CREATE TABLE dst_copy (LIKE dst_insync INCLUDING ALL);
CREATE UNLOGGED TABLE staging (LIKE dst_insync);
SELECT job_name FROM sync_define('bench', source => 'remote.customer', target => 'dst_insync', key => '{id}', watermark => 'updated_at');
SQL
UPSERT="ON CONFLICT (id) DO UPDATE SET customer_id = EXCLUDED.customer_id, amount = EXCLUDED.amount,
        status = EXCLUDED.status, note = EXCLUDED.note, updated_at = EXCLUDED.updated_at"
# Milliseconds of one statement in a transaction that is rolled back.
rolled_back() { wh -At -c '\timing on' -c BEGIN -c "$1" -c ROLLBACK | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | sed -n 2p; }
hand() { rolled_back "INSERT INTO dst_hand SELECT * FROM remote.customer WHERE $1 $UPSERT"; }
run_insync() { rolled_back "SELECT * FROM sync_incremental('bench')"; }
copy_pipeline() { # WHERE: source -> stdout -> staging -> upsert into dst_copy (rolled back)
  wh -c "TRUNCATE staging"
  local t0 t1 upsert
  t0=$(date +%s%N)
  src -c "\\copy (SELECT * FROM customer WHERE $1) TO STDOUT" | wh -c "\\copy staging FROM STDIN"
  t1=$(date +%s%N)
  upsert=$(rolled_back "INSERT INTO dst_copy SELECT * FROM staging $UPSERT")
  awk -v a="$(((t1 - t0) / 1000))" -v b="$upsert" 'BEGIN { printf "%.1f", a / 1000 + b }'
}
settle() { wh -c "VACUUM dst_hand" -c "VACUUM dst_insync" -c "VACUUM dst_copy" -c CHECKPOINT >/dev/null; src -c CHECKPOINT >/dev/null; }
rows_read >/dev/null
results=()
measure() { # LABEL WHERE-for-hand-and-copy
  local label=$1 where=$2 t_insync="" t_hand="" t_copy="" r_insync r_hand r_copy round i h c
  for round in $(seq "$ROUNDS"); do
    # The sides take turns going first.
    case $((round % 3)) in
      1) order="hand insync copy" ;; 2) order="insync copy hand" ;; 0) order="copy hand insync" ;;
    esac
    for side in $order; do
      settle
      case $side in
        hand) t_hand+=" $(hand "$where")"; r=$(rows_read); [ "$round" = 1 ] && r_hand=$r ;;
        insync) t_insync+=" $(run_insync)"; r=$(rows_read); [ "$round" = 1 ] && r_insync=$r ;;
        copy) t_copy+=" $(copy_pipeline "$where")"; r=$(rows_read); [ "$round" = 1 ] && r_copy=$r ;;
      esac
    done
  done
  echo "attempts (ms), $label: insync$t_insync; hand$t_hand; copy$t_copy"
  # Then each side commits once, the state the next workload starts from.
  wh -c "SELECT * FROM sync_incremental('bench')" -c "INSERT INTO dst_hand SELECT * FROM remote.customer WHERE $where $UPSERT" \
     -c "INSERT INTO dst_copy SELECT * FROM dst_hand ON CONFLICT (id) DO UPDATE SET customer_id = EXCLUDED.customer_id, amount = EXCLUDED.amount,
         status = EXCLUDED.status, note = EXCLUDED.note, updated_at = EXCLUDED.updated_at" >/dev/null
  rows_read >/dev/null
  i=$(echo "$t_insync" | best); h=$(echo "$t_hand" | best); c=$(echo "$t_copy" | best)
  results+=("$(printf '%-22s %9s %6s %9s %6s %9s %6s %7s %7s   %s / %s / %s' "$label" "$i" "$(echo "$t_insync" | spread)" \
    "$h" "$(echo "$t_hand" | spread)" "$c" "$(echo "$t_copy" | spread)" "$(ratio "$i" "$h")" "$(ratio "$i" "$c")" \
    "${r_insync// / sent }" "${r_hand// / sent }" "${r_copy// / sent }")")
}
measure "initial load" "true"
W=$(wh -At -c "SELECT watermark FROM insync.job_state WHERE job_name = 'bench'")
src -c "UPDATE customer SET amount = amount + 1, status = 'paid', updated_at = clock_timestamp() WHERE id % ($ROWS / $CHANGED) = 0"
src -c "VACUUM ANALYZE customer"
sleep 1.2
measure "$CHANGED changed rows" "updated_at > '$W'"
W=$(wh -At -c "SELECT watermark FROM insync.job_state WHERE job_name = 'bench'")
src -c "UPDATE customer SET status = 'late', updated_at = clock_timestamp() WHERE id = 42"
sleep 1.2
measure "1 changed row" "updated_at > '$W'"
diffs=$(wh -At -c "SELECT count(*) FROM ((TABLE dst_insync EXCEPT TABLE dst_hand) UNION ALL (TABLE dst_hand EXCEPT TABLE dst_insync)) d")

printf '\n%-22s %9s %6s %9s %6s %9s %6s %7s %7s   %s\n' "workload" "insync ms" "spread" "hand ms" "spread" "copy ms" "spread" "÷hand" "÷copy" "rows read on the source, sent (insync / hand / copy)"
printf '%s\n' "${results[@]}"
printf 'rows differing between insync and hand-written targets: %s\n' "$diffs"
echo "(best of $ROUNDS per side; spread = (slowest - fastest) / fastest)"
