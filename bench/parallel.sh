#!/usr/bin/env bash
# Benchmark (not a test): the foundation workload run serially and with 2 segments, in one
# run, on one machine; prints the speed-up. Incremental: 2,000,000-row source, 200,000 changed
# rows. Full: the same source after another 200,000 changes, 20,000 deletes and 20,000 inserts.
# Each side has its own target, equal before every step; both runs read the same window.
set -euo pipefail
PORT=${INSYNC_BENCH_PORT:-54331}
DIR=${INSYNC_BENCH_DIR:-/tmp/insync-bench}
ROWS=${BENCH_ROWS:-2000000}
CHANGED=${BENCH_CHANGED:-200000}
SEGMENTS=${BENCH_SEGMENTS:-2}
SETTINGS=(shared_buffers=2GB max_wal_size=8GB checkpoint_timeout=1h)
source "$(dirname "$0")/lib.sh"

echo "setup: $ROWS source rows, $CHANGED of them changed; parallel runs use $SEGMENTS segments"
psql <<SQL
CREATE EXTENSION insync;
CREATE TABLE src (id bigint PRIMARY KEY, customer_id int, amount numeric(12,2), status text,
                  note text, updated_at timestamptz NOT NULL);
INSERT INTO src SELECT g, g % 50000, (g % 1000) / 10.0, 'open', md5(g::text),
       now() - interval '1 day' FROM generate_series(1, $ROWS) g;
CREATE INDEX src_updated_at ON src (updated_at);
CREATE TABLE dst_serial (LIKE src INCLUDING ALL);
CREATE TABLE dst_parallel (LIKE src INCLUDING ALL);
INSERT INTO dst_serial SELECT * FROM src;
INSERT INTO dst_parallel SELECT * FROM src;
SQL
psql -c "SELECT job_name FROM sync_define('serial', source => 'src', target => 'dst_serial', key => '{id}', watermark => 'updated_at', parallel => '1')" >/dev/null
psql -c "SELECT job_name FROM sync_define('parallel', source => 'src', target => 'dst_parallel', key => '{id}', watermark => 'updated_at', parallel => '$SEGMENTS')" >/dev/null
# Both watermarks start after the initial rows (the targets already hold them).
psql -c "UPDATE insync.job_state SET watermark = to_char(now() AT TIME ZONE 'UTC' - interval '1 hour', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"+00\"')"
psql -c "UPDATE src SET amount = amount + 1, status = 'paid', updated_at = clock_timestamp() WHERE id % ($ROWS / $CHANGED) = 0"
sleep 1.2
settle() { psql -c "VACUUM ANALYZE src" -c "VACUUM ANALYZE dst_serial" -c "VACUUM ANALYZE dst_parallel" -c CHECKPOINT; }
settle
psql -At -c "SELECT count(*) FROM src" >/dev/null   # warm the source once for both sides
inc_serial=$(timed "SELECT * FROM sync_incremental('serial')")
psql -c CHECKPOINT
inc_parallel=$(timed "SELECT * FROM sync_incremental('parallel')")
inc_diffs=$(psql -At -c "SELECT count(*) FROM ((TABLE dst_serial EXCEPT TABLE dst_parallel) UNION ALL (TABLE dst_parallel EXCEPT TABLE dst_serial)) d")

psql -c "UPDATE src SET note = note || 'x' WHERE id % ($ROWS / $CHANGED) = 1" \
     -c "DELETE FROM src WHERE id % ($ROWS / ($CHANGED / 10)) = 2" \
     -c "INSERT INTO src SELECT g, g % 50000, 1, 'new', md5(g::text), now() FROM generate_series($ROWS + 1, $ROWS + $CHANGED / 10) g"
settle
psql -At -c "SELECT count(*) FROM src" >/dev/null
full_serial=$(timed "SELECT * FROM sync_full('serial')")
psql -c CHECKPOINT
full_parallel=$(timed "SELECT * FROM sync_full('parallel')")
full_diffs=$(psql -At -c "SELECT count(*) FROM ((TABLE dst_serial EXCEPT TABLE dst_parallel) UNION ALL (TABLE dst_parallel EXCEPT TABLE src)) d")
psql -c "SELECT run_id, job_name, kind, segments, rows_read, rows_inserted, rows_updated, rows_deleted FROM insync.runs ORDER BY run_id"
psql -c "SELECT run_id, segment_no, slice, rows_read, round(extract(epoch FROM elapsed) * 1000) AS ms FROM insync.segments ORDER BY run_id, segment_no"

printf '\n%-44s %10s %10s %7s\n' "workload" "serial ms" "par. ms" "speed-up"
printf '%-44s %10.1f %10.1f %7.3f\n' "sync_incremental, $CHANGED changed rows" "$inc_serial" "$inc_parallel" "$(ratio "$inc_serial" "$inc_parallel")"
printf '%-44s %10.1f %10.1f %7.3f\n' "sync_full, $ROWS-row source" "$full_serial" "$full_parallel" "$(ratio "$full_serial" "$full_parallel")"
printf 'rows differing between serial and parallel targets: %s (incremental), %s (full)\n' "$inc_diffs" "$full_diffs"
