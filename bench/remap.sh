#!/usr/bin/env bash
# Benchmark (not a test): remap_dimension against the hand-written UPDATE ... FROM dim ...
# WHERE ... IS DISTINCT FROM ..., on the same data, in one run. 5,000,000 fact rows over
# 2,000 stores; 5% of the stores move to another organization. Prints the ratio.
set -euo pipefail
PORT=${INSYNC_BENCH_PORT:-54331}
DIR=${INSYNC_BENCH_DIR:-/tmp/insync-bench}
ROWS=${BENCH_ROWS:-5000000}
SETTINGS=(shared_buffers=4GB max_wal_size=16GB checkpoint_timeout=1h)
source "$(dirname "$0")/lib.sh"

echo "setup: $ROWS fact rows, 2000 stores, 5% of them move organization"
psql <<SQL
CREATE EXTENSION insync;
CREATE TABLE dim_store (store_id int PRIMARY KEY, org_id int NOT NULL);
INSERT INTO dim_store SELECT s, 1 + s % 50 FROM generate_series(1, 2000) s;
CREATE TABLE facts_hand (sale_id bigint PRIMARY KEY, store_id int, store_org_id int, day date,
                         amount numeric(12,2), qty int);
INSERT INTO facts_hand SELECT g, 1 + g % 2000, 1 + (1 + g % 2000) % 50, '2026-01-01'::date + g % 365,
       (g % 1000) / 10.0, 1 + g % 5 FROM generate_series(1, $ROWS) g;
CREATE INDEX ON facts_hand (store_id);
CREATE TABLE facts_insync (LIKE facts_hand INCLUDING ALL);
INSERT INTO facts_insync SELECT * FROM facts_hand;
-- 100 of the 2000 stores (5%) move to another organization.
UPDATE dim_store SET org_id = org_id + 100 WHERE store_id % 20 = 0;
SQL
psql -c "VACUUM ANALYZE facts_hand" -c "VACUUM ANALYZE facts_insync" -c "VACUUM ANALYZE dim_store" -c CHECKPOINT

HAND="UPDATE facts_hand f SET store_org_id = d.org_id FROM dim_store d
      WHERE f.store_id = d.store_id AND f.store_org_id IS DISTINCT FROM d.org_id"
INSYNC="SELECT * FROM remap_dimension('facts_insync', 'store_org_id', 'dim_store', '{store_id}', 'org_id')"
hand_times=""; insync_times=""
for round in 1 2 3; do
  hand_times+=" $(attempt "$HAND")"; psql -c CHECKPOINT
  insync_times+=" $(attempt "$INSYNC")"; psql -c CHECKPOINT
done
hand=$(echo "$hand_times" | best)
insync=$(echo "$insync_times" | best)
echo "attempts (ms): hand$hand_times; insync$insync_times"
psql -c "$HAND" >/dev/null
psql -At -c "$INSYNC" | sed 's/^/insync result (old|new|changed|merged|examined|batch): /' | head -3
# Rows, not entries: a slim entry lists many rows' keys.
quarantined=$(psql -At -c "SELECT sum(coalesce(json_array_length(row_keys), 1)) || ' in ' || count(*) || ' entries'
                           FROM insync.quarantine")
differing=$(psql -At -c "SELECT count(*) FROM ((TABLE facts_insync EXCEPT ALL TABLE facts_hand)
                          UNION ALL (TABLE facts_hand EXCEPT ALL TABLE facts_insync)) d")

printf '\n%-46s %10s %10s %7s\n' "workload" "insync ms" "hand ms" "ratio"
printf '%-46s %10.1f %10.1f %7s\n' "remap $ROWS facts, 5% stores moved (best of 3)" "$insync" "$hand" "$(ratio "$insync" "$hand")"
printf 'rows quarantined: %s; rows differing between the two remapped tables: %s\n' "$quarantined" "$differing"
