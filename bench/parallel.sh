#!/usr/bin/env bash
# Benchmark (not a test): the foundation workload run serially and with 2 segments on one
# machine; prints the speed-up. Incremental: 2,000,000-row source, 200,000 changed rows. Full:
# the same source after another 200,000 changes, 20,000 deletes and 20,000 inserts.
# Each attempt starts from the same state: both targets are rebuilt (TRUNCATE + INSERT, then
# VACUUM ANALYZE and a CHECKPOINT) and both watermarks rewound, so every attempt reads and
# writes the same rows; serial and parallel alternate which goes first.
#
# Every attempt is also accounted for (the printed table "where the time goes"): WAL bytes
# written (pg_stat_wal), the CPU time of the calling backend and of each segment worker
# (/proc/PID/stat, since the process started: each is started for the attempt), and their wait events, sampled every 10 ms by a
# separate backend.
#   BENCH_VARIANTS   which runs to make (default "logged"): any of
#                      logged        the targets as created (WAL-logged, CHECKPOINT before)
#                      no-checkpoint the same without the CHECKPOINT before each attempt
#                      unlogged      UNLOGGED targets (no WAL for their pages)
#   BENCH_AUTO=1     also the `auto` section: serial vs 2 segments over windows of several sizes
#                    (BENCH_AUTO_WINDOWS), and how many segments `auto` chose for each.
set -euo pipefail
PORT=${INSYNC_BENCH_PORT:-54331}
DIR=${INSYNC_BENCH_DIR:-/tmp/insync-bench}
ROWS=${BENCH_ROWS:-2000000}
CHANGED=${BENCH_CHANGED:-200000}
SEGMENTS=${BENCH_SEGMENTS:-2}
VARIANTS=${BENCH_VARIANTS:-logged}
SETTINGS=(shared_buffers=2GB max_wal_size=8GB checkpoint_timeout=1h track_io_timing=on)
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
-- What each target holds before the incremental attempts, and before the full ones.
CREATE UNLOGGED TABLE before_incremental AS SELECT * FROM src;
-- Samples taken while an attempt runs (see sample()).
CREATE UNLOGGED TABLE samples (attempt text, pid int, backend text, wait text, cpu_ticks bigint);
CREATE UNLOGGED TABLE sampling (attempt text);
SQL
psql -c "SELECT job_name FROM sync_define('serial', source => 'src', target => 'dst_serial', key => '{id}', watermark => 'updated_at', parallel => '1')" >/dev/null
psql -c "SELECT job_name FROM sync_define('parallel', source => 'src', target => 'dst_parallel', key => '{id}', watermark => 'updated_at', parallel => '$SEGMENTS')" >/dev/null
# Both watermarks start after the initial rows (the targets already hold them).
W0=$(psql -At -c "SELECT to_char(now() AT TIME ZONE 'UTC' - interval '1 hour', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"+00\"')")
psql -c "UPDATE src SET amount = amount + 1, status = 'paid', updated_at = clock_timestamp() WHERE id % ($ROWS / $CHANGED) = 0"
sleep 1.2
psql -c "VACUUM ANALYZE src" >/dev/null
# Before the full attempts, the targets hold the source after this update; then the source
# changes further, in ways an incremental run would not see (no newer watermark, deletes).
psql -c "CREATE UNLOGGED TABLE before_full AS SELECT * FROM src"
change_for_full() {
  psql -c "UPDATE src SET note = note || 'x' WHERE id % ($ROWS / $CHANGED) = 1" \
       -c "DELETE FROM src WHERE id % ($ROWS / ($CHANGED / 10)) = 2" \
       -c "INSERT INTO src SELECT g, g % 50000, 1, 'new', md5(g::text), now() FROM generate_series($ROWS + 1, $ROWS + $CHANGED / 10) g" \
       -c "VACUUM ANALYZE src" >/dev/null
}

