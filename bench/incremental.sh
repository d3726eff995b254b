#!/usr/bin/env bash
# Benchmark (not a test), two sections (BENCH_SECTIONS, default both):
#   upsert     sync_incremental against the hand-written upsert a user would write, over the
#              same window from the same starting state, in one run; 2,000,000-row source,
#              200,000 changed rows. Prints ratios.
#   no-unique  sync_incremental into a target without a unique index (delete+insert) against
#              the same job into a target with a primary key (upsert); cases
#              BENCH_NOUNIQUE_CASES ("source rows:changed rows ..."). Prints ratios.
set -euo pipefail
PORT=${INSYNC_BENCH_PORT:-54331}
DIR=${INSYNC_BENCH_DIR:-/tmp/insync-bench}
SECTIONS=" ${BENCH_SECTIONS:-upsert no-unique} "
ROWS=${BENCH_ROWS:-2000000}
CHANGED=${BENCH_CHANGED:-200000}
SETTINGS=(shared_buffers=2GB max_wal_size=8GB checkpoint_timeout=1h)
source "$(dirname "$0")/lib.sh"

if [[ $SECTIONS == *" upsert "* ]]; then
echo "setup: $ROWS source rows, $CHANGED of them changed"
psql <<SQL
CREATE EXTENSION insync;
CREATE TABLE src (id bigint PRIMARY KEY, customer_id int, amount numeric(12,2), status text,
                  note text, updated_at timestamptz NOT NULL);
INSERT INTO src SELECT g, g % 50000, (g % 1000) / 10.0, 'open', md5(g::text),
       now() - interval '1 day' FROM generate_series(1, $ROWS) g;
CREATE INDEX src_updated_at ON src (updated_at);
CREATE TABLE dst_insync (LIKE src INCLUDING ALL);
CREATE TABLE dst_hand (LIKE src INCLUDING ALL);
SQL
psql -c "SELECT job_name FROM sync_define('bench', source => 'src', target => 'dst_insync', key => '{id}', watermark => 'updated_at', parallel => '1')" >/dev/null
psql -c "SET client_min_messages = warning; SELECT status FROM sync_incremental('bench')" >/dev/null
psql -c "INSERT INTO dst_hand SELECT * FROM src"
W=$(psql -At -c "SELECT watermark FROM insync.job_state WHERE job_name = 'bench'")
psql -c "UPDATE src SET amount = amount + 1, status = 'paid', updated_at = clock_timestamp() WHERE id % ($ROWS / $CHANGED) = 0"
sleep 1.2
psql -c "VACUUM ANALYZE src" -c "VACUUM ANALYZE dst_insync" -c "VACUUM ANALYZE dst_hand" -c CHECKPOINT
# Warm the window's pages once so neither side pays for the first read.
psql -At -c "SELECT count(*) AS window_rows FROM src WHERE updated_at > '$W'" | sed 's/^/window rows: /'

HAND="INSERT INTO dst_hand SELECT * FROM src WHERE updated_at > '$W'
      ON CONFLICT (id) DO UPDATE SET customer_id = EXCLUDED.customer_id, amount = EXCLUDED.amount,
      status = EXCLUDED.status, note = EXCLUDED.note, updated_at = EXCLUDED.updated_at"
INSYNC="SELECT * FROM sync_incremental('bench')"
# Rewinds the job to the window's start (superuser only), for the re-run attempts.
REWIND="UPDATE insync.job_state SET watermark = '$W' WHERE job_name = 'bench'"
settle() { psql -c "VACUUM dst_insync" -c "VACUUM dst_hand" -c CHECKPOINT >/dev/null; }
# First runs: rolled-back attempts, sides alternating (which goes first swaps every round).
hand1_times=""; insync1_times=""
for round in $(seq "$ROUNDS"); do
  if [ $((round % 2)) = 1 ]; then
    hand1_times+=" $(attempt "$HAND")"; settle; insync1_times+=" $(attempt "$INSYNC")"; settle
  else
    insync1_times+=" $(attempt "$INSYNC")"; settle; hand1_times+=" $(attempt "$HAND")"; settle
  fi
done
# Then both commit their first run, and the re-runs read the same, now unchanged, window.
psql -c "$HAND" -c "$INSYNC" >/dev/null; settle
hand2_times=""; insync2_times=""
for round in $(seq "$ROUNDS"); do
  if [ $((round % 2)) = 1 ]; then
    hand2_times+=" $(attempt "$HAND")"; settle; insync2_times+=" $(attempt "$REWIND" "$INSYNC")"; settle
  else
    insync2_times+=" $(attempt "$REWIND" "$INSYNC")"; settle; hand2_times+=" $(attempt "$HAND")"; settle
  fi
