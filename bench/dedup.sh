#!/usr/bin/env bash
# Benchmark (not a test): dedup_table against the hand-written window-function DELETE on the
# same data, in one run. 5,000,000 rows, 1% of keys duplicated (copies differing only in
# their load time, as an overlapping extraction window leaves them). Prints the ratio.
set -euo pipefail
PORT=${INSYNC_BENCH_PORT:-54331}
DIR=${INSYNC_BENCH_DIR:-/tmp/insync-bench}
ROWS=${BENCH_ROWS:-5000000}
SETTINGS=(shared_buffers=4GB max_wal_size=16GB checkpoint_timeout=1h)
source "$(dirname "$0")/lib.sh"

echo "setup: $ROWS rows, 1% of keys loaded twice"
psql <<SQL
CREATE EXTENSION insync;
CREATE TABLE facts_hand (order_id bigint, customer_id int, amount numeric(12,2), note text,
                         updated_at timestamptz, loaded_at timestamptz);
INSERT INTO facts_hand SELECT g, g % 50000, (g % 1000) / 10.0, md5(g::text),
       '2026-01-01'::timestamptz + g * interval '1 second', '2026-01-02'
  FROM generate_series(1, $ROWS - $ROWS / 100) g;
INSERT INTO facts_hand SELECT order_id, customer_id, amount, note, updated_at, '2026-01-03'
  FROM facts_hand WHERE order_id % 99 = 0 LIMIT $ROWS / 100;
CREATE TABLE facts_insync AS SELECT * FROM facts_hand;
SQL
psql -c "VACUUM ANALYZE facts_hand" -c "VACUUM ANALYZE facts_insync" -c CHECKPOINT
psql -At -c "SELECT count(*) - count(DISTINCT order_id) FROM facts_hand" | sed 's/^/extra copies: /'

HAND="DELETE FROM facts_hand t USING (SELECT ctid, row_number() OVER (PARTITION BY order_id
      ORDER BY updated_at DESC) AS rn FROM facts_hand) d WHERE t.ctid = d.ctid AND d.rn > 1"
INSYNC="SELECT * FROM dedup_table('facts_insync', '{order_id}', order_by => 'updated_at')"
# Best of three attempts per side, alternating, so neither side owns a warmer cache.
hand_times=""; insync_times=""
for round in 1 2 3; do
  hand_times+=" $(attempt "$HAND")"; psql -c CHECKPOINT
  insync_times+=" $(attempt "$INSYNC")"; psql -c CHECKPOINT
done
hand=$(echo "$hand_times" | best)
insync=$(echo "$insync_times" | best)
echo "attempts (ms): hand$hand_times; insync$insync_times"
# One committed run of each, to check both repairs leave the same rows (the copies of a key
# differ only in loaded_at, and the hand-written ORDER BY does not say which one it keeps).
psql -c "$HAND" -c "$INSYNC" >/dev/null
quarantined=$(psql -At -c "SELECT count(*) FROM insync.quarantine")
cols="order_id, customer_id, amount, note, updated_at"
differing=$(psql -At -c "SELECT count(*) FROM ((SELECT $cols FROM facts_insync EXCEPT ALL SELECT $cols FROM facts_hand)
                          UNION ALL (SELECT $cols FROM facts_hand EXCEPT ALL SELECT $cols FROM facts_insync)) d")

printf '\n%-46s %10s %10s %7s\n' "workload" "insync ms" "hand ms" "ratio"
printf '%-46s %10.1f %10.1f %7s\n' "dedup $ROWS rows, 1% keys dup. (best of 3)" "$insync" "$hand" "$(ratio "$insync" "$hand")"
printf 'rows quarantined: %s; rows differing between the two repaired tables: %s\n' "$quarantined" "$differing"