# A backend that samples the running attempt every 10 ms until sampling is emptied: each
# insync backend's wait event and its CPU ticks so far (utime + stime, /proc/PID/stat).
sampler() {
  psql -c "INSERT INTO sampling VALUES ('$1')" >/dev/null
  psql >/dev/null <<SQL &
DO \$\$
BEGIN
  WHILE EXISTS (SELECT FROM sampling) LOOP
    PERFORM pg_catalog.pg_stat_clear_snapshot();
    INSERT INTO samples
      SELECT '$1', a.pid, a.backend_type || coalesce(' ' || nullif(a.application_name, ''), ''),
             coalesce(a.wait_event_type || ':' || a.wait_event, 'CPU'),
             (SELECT f[14]::bigint + f[15]::bigint FROM regexp_split_to_array(
                 split_part(pg_catalog.pg_read_file('/proc/' || a.pid || '/stat'), ') ', 2), ' ') f0(g),
                 LATERAL (SELECT ARRAY['', ''] || g) f1(f))
        FROM pg_catalog.pg_stat_activity a
       WHERE a.backend_type LIKE 'insync%' OR a.application_name = 'bench_leader';
    COMMIT;
    PERFORM pg_catalog.pg_sleep(0.01);
  END LOOP;
END \$\$;
SQL
  SAMPLER=$!
}
stop_sampler() { psql -c "DELETE FROM sampling" >/dev/null; wait "$SAMPLER"; }

wal_bytes() { psql -At -c "SELECT wal_bytes FROM pg_stat_wal"; }
# rebuild TARGET FROM WATERMARK: the target as it was before the run, its job rewound.
rebuild() {
  psql >/dev/null <<SQL
TRUNCATE $1;
INSERT INTO $1 SELECT * FROM $2;
UPDATE insync.job_state SET watermark = '$3' WHERE job_name = '${1#dst_}';
VACUUM ANALYZE $1;
SQL
  [ "$VARIANT" = no-checkpoint ] || psql -c CHECKPOINT >/dev/null
}
# attempt_run LABEL TARGET BEFORE WATERMARK STATEMENT: prints the milliseconds taken.
attempt_run() {
  local label=$1 target=$2 t w0 w1
  rebuild "$target" "$3" "$4"
  psql -At -c "SELECT count(*) FROM src" >/dev/null   # the source's pages are warm for either side
  sampler "$label"
  w0=$(wal_bytes)
  t=$(PGAPPNAME=bench_leader psql -At -c '\timing on' -c "$5" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -1)
  w1=$(wal_bytes)
  stop_sampler
  psql -c "INSERT INTO samples VALUES ('$label', 0, 'wal', '$((w1 - w0))', NULL)" >/dev/null
  echo "$t"
}
results=()
for kind in incremental full; do
  if [ $kind = incremental ]; then before=before_incremental; else before=before_full; change_for_full; fi
  for VARIANT in $VARIANTS; do
    persistence=LOGGED; [ "$VARIANT" = unlogged ] && persistence=UNLOGGED
    psql -c "ALTER TABLE dst_serial SET $persistence" -c "ALTER TABLE dst_parallel SET $persistence" >/dev/null
    serial_times=""; parallel_times=""
    for round in $(seq "$ROUNDS"); do
      s() { serial_times+=" $(attempt_run "$VARIANT $kind serial $round" dst_serial $before "$W0" "SELECT * FROM sync_$kind('serial')")"; }
      p() { parallel_times+=" $(attempt_run "$VARIANT $kind parallel $round" dst_parallel $before "$W0" "SELECT * FROM sync_$kind('parallel')")"; }
      if [ $((round % 2)) = 1 ]; then s; p; else p; s; fi
    done
    echo "attempts (ms), $VARIANT $kind: serial$serial_times; parallel$parallel_times"
    if [ $kind = incremental ]; then
      diffs=$(psql -At -c "SELECT count(*) FROM ((TABLE dst_serial EXCEPT TABLE dst_parallel) UNION ALL (TABLE dst_parallel EXCEPT TABLE dst_serial)) d")
    else
      diffs=$(psql -At -c "SELECT count(*) FROM ((TABLE dst_parallel EXCEPT TABLE src) UNION ALL (TABLE src EXCEPT TABLE dst_parallel)) d")
    fi
    sb=$(echo "$serial_times" | best); pb=$(echo "$parallel_times" | best)
    results+=("$(printf '%-40s %10.1f %7s %10.1f %7s %8.3f %6s' "$VARIANT, sync_$kind" "$sb" "$(echo "$serial_times" | spread)" \
      "$pb" "$(echo "$parallel_times" | spread)" "$(ratio "$sb" "$pb")" "$diffs")")
  done
done
psql -c "ALTER TABLE dst_serial SET LOGGED" -c "ALTER TABLE dst_parallel SET LOGGED" >/dev/null

