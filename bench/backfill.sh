#!/usr/bin/env bash
# Benchmark (not a test): a job's first load as a backfill (CALL sync_backfill: batches of key
# ranges, each committed with its progress and resumable) against one hand-written
# INSERT ... SELECT of the whole table, on the same data, in one run. 5,000,000 source rows;
# both targets start empty with a primary key. Prints the ratio (aim: <= 1.15).
set -euo pipefail
PORT=${INSYNC_BENCH_PORT:-54331}
DIR=${INSYNC_BENCH_DIR:-/tmp/insync-bench}
ROWS=${BENCH_ROWS:-5000000}
BATCH=${BENCH_BATCH:-500000}
AUTOVACUUM=${BENCH_AUTOVACUUM:-false}
SETTINGS=(shared_buffers=4GB max_wal_size=16GB checkpoint_timeout=1h)
source "$(dirname "$0")/lib.sh"

echo "setup: $ROWS source rows; backfill in batches of $BATCH; autovacuum on the targets: $AUTOVACUUM"
psql <<SQL
CREATE EXTENSION insync;
CREATE TABLE src (id bigint PRIMARY KEY, customer_id int, amount numeric(12,2), note text,
                  updated_at timestamptz NOT NULL);
INSERT INTO src SELECT g, g % 50000, (g % 1000) / 10.0, md5(g::text),
       '2026-01-01'::timestamptz + g * interval '1 second' FROM generate_series(1, $ROWS) g;
-- Autovacuum off on the targets (BENCH_AUTOVACUUM=true keeps it): the hand-written load commits
-- once, so autovacuum reaches its table only after the timing ends, while every committed batch
-- makes the insync target eligible mid-load; either table gets the same vacuum afterwards.
CREATE TABLE dst_hand (LIKE src INCLUDING ALL) WITH (autovacuum_enabled = $AUTOVACUUM);
CREATE TABLE dst_insync (LIKE src INCLUDING ALL) WITH (autovacuum_enabled = $AUTOVACUUM);
SELECT job_name FROM sync_define('load', source => 'src', target => 'dst_insync', key => '{id}',
                                 watermark => 'updated_at', backfill_batch => $BATCH);
SQL
psql -c "VACUUM ANALYZE src" -c CHECKPOINT

HAND="INSERT INTO dst_hand SELECT * FROM src"
INSYNC="CALL sync_backfill('load')"
# Each attempt starts from an empty target (and, for insync, a job never loaded).
reset_hand() { psql -c "TRUNCATE dst_hand" -c CHECKPOINT; }
reset_insync() {
  psql -c "TRUNCATE dst_insync" -c "SELECT job_name FROM sync_alter('load', reset_watermark => true)" \
       -c CHECKPOINT >/dev/null
}
hand_times=""; insync_times=""
for round in $(seq 1 "$ROUNDS"); do
  if [ $((round % 2)) = 1 ]; then
    reset_hand; hand_times+=" $(PGOPTIONS='-c client_min_messages=warning' timed "$HAND")"
    reset_insync; insync_times+=" $(PGOPTIONS='-c client_min_messages=warning' timed "$INSYNC")"
  else
    reset_insync; insync_times+=" $(PGOPTIONS='-c client_min_messages=warning' timed "$INSYNC")"
    reset_hand; hand_times+=" $(PGOPTIONS='-c client_min_messages=warning' timed "$HAND")"
  fi
done
hand=$(echo "$hand_times" | best)
insync=$(echo "$insync_times" | best)
echo "attempts (ms): hand$hand_times; insync$insync_times"
progress=$(psql -At -F ' ' -c "SELECT backfill_state, backfill_batches, backfill_rows_done, backfill_rows_estimated, backfill_rate
                                 FROM insync.job_status WHERE job_name = 'load'")
runs=$(psql -At -c "SELECT count(*) FROM insync.runs WHERE job_name = 'load' AND backfill_batch IS NOT NULL AND status = 'succeeded'")
differing=$(psql -At -c "SELECT count(*) FROM ((TABLE dst_insync EXCEPT ALL TABLE dst_hand)
                          UNION ALL (TABLE dst_hand EXCEPT ALL TABLE dst_insync)) d")

printf '\n%-40s %10s %7s %10s %7s %7s\n' "workload" "insync ms" "spread" "hand ms" "spread" "ratio"
printf '%-40s %10.1f %7s %10.1f %7s %7.3f\n' "first load of $ROWS rows, batches of $BATCH" \
  "$insync" "$(echo "$insync_times" | spread)" "$hand" "$(echo "$hand_times" | spread)" "$(ratio "$insync" "$hand")"
printf 'last backfill (state, batches, rows done, rows estimated, rows/s): %s; batch runs recorded: %s\n' "$progress" "$runs"
printf 'rows differing between the two targets: %s\n' "$differing"
