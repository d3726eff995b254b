#!/usr/bin/env bash
# Benchmark (not a test): sync_incremental against the hand-written upsert a user would write,
# over the same window from the same starting state, in one run. Prints ratios.
#   2,000,000-row source, 200,000 changed rows.
set -euo pipefail
PORT=${INSYNC_BENCH_PORT:-54331}
DIR=/tmp/insync-bench
ROWS=${BENCH_ROWS:-2000000}
CHANGED=${BENCH_CHANGED:-200000}
SETTINGS=(shared_buffers=2GB max_wal_size=8GB checkpoint_timeout=1h)
source "$(dirname "$0")/lib.sh"

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
hand1=$(timed "$HAND")
psql -c CHECKPOINT
insync1=$(timed "SELECT * FROM sync_incremental('bench')")
psql -c CHECKPOINT
# Re-run over the same, now unchanged, window: rewind the watermark (superuser only) and run both again.
psql -c "UPDATE insync.job_state SET watermark = '$W' WHERE job_name = 'bench'"
hand2=$(timed "$HAND")
psql -c CHECKPOINT
insync2=$(timed "SELECT * FROM sync_incremental('bench')")
diffs=$(psql -At -c "SELECT count(*) FROM ((TABLE dst_insync EXCEPT TABLE dst_hand) UNION ALL (TABLE dst_hand EXCEPT TABLE dst_insync)) d")

printf '\n%-44s %10s %10s %7s\n' "workload" "insync ms" "hand ms" "ratio"
printf '%-44s %10.1f %10.1f %7.3f\n' "first run, $CHANGED changed rows" "$insync1" "$hand1" "$(ratio "$insync1" "$hand1")"
printf '%-44s %10.1f %10.1f %7.3f\n' "re-run over the unchanged window" "$insync2" "$hand2" "$(ratio "$insync2" "$hand2")"
printf 're-run cost relative to first insync run: %.3f\n' "$(ratio "$insync2" "$insync1")"
printf 'rows differing between the two targets: %s\n' "$diffs"