done
echo "attempts (ms): first run: hand$hand1_times; insync$insync1_times"
echo "attempts (ms): re-run:    hand$hand2_times; insync$insync2_times"
diffs=$(psql -At -c "SELECT count(*) FROM ((TABLE dst_insync EXCEPT TABLE dst_hand) UNION ALL (TABLE dst_hand EXCEPT TABLE dst_insync)) d")
row() { # LABEL INSYNC-TIMES HAND-TIMES
  local i h; i=$(echo "$2" | best); h=$(echo "$3" | best)
  printf '%-40s %10.1f %7s %10.1f %7s %7.3f\n' "$1" "$i" "$(echo "$2" | spread)" "$h" "$(echo "$3" | spread)" "$(ratio "$i" "$h")"
}
printf '\n%-40s %10s %7s %10s %7s %7s\n' "workload" "insync ms" "spread" "hand ms" "spread" "ratio"
row "first run, $CHANGED changed rows" "$insync1_times" "$hand1_times"
row "re-run over the unchanged window" "$insync2_times" "$hand2_times"
printf 're-run cost relative to first insync run: %.3f\n' "$(ratio "$(echo "$insync2_times" | best)" "$(echo "$insync1_times" | best)")"
printf 'rows differing between the two targets: %s\n' "$diffs"
fi