psql -c "SELECT run_id, segment_no, slice, rows_read, round(extract(epoch FROM elapsed) * 1000) AS ms FROM insync.segments WHERE run_id > (SELECT max(run_id) - 2 * $SEGMENTS FROM insync.runs) ORDER BY run_id, segment_no"
echo
echo "where the time goes, per attempt (WAL written; per backend: CPU seconds, then its 10 ms samples by wait event, as % of its samples):"
psql -At <<'SQL'
WITH per_backend AS (
  -- A worker names itself (application_name) once it starts: its label is its latest one.
  SELECT attempt, pid, max(backend) AS backend, max(cpu_ticks) / 100.0 AS cpu_s, count(*) AS n
    FROM samples WHERE pid <> 0 GROUP BY attempt, pid),
waits AS (
  SELECT s.attempt, s.pid, string_agg(format('%s %s%%', s.wait, round(100.0 * s.k / b.n)), ', ' ORDER BY s.k DESC) AS waits
    FROM (SELECT attempt, pid, wait, count(*) AS k FROM samples WHERE pid <> 0 GROUP BY 1, 2, 3) s
    JOIN per_backend b USING (attempt, pid) GROUP BY s.attempt, s.pid)
SELECT format(E'%s: WAL %s\n%s', a.attempt, pg_size_pretty(w.wait::bigint),
              string_agg(format('    %-58s cpu %s s  (%s samples) %s', b.backend, to_char(b.cpu_s, 'FM990.00'), b.n, x.waits), E'\n' ORDER BY b.backend, b.pid))
  FROM (SELECT DISTINCT attempt FROM samples) a
  JOIN samples w ON w.attempt = a.attempt AND w.pid = 0
  JOIN per_backend b ON b.attempt = a.attempt
  JOIN waits x ON x.attempt = b.attempt AND x.pid = b.pid
 GROUP BY a.attempt, w.wait ORDER BY a.attempt;
SQL

if [ "${BENCH_AUTO:-0}" = 1 ]; then
  # Windows of several sizes over the same source, each run serially, with 2 segments and with
  # `auto` (and what it chose). Targets start equal to the source before its window changed.
  psql -c "SELECT job_name FROM sync_alter('parallel', parallel => 'auto')" >/dev/null
  psql -c "CREATE UNLOGGED TABLE auto_base AS SELECT id, customer_id, amount, status, note, now() - interval '2 days' AS updated_at FROM src" >/dev/null
  VARIANT=logged
  for n in ${BENCH_AUTO_WINDOWS:-1000 10000 50000 100000 200000}; do
    psql -c "TRUNCATE src" -c "INSERT INTO src SELECT * FROM auto_base" \
         -c "UPDATE src SET amount = amount + 1, updated_at = clock_timestamp() WHERE id % (($ROWS + $n - 1) / $n) = 3" \
         -c "VACUUM ANALYZE src" >/dev/null
    sleep 1.2
    ser=""; par=""; auto=""
    for round in $(seq "$ROUNDS"); do
      ser+=" $(attempt_run "auto $n serial" dst_serial auto_base "$W0" "SELECT * FROM sync_incremental('serial')")"
      par+=" $(attempt_run "auto $n parallel" dst_parallel auto_base "$W0" "SELECT * FROM sync_incremental('parallel', parallel => $SEGMENTS)")"
      auto+=" $(attempt_run "auto $n auto" dst_parallel auto_base "$W0" "SELECT * FROM sync_incremental('parallel')")"
    done
    chose=$(psql -At -c "SELECT coalesce(segments, 1) FROM insync.runs WHERE job_name = 'parallel' ORDER BY run_id DESC LIMIT 1")
    sb=$(echo "$ser" | best); pb=$(echo "$par" | best); ab=$(echo "$auto" | best)
    results+=("$(printf '%-40s %10.1f %7s %10.1f %7s %8.3f   auto: %s segment(s), %.1f ms' "window of $n rows, sync_incremental" \
      "$sb" "$(echo "$ser" | spread)" "$pb" "$(echo "$par" | spread)" "$(ratio "$sb" "$pb")" "$chose" "$ab")")
  done
fi

printf '\n%-40s %10s %7s %10s %7s %8s %6s\n' "workload" "serial ms" "spread" "par. ms" "spread" "speed-up" "diffs"
printf '%s\n' "${results[@]}"
echo "(best of $ROUNDS per side; spread = (slowest - fastest) / fastest; diffs: rows differing between the serial and parallel targets, or between the parallel target and the source after a full run)"
