#!/usr/bin/env bash
# Benchmark (not a test): what a run costs when there is (almost) nothing to do — the case of a
# pg_cron entry every minute, where each run is a fresh session.
#   1. a serial run over an empty window (10,000-row job): the first call of a session, and a
#      call in a session that already ran one (aim: 5 ms);
#   2. one changed row in a BENCH_BIG_ROWS-row source (default 10,000,000; 0 skips it, its
#      setup takes a minute or two) against the hand-written upsert (aim: under 20 ms),
#      the job left at parallel => 'auto'.
# BENCH_PRELOAD=1 runs it with insync in shared_preload_libraries (each session then finds the
# library already loaded).
# Each figure is the median of BENCH_SAMPLES (default 9) attempts, sides alternating, every
# attempt rolled back; printed with the fastest and slowest.
set -euo pipefail
PORT=${INSYNC_BENCH_PORT:-54331}
DIR=${INSYNC_BENCH_DIR:-/tmp/insync-bench}
BIG=${BENCH_BIG_ROWS:-10000000}
SAMPLES=${BENCH_SAMPLES:-9}
SETTINGS=(shared_buffers=2GB max_wal_size=8GB checkpoint_timeout=1h)
[ "${BENCH_PRELOAD:-0}" = 1 ] && SETTINGS+=(shared_preload_libraries=pg_cron,insync)
source "$(dirname "$0")/lib.sh"

echo "insync preloaded: $(psql -At -c "SELECT current_setting('shared_preload_libraries') LIKE '%insync%'")"
psql >/dev/null <<SQL
SET client_min_messages = warning;
CREATE EXTENSION insync;
CREATE TABLE small_src (id bigint PRIMARY KEY, v text, updated_at timestamptz NOT NULL);
INSERT INTO small_src SELECT g, md5(g::text), now() - interval '1 day' FROM generate_series(1, 10000) g;
CREATE INDEX ON small_src (updated_at);
CREATE TABLE small_dst (LIKE small_src INCLUDING ALL);
SELECT job_name FROM sync_define('small', source => 'small_src', target => 'small_dst', key => '{id}', watermark => 'updated_at');
SELECT status FROM sync_incremental('small');
VACUUM ANALYZE small_src; VACUUM ANALYZE small_dst;
SQL
# The Time: line of the Nth statement (1-based) of one session.
nth_time() { local n=$1; shift; psql -At -c '\timing on' "$@" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | sed -n "${n}p"; }
stats() { # LABEL TIMES AIM
  printf '%-52s %8s %8s %8s   %s\n' "$1" "$(echo "$2" | median)" "$(echo "$2" | best)" \
    "$(echo "$2" | tr ' ' '\n' | grep . | sort -g | tail -1)" "$3"
}
EMPTY="SELECT status FROM sync_incremental('small')"
cold=""; warm=""
for i in $(seq "$SAMPLES"); do
  cold+=" $(nth_time 2 -c BEGIN -c "$EMPTY" -c ROLLBACK)"
  warm+=" $(nth_time 3 -c "$EMPTY" -c BEGIN -c "$EMPTY" -c ROLLBACK)"
done
echo "attempts (ms): empty window, first call$cold; second call$warm"
lines=()
lines+=("$(stats "empty window, serial: first call of a session" "$cold" "aim <= 5 ms")")
lines+=("$(stats "empty window, serial: a later call in the session" "$warm" "aim <= 5 ms")")

if [ "$BIG" -gt 0 ]; then
  echo "setup: $BIG-row source and target"
  psql >/dev/null <<SQL
SET client_min_messages = warning;
CREATE TABLE big_src (id bigint PRIMARY KEY, customer_id int, amount numeric(12,2), status text,
                      note text, updated_at timestamptz NOT NULL);
INSERT INTO big_src SELECT g, g % 50000, (g % 1000) / 10.0, 'open', md5(g::text),
       now() - interval '1 day' FROM generate_series(1, $BIG) g;
CREATE INDEX big_src_updated_at ON big_src (updated_at);
CREATE TABLE big_insync (LIKE big_src INCLUDING ALL);
CREATE TABLE big_hand (LIKE big_src INCLUDING ALL);
INSERT INTO big_insync SELECT * FROM big_src;
INSERT INTO big_hand SELECT * FROM big_src;
SELECT job_name FROM sync_define('big', source => 'big_src', target => 'big_insync', key => '{id}', watermark => 'updated_at');
UPDATE insync.job_state SET watermark = to_char(now() AT TIME ZONE 'UTC' - interval '1 hour', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00"') WHERE job_name = 'big';
VACUUM ANALYZE big_src; VACUUM ANALYZE big_insync; VACUUM ANALYZE big_hand;
SQL
  W=$(psql -At -c "SELECT watermark FROM insync.job_state WHERE job_name = 'big'")
  psql -c "UPDATE big_src SET status = 'late', updated_at = clock_timestamp() WHERE id = $((BIG / 2))" -c CHECKPOINT >/dev/null
  sleep 1.2
  ONE="SELECT rows_read, rows_updated FROM sync_incremental('big')"
  HAND="INSERT INTO big_hand SELECT * FROM big_src WHERE updated_at > '$W'
        ON CONFLICT (id) DO UPDATE SET customer_id = EXCLUDED.customer_id, amount = EXCLUDED.amount,
        status = EXCLUDED.status, note = EXCLUDED.note, updated_at = EXCLUDED.updated_at"
  one_cold=""; one_warm=""; hand=""
  for i in $(seq "$SAMPLES"); do
    if [ $((i % 2)) = 1 ]; then hand+=" $(nth_time 2 -c BEGIN -c "$HAND" -c ROLLBACK)"; fi
    one_cold+=" $(nth_time 2 -c BEGIN -c "$ONE" -c ROLLBACK)"
    one_warm+=" $(nth_time 3 -c "$EMPTY" -c BEGIN -c "$ONE" -c ROLLBACK)"
    if [ $((i % 2)) = 0 ]; then hand+=" $(nth_time 2 -c BEGIN -c "$HAND" -c ROLLBACK)"; fi
  done
  echo "attempts (ms): one row: first call$one_cold; later call$one_warm; hand-written$hand"
  chose=$(psql -At -c "$ONE" -c "SELECT coalesce(segments, 1) || ' segment(s), ' || rows_read || ' row(s) read' FROM insync.runs WHERE job_name = 'big' ORDER BY run_id DESC LIMIT 1" | tail -1)
  lines+=("$(stats "1 changed row of $BIG: insync, first call" "$one_cold" "aim < 20 ms")")
  lines+=("$(stats "1 changed row of $BIG: insync, later call" "$one_warm" "aim < 20 ms")")
  lines+=("$(stats "1 changed row of $BIG: hand-written upsert" "$hand" "")")
  lines+=("$(printf '%-52s %s' "  ratio of medians (first call / hand-written)" "$(ratio "$(echo "$one_cold" | median)" "$(echo "$hand" | median)")")")
  lines+=("$(printf '%-52s %s' "  committed run (parallel => auto)" "$chose")")
fi
printf '\n%-52s %8s %8s %8s\n' "workload (ms)" "median" "fastest" "slowest"
printf '%s\n' "${lines[@]}"