# Targets without a unique index are merged by delete+insert; the same job into a target with a
# primary key upserts. Each case: a source of ROWS rows and two targets already holding it, one
# with a primary key and one without any index; then CHANGED source rows change (nine in ten
# updated, one in ten new keys). The source has no index on the watermark and its statistics
# predate the changes, so the planner estimates the window at one row, as it does for a
# postgres_fdw source without remote estimates (BENCH_WM_INDEX=1: an index on the watermark and
# fresh statistics instead). Each attempt is rolled back; best of 3, sides alternating. An
# attempt longer than BENCH_TIMEOUT_MS is stopped (and that side not attempted again).
if [[ $SECTIONS == *" no-unique "* ]]; then
CASES=${BENCH_NOUNIQUE_CASES:-100000:16000 500000:70000}
LIMIT_MS=${BENCH_TIMEOUT_MS:-600000}
WM_INDEX=${BENCH_WM_INDEX:-0}
# Milliseconds of one rolled-back statement, or "stopped" past LIMIT_MS.
limited() {
  local out
  out=$(command psql -X -q -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -At -c '\timing on' -c BEGIN \
        -c "SET LOCAL statement_timeout = $LIMIT_MS" -c "$1" -c ROLLBACK 2>&1) || true
  if grep -q 'statement timeout' <<<"$out"; then echo stopped
  else sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' <<<"$out" | sed -n 3p; fi
}
summary=()
for case in $CASES; do
  rows=${case%%:*}; changed=${case##*:}; updated=$((changed * 9 / 10)); added=$((changed - updated))
  echo "setup: $rows source rows, $updated updated and $added new (watermark index: $WM_INDEX)"
  psql >/dev/null <<SQL
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS insync;
SELECT sync_drop(job_name) FROM insync.jobs WHERE job_name IN ('nu_pk', 'nu_heap');
DROP TABLE IF EXISTS nu_src, nu_pk, nu_heap;
CREATE TABLE nu_src (id bigint PRIMARY KEY, customer_id int, amount numeric(12,2), status text,
                     note text, updated_at timestamptz NOT NULL) WITH (autovacuum_enabled = off);
INSERT INTO nu_src SELECT g, g % 50000, (g % 1000) / 10.0, 'open', md5(g::text),
       now() - interval '1 day' FROM generate_series(1, $rows) g;
CREATE TABLE nu_pk (LIKE nu_src INCLUDING ALL) WITH (autovacuum_enabled = off);
CREATE TABLE nu_heap (LIKE nu_src) WITH (autovacuum_enabled = off);
INSERT INTO nu_pk SELECT * FROM nu_src;
INSERT INTO nu_heap SELECT * FROM nu_src;
SQL
  [ "$WM_INDEX" = 1 ] && psql -c "CREATE INDEX nu_src_updated_at ON nu_src (updated_at)"
  psql -c "SELECT job_name, merge_strategy FROM sync_define('nu_pk', source => 'nu_src', target => 'nu_pk', key => '{id}', watermark => 'updated_at', parallel => '1')" \
       -c "SELECT job_name, merge_strategy FROM sync_define('nu_heap', source => 'nu_src', target => 'nu_heap', key => '{id}', watermark => 'updated_at', parallel => '1')" | grep -E 'nu_'
  # Both watermarks start after the initial rows (the targets already hold them).
  psql -c "UPDATE insync.job_state SET watermark = to_char(now() AT TIME ZONE 'UTC' - interval '1 hour', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"+00\"')"
  W=$(psql -At -c "SELECT watermark FROM insync.job_state WHERE job_name = 'nu_pk'")
  psql -c "VACUUM ANALYZE nu_src" -c "VACUUM ANALYZE nu_pk" -c "VACUUM ANALYZE nu_heap"
  psql -c "UPDATE nu_src SET amount = amount + 1, status = 'paid', updated_at = clock_timestamp()
             WHERE id IN (SELECT g * ($rows / $updated) FROM generate_series(1, $updated) g)" \
       -c "INSERT INTO nu_src SELECT g, g % 50000, 1, 'new', md5(g::text), clock_timestamp()
             FROM generate_series($rows + 1, $rows + $added) g"
  sleep 1.2
  psql -c "VACUUM nu_src" -c CHECKPOINT
  [ "$WM_INDEX" = 1 ] && psql -c "ANALYZE nu_src"
  estimate=$(psql -At -c "EXPLAIN SELECT * FROM nu_src WHERE updated_at > '$W' AND updated_at <= now()" | head -1 | sed -E 's/.* rows=([0-9]+).*/\1/')
  actual=$(psql -At -c "SELECT count(*) FROM nu_src WHERE updated_at > '$W'")
  echo "window: $actual rows, estimated at $estimate"
  pk_times=""; heap_times=""
  try_pk() {
    [[ $pk_times == *stopped* ]] && return
    pk_times+=" $(limited "SELECT * FROM sync_incremental('nu_pk')")"
    psql -c "VACUUM nu_pk" -c CHECKPOINT
  }
  try_heap() {
    [[ $heap_times == *stopped* ]] && return
    heap_times+=" $(limited "SELECT * FROM sync_incremental('nu_heap')")"
    psql -c "VACUUM nu_heap" -c CHECKPOINT
  }
  for round in $(seq "$ROUNDS"); do
    if [ $((round % 2)) = 1 ]; then try_pk; try_heap; else try_heap; try_pk; fi
  done
  echo "attempts (ms): primary key$pk_times; no unique index$heap_times"
  best_of() { if [[ $1 == *stopped* ]]; then echo "stopped"; else echo "$1" | best; fi; }
  pk=$(best_of "$pk_times"); heap=$(best_of "$heap_times")
  # One committed run of each (unless stopped): both targets must equal the source, with the
  # same counts.
  counts() { psql -At -F ' ' -c "SET statement_timeout = $LIMIT_MS" -c "SELECT rows_read, rows_inserted, rows_updated, rows_deleted FROM sync_incremental('$1')"; }
  differing() { psql -At -c "SELECT count(*) FROM ((TABLE $1 EXCEPT ALL TABLE nu_src) UNION ALL (TABLE nu_src EXCEPT ALL TABLE $1)) d"; }
  pk_counts=$( [ "$pk" = stopped ] && echo "not run" || counts nu_pk)
  heap_counts=$( [ "$heap" = stopped ] && echo "not run" || counts nu_heap)
  echo "counts (read inserted updated deleted): primary key $pk_counts; no unique index $heap_counts"
  echo "rows differing from the source: primary key $( [ "$pk" = stopped ] && echo - || differing nu_pk), no unique index $( [ "$heap" = stopped ] && echo - || differing nu_heap)"
  r=$( [ "$pk" = stopped ] || [ "$heap" = stopped ] && echo "-" || ratio "$heap" "$pk")
  summary+=("$(printf '%-34s %10s %7s %10s %7s %7s' "$rows rows, $actual changed (est. $estimate)" \
    "$heap" "$(echo "$heap_times" | spread)" "$pk" "$(echo "$pk_times" | spread)" "$r")")
done
printf '\n%-34s %10s %7s %10s %7s %7s\n' "no unique index vs primary key" "no-uniq ms" "spread" "pk ms" "spread" "ratio"
printf '%s\n' "${summary[@]}"
echo "(best of $ROUNDS per side; spread = (slowest - fastest) / fastest; ratio = no unique index / primary key)"
fi
