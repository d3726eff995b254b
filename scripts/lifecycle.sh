#!/usr/bin/env bash
# What a database goes through, tested on a throwaway cluster with the extension installed:
#   1. upgrade: the previous release (built from its git tag) with jobs and history, then the
#      current build and ALTER EXTENSION insync UPDATE; the data survives and the upgraded
#      catalog is identical to a fresh install (pg_dump --schema-only of both);
#   2. dump and restore: jobs (with their schedules and upstreams), watermarks, runs, segments
#      and quarantine come through, the next run continues from the watermark and the
#      quarantine restores;
#   3. crashes: an immediate shutdown, and a segment worker killed with SIGKILL, in the middle
#      of a parallel run: the run shows as interrupted, is closed as failed when the job runs
#      next, and its window is finished; and a backfill whose backend is killed with SIGKILL
#      in the middle of a batch (the server restarts): the next CALL resumes after the last
#      committed batch, and the target equals the source without duplicates.
# Every step waits for a state (a worker waiting on a lock, the server accepting connections),
# never for a fixed time.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${INSYNC_LIFECYCLE_PORT:-54331}
DIR=${INSYNC_LIFECYCLE_DIR:-/tmp/insync-lifecycle}
source scripts/pg.sh
BIN=$PGBIN
PREVIOUS=${INSYNC_PREVIOUS_RELEASE:-v0.1.0}
EXTDIR=$("$PG_CONFIG" --sharedir)/extension
LIBDIR=$("$PG_CONFIG" --pkglibdir)
WORK=$PWD/target/lifecycle
failures=0

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
psql_in() { local db=$1; shift; "$BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres -d "$db" "$@"; }
# expect DB DESCRIPTION SQL EXPECTED: one value (or rows joined by |) must match.
expect() {
  local got
  got=$(psql_in "$1" -At -c "$3" 2>&1 | paste -sd'|' -) || true
  if [ "$got" = "$4" ]; then
    echo "ok   $2"
  else
    echo "FAIL $2: expected [$4], got [$got]"
    failures=$((failures + 1))
  fi
}
# wait_for DB DESCRIPTION SQL: polls (at most 120 s) until SQL returns true.
wait_for() {
  for _ in $(seq 1 1200); do
    [ "$(psql_in "$1" -At -c "$3" 2>/dev/null || true)" = t ] && return 0
    sleep 0.1
  done
  echo "FAIL waiting for: $2"
  failures=$((failures + 1))
  return 1
}
# Puts extension files in place atomically (a running backend may have the library mapped).
put() { as_root cp "$1" "$2.tmp.$$" && as_root mv -f "$2.tmp.$$" "$2"; }

# --- the previous release and the current build --------------------------------------------
old_pkg=$(bash scripts/build-release.sh "$PREVIOUS")
old_version=$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$old_pkg$EXTDIR/insync.control")
new_version=$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$EXTDIR/insync.control")
mkdir -p "$WORK/current"
cp "$LIBDIR/insync.so" "$EXTDIR/insync.control" "$WORK/current/"
install_current() {
  put "$WORK/current/insync.so" "$LIBDIR/insync.so"
  put "$WORK/current/insync.control" "$EXTDIR/insync.control"
}
install_previous() {
  put "$old_pkg$LIBDIR/insync.so" "$LIBDIR/insync.so"
  put "$old_pkg$EXTDIR/insync.control" "$EXTDIR/insync.control"
  put "$old_pkg$EXTDIR/insync--$old_version.sql" "$EXTDIR/insync--$old_version.sql"
}
trap 'install_current; scripts/cluster.sh stop "$DIR"' EXIT
echo "lifecycle: upgrade $old_version ($PREVIOUS) -> $new_version"

# --- 1. upgrade ----------------------------------------------------------------------------
install_previous
# pg_cron serves database life here (section 2 schedules a job there).
scripts/cluster.sh start "$DIR" "$PORT" cron.database_name=life
"$BIN/createdb" -h 127.0.0.1 -p "$PORT" -U postgres life
psql_in life >/dev/null <<'SQL'
CREATE ROLE etl LOGIN;
CREATE SCHEMA app AUTHORIZATION etl;
CREATE EXTENSION insync;
SET ROLE etl;
CREATE TABLE app.src (id int PRIMARY KEY, v text, updated_at timestamptz NOT NULL);
CREATE TABLE app.dst (id int PRIMARY KEY, v text, updated_at timestamptz);
CREATE TABLE app.orders (id int, note text, loaded_at timestamptz);
INSERT INTO app.src SELECT g, 'v' || g, now() - interval '1 hour' FROM generate_series(1, 1000) g;
INSERT INTO app.orders SELECT g % 50, 'copy', now() FROM generate_series(1, 200) g;
SELECT job_name FROM sync_define('customer', source => 'app.src', target => 'app.dst', key => '{id}',
                                 watermark => 'updated_at');
SELECT status, rows_inserted FROM sync_incremental('customer');
-- A remap before the upgrade: its quarantine holds whole before-images.
CREATE TABLE app.dim_store (store_id int PRIMARY KEY, org_id int);
INSERT INTO app.dim_store VALUES (1, 10), (2, 20);
CREATE TABLE app.facts (id int PRIMARY KEY, store_id int, org_id int);
INSERT INTO app.facts SELECT g, 1 + g % 2, 0 FROM generate_series(1, 12) g;
SELECT sum(rows_changed) FROM remap_dimension('app.facts', 'org_id', 'app.dim_store', '{store_id}', 'org_id');
SELECT sum(removed) AS removed FROM dedup_table('app.orders', '{id}', keep => 'first');
RESET ROLE;
SQL
psql_in life -At -c "SELECT watermark FROM insync.job_state WHERE job_name = 'customer'" > "$WORK/watermark"
psql_in life -At -c "SELECT max(batch_id) FROM insync.quarantine" > "$WORK/batch"
psql_in life -At -c "SELECT min(batch_id) FROM insync.quarantine" > "$WORK/remap_batch"
install_current
scripts/cluster.sh restart "$DIR"
psql_in life -c "ALTER EXTENSION insync UPDATE"
expect life "upgraded to $new_version" "SELECT extversion FROM pg_extension WHERE extname = 'insync'" "$new_version"
expect life "jobs kept" "SELECT string_agg(job_name || ':' || owner, ',') FROM insync.jobs" "customer:etl"
expect life "watermark kept" "SELECT watermark FROM insync.job_state WHERE job_name = 'customer'" "$(cat "$WORK/watermark")"
expect life "runs kept" "SELECT string_agg(status || ':' || rows_inserted, ',' ORDER BY run_id) FROM insync.runs" "succeeded:1000"
expect life "quarantine kept" "SELECT count(*) FROM insync.quarantine WHERE batch_id = $(cat "$WORK/batch")" "150"
psql_in life -c "SET ROLE etl; UPDATE app.src SET v = 'changed', updated_at = now() WHERE id <= 7"
wait_for life "the changes to fall behind the safe bound" \
  "SELECT clock_timestamp() - interval '1.1 seconds' > (SELECT max(updated_at) FROM app.src)"
expect life "upgraded job reads only the new changes" \
  "SET ROLE etl; SELECT status || ':' || rows_read || ':' || rows_updated FROM sync_incremental('customer')" "succeeded:7:7"
expect life "upgraded quarantine restores" \
  "SET ROLE etl; SELECT restore_quarantine($(cat "$WORK/batch"))" "150"
expect life "restored rows are back" "SELECT count(*) FROM app.orders" "200"
expect life "a remap quarantined before the upgrade restores" \
  "SET ROLE etl; SELECT restore_quarantine($(cat "$WORK/remap_batch"))" "12"
expect life "its rows are back as they were" "SELECT count(*) FROM app.facts WHERE org_id = 0" "12"

# The upgraded catalog must be the one a fresh install creates.
"$BIN/createdb" -h 127.0.0.1 -p "$PORT" -U postgres fresh
psql_in fresh -c "CREATE EXTENSION insync"
schema_of() {
  # --binary-upgrade dumps the extension's own objects; object ids differ between databases.
  "$BIN/pg_dump" -h 127.0.0.1 -p "$PORT" -U postgres --schema-only --binary-upgrade -N app "$1" \
    | grep -v -e 'binary_upgrade_set_next' -e 'binary_upgrade_create_empty_extension' -e '^--' -e '^$' \
             -e 'relfrozenxid' -e "^WHERE oid = '" -e '^\\restrict' -e '^\\unrestrict' -e 'pg_catalog.setval(' \
             -e 'binary_upgrade_set_missing_value' \
    | perl -0pe 's/SELECT pg_catalog.binary_upgrade_set_record_init_privs\(true\);\nSELECT pg_catalog.binary_upgrade_set_record_init_privs\(false\);\n//g'
  # Left out: object ids, frozen xids, pg_dump's random \restrict key, sequence positions (data),
  # the value rows stored before a column was added read in it (data: runs.scheduled, 0.4.0),
  # and empty initial-privilege records (the upgrade revoked a grant 0.1.0 made).
}
if diff -u <(schema_of fresh) <(schema_of life) > "$WORK/schema.diff"; then
  echo "ok   upgraded catalog identical to a fresh install of $new_version"
else
  echo "FAIL upgraded catalog differs from a fresh install:"
  cat "$WORK/schema.diff"
  failures=$((failures + 1))
fi

# --- 2. dump and restore -------------------------------------------------------------------
psql_in life >/dev/null <<'SQL'
SET ROLE etl;
CREATE TABLE app.dups (id int, v text);
INSERT INTO app.dups SELECT g % 10, 'x' FROM generate_series(1, 30) g;
SELECT sum(removed) FROM dedup_table('app.dups', '{id}', keep => 'first');
-- 0.3.0's settings: a source time zone, and a job exposed to late commits (an integer
-- watermark without a sequence), which job_status explains.
SELECT job_name FROM sync_alter('customer', source_timezone => 'America/New_York');
CREATE TABLE app.versions (id int PRIMARY KEY, version bigint NOT NULL);
CREATE TABLE app.versions_copy (id int PRIMARY KEY, version bigint);
SET client_min_messages = warning;
SELECT job_name FROM sync_define('versions', source => 'app.versions', target => 'app.versions_copy',
                                 key => '{id}', watermark => 'version');
-- 0.4.0: verifications (one finding a difference) and job_status's last verification.
SELECT status FROM sync_verify('customer');
UPDATE app.dst SET v = 'drifted' WHERE id = 3;
SELECT status FROM sync_verify('customer');
-- 0.4.0's settings: a schedule (a pg_cron entry owned by etl) and an upstream job.
RESET ROLE;
CREATE EXTENSION pg_cron;
GRANT USAGE ON SCHEMA cron TO etl;
SET ROLE etl;
SELECT job_name FROM sync_alter('customer', schedule => '*/5 * * * *');
SELECT job_name FROM sync_alter('versions', after => '{customer}');
SQL
expect life "the schedule has its pg_cron entry, owned by the job owner" \
  "SELECT jobname || '/' || schedule || '/' || username FROM cron.job" "insync:customer/*/5 * * * */etl"
psql_in life -At -c "SELECT max(batch_id) FROM insync.quarantine" > "$WORK/batch"
snapshot="SELECT (SELECT count(*) FROM insync.jobs) || '/' || (SELECT count(*) FROM insync.runs) || '/' ||
                 (SELECT string_agg(watermark, ',') FROM insync.job_state) || '/' ||
                 (SELECT count(*) FROM insync.quarantine WHERE restored_at IS NULL) || '/' ||
                 (SELECT count(*) FROM insync.quarantine_batches) || '/' ||
                 (SELECT string_agg(job_name || '=' || coalesce(source_timezone, '-'), ',' ORDER BY job_name) FROM insync.jobs) || '/' ||
                 (SELECT string_agg(job_name || '=' || (late_commit_risk IS NOT NULL), ',' ORDER BY job_name) FROM insync.job_status) || '/' ||
                 (SELECT string_agg(status || ':' || changed, ',' ORDER BY verification_id) FROM insync.verifications) || '/' ||
                 (SELECT string_agg(job_name || '=' || coalesce(last_verification, '-'), ',' ORDER BY job_name) FROM insync.job_status) || '/' ||
                 (SELECT string_agg(job_name || '=' || coalesce(schedule, '-') || ' after ' || runs_after::text, ',' ORDER BY job_name) FROM insync.job_status)"
before=$(psql_in life -At -c "$snapshot")
"$BIN/pg_dump" -h 127.0.0.1 -p "$PORT" -U postgres -Fc -f "$WORK/life.dump" life
"$BIN/createdb" -h 127.0.0.1 -p "$PORT" -U postgres restored
# pg_cron installs only in the database it serves (life): restore everything but pg_cron and its
# table (whose rows, the cron entries, pg_cron's own config dump carries).
"$BIN/pg_restore" -l "$WORK/life.dump" | grep -v -e ' cron ' -e 'pg_cron' > "$WORK/life.list"
"$BIN/pg_restore" -h 127.0.0.1 -p "$PORT" -U postgres -d restored --exit-on-error -L "$WORK/life.list" "$WORK/life.dump"
expect restored "jobs, runs, watermark, quarantine and job settings restored" "$snapshot" "$before"
expect restored "the settings restored are the ones set" \
  "SELECT string_agg(job_name || '=' || coalesce(source_timezone, '-'), ',' ORDER BY job_name) FROM insync.jobs" \
  "customer=America/New_York,versions=-"
expect restored "the schedule and the upstream are kept in the job rows" \
  "SELECT string_agg(job_name || '=' || coalesce(schedule, '-') || ' after ' || runs_after::text, ',' ORDER BY job_name) FROM insync.job_status" \
  "customer=*/5 * * * * after {},versions=- after {customer}"
expect restored "job_status says why the restored schedule does not run here" \
  "SELECT schedule_problem FROM insync.job_status WHERE job_name = 'customer'" "extension pg_cron is not installed in this database"
expect restored "scheduling is refused in a database pg_cron does not serve, saying which one it serves" \
  "SET ROLE etl; SELECT job_name FROM sync_alter('customer', schedule => '@daily')" \
  'ERROR:  sync job "customer" cannot be scheduled: pg_cron runs jobs of database "life" (cron.database_name), not of "restored"|HINT:  pg_cron works in one database: define scheduled jobs there, or set cron.database_name to this database and restart the server.'
expect restored "the upstream link still gates its dependent" \
  "SET ROLE etl; SELECT job_name || ':' || status FROM sync_run_all() ORDER BY job_name" "customer:succeeded|versions:succeeded"
expect restored "job_status still explains the exposed job" \
  "SELECT job_name FROM insync.job_status WHERE late_commit_risk IS NOT NULL" "versions"
expect restored "run ids continue after the restored ones" \
  "SELECT nextval('insync.runs_run_id_seq') > (SELECT max(run_id) FROM insync.runs)" "t"
psql_in restored -c "SET ROLE etl; UPDATE app.src SET v = 'again', updated_at = now() WHERE id BETWEEN 10 AND 14"
wait_for restored "the changes to fall behind the safe bound" \
  "SELECT clock_timestamp() - interval '1.1 seconds' > (SELECT max(updated_at) FROM app.src)"
expect restored "verification ids continue after the restored ones" \
  "SELECT nextval('insync.verifications_id_seq') > (SELECT max(verification_id) FROM insync.verifications)" "t"
expect restored "restored job continues from its watermark" \
  "SET ROLE etl; SELECT status || ':' || rows_read || ':' || rows_updated FROM sync_incremental('customer')" "succeeded:5:5"
expect restored "a restored job verifies and repairs (the row drifted before the dump)" \
  "SET ROLE etl; SELECT status || ':' || changed FROM sync_verify('customer', repair => true)" "repaired:1"
expect restored "restored quarantine restores" "SET ROLE etl; SELECT restore_quarantine($(cat "$WORK/batch"))" "20"
expect restored "target equals source" \
  "SELECT count(*) FROM (SELECT * FROM app.src EXCEPT SELECT * FROM app.dst) d" "0"

# The schedule cleared removes its entry (and no scheduled run interferes with section 3).
psql_in life -c "SET ROLE etl; SELECT job_name FROM sync_alter('customer', schedule => '')" >/dev/null
expect life "clearing the schedule removes the pg_cron entry" "SELECT count(*) FROM cron.job" "0"

# --- 3. crashes in the middle of a parallel run -----------------------------------------------
psql_in life >/dev/null <<'SQL'
SET ROLE etl;
CREATE TABLE app.big (id int PRIMARY KEY, v text, updated_at timestamptz NOT NULL);
CREATE TABLE app.big_copy (id int PRIMARY KEY, v text, updated_at timestamptz);
INSERT INTO app.big SELECT g, 'old', now() - interval '1 hour' FROM generate_series(1, 4000) g;
SELECT job_name FROM sync_define('big', source => 'app.big', target => 'app.big_copy', key => '{id}',
                                 watermark => 'updated_at', parallel => '2');
SELECT status FROM sync_incremental('big');
SQL
crash_during_parallel_run() {
  local how=$1 value=$2
  psql_in life -c "UPDATE app.big SET v = '$value', updated_at = now()"
  wait_for life "the changes to fall behind the safe bound" \
    "SELECT clock_timestamp() - interval '1.1 seconds' > (SELECT max(updated_at) FROM app.big)"
  # A session holds one target row, so the segment that merges it waits.
  psql_in life -c "BEGIN; SELECT id FROM app.big_copy WHERE id = 1 FOR UPDATE; SELECT pg_sleep(3600)" >/dev/null 2>&1 &
  local locker=$!
  wait_for life "the locker to hold the row" \
    "SELECT EXISTS (SELECT FROM pg_stat_activity a JOIN pg_locks l ON l.pid = a.pid AND l.locktype = 'transactionid'
                     WHERE a.query LIKE 'BEGIN; SELECT id FROM app.big_copy%')"
  psql_in life -c "SET ROLE etl; SELECT status FROM sync_incremental('big')" >/dev/null 2>&1 &
  local runner=$!
  wait_for life "a segment worker waiting on the locked row" \
    "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE application_name LIKE 'insync big run % segment %' AND wait_event_type = 'Lock')"
  case $how in
    immediate) scripts/cluster.sh restart "$DIR" immediate ;;
    sigkill)
      as_root kill -KILL "$(psql_in life -At -c "SELECT pid FROM pg_stat_activity WHERE application_name LIKE 'insync big run % segment %' AND wait_event_type = 'Lock' LIMIT 1")"
      ;;
  esac
  wait $runner 2>/dev/null || true
  wait $locker 2>/dev/null || true
  wait_for life "the server to accept connections again" "SELECT NOT pg_is_in_recovery()"
  expect life "$how: the run shows as interrupted" \
    "SELECT status FROM insync.job_status WHERE job_name = 'big'" "interrupted"
  expect life "$how: the next run finishes its window" \
    "SET ROLE etl; SET client_min_messages = warning; SELECT status FROM sync_incremental('big')" "succeeded"
  expect life "$how: the interrupted run is closed as failed, with the rows it committed" \
    "SELECT status || ':' || (finished_at IS NOT NULL) || ':' || (error_message LIKE 'interrupted:%') || ':' ||
            (rows_read = (SELECT coalesce(sum(rows_read), 0) FROM insync.run_segments s WHERE s.finished_by = r.run_id AND s.status = 'done'))
       FROM insync.runs r WHERE job_name = 'big' AND segments IS NOT NULL AND resumes IS NULL ORDER BY run_id DESC LIMIT 1" \
    "failed:true:true:true"
  expect life "$how: a later run resumed it" \
    "SELECT count(*) FROM insync.runs WHERE job_name = 'big' AND resumes = (SELECT max(run_id) FROM insync.runs WHERE job_name = 'big' AND status = 'failed')" "1"
  expect life "$how: no run left running" "SELECT count(*) FROM insync.runs WHERE status = 'running'" "0"
  expect life "$how: target equals source" \
    "SELECT count(*) FROM (SELECT * FROM app.big EXCEPT SELECT * FROM app.big_copy) d" "0"
}
crash_during_parallel_run immediate crashed
crash_during_parallel_run sigkill killed

# --- a backfill's backend killed with SIGKILL mid-batch ------------------------------------
psql_in life >/dev/null <<'SQL'
SET ROLE etl;
CREATE TABLE app.huge (id int PRIMARY KEY, v text, updated_at timestamptz NOT NULL);
-- No unique index on the copy: a range loaded twice would show as duplicates.
CREATE TABLE app.huge_copy (id int, v text, updated_at timestamptz);
INSERT INTO app.huge SELECT g, 'v' || g, now() - interval '1 hour' FROM generate_series(1, 5000) g;
-- The batch that reaches key 3500 waits for an advisory lock a test session holds.
CREATE FUNCTION app.gate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.id = 3500 THEN PERFORM pg_catalog.pg_advisory_xact_lock(4343); END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER gate BEFORE INSERT ON app.huge_copy FOR EACH ROW EXECUTE FUNCTION app.gate();
SELECT job_name FROM sync_define('huge', source => 'app.huge', target => 'app.huge_copy', key => '{id}',
                                 watermark => 'updated_at', backfill_batch => 1000);
SQL
psql_in life -c "SELECT pg_advisory_lock(4343); SELECT pg_sleep(3600)" >/dev/null 2>&1 &
gate_holder=$!
wait_for life "the gate to be held" "SELECT EXISTS (SELECT FROM pg_locks WHERE locktype = 'advisory' AND objid = 4343 AND granted)"
# (A procedure that commits needs a statement of its own, not a multi-statement string.)
psql_in life -c "SET ROLE etl" -c "SET client_min_messages = warning" -c "CALL sync_backfill('huge')" >/dev/null 2>&1 &
runner=$!
wait_for life "the backfill to wait at the gate" \
  "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE query = 'CALL sync_backfill(''huge'')' AND wait_event_type = 'Lock')"
as_root kill -KILL "$(psql_in life -At -c "SELECT pid FROM pg_stat_activity WHERE query = 'CALL sync_backfill(''huge'')' AND wait_event_type = 'Lock' LIMIT 1")"
wait $runner 2>/dev/null || true
wait $gate_holder 2>/dev/null || true
wait_for life "the server to accept connections again" "SELECT NOT pg_is_in_recovery()"
expect life "backfill killed: three batches committed, the fourth lost with the crash" \
  "SELECT backfill_state || ':' || backfill_batches || ':' || backfill_rows_done || ':' || (SELECT count(*) FROM app.huge_copy) FROM insync.job_status WHERE job_name = 'huge'" \
  "in progress:3:3000:3000"
# A crash leaves no record of the batch in flight (nothing of it was committed).
expect life "backfill killed: the last run is the last committed batch" \
  "SELECT status || ':' || (SELECT backfill_batch FROM insync.runs WHERE run_id = last_run_id) FROM insync.job_status WHERE job_name = 'huge'" "succeeded:3"
psql_in life -c "SET ROLE etl" -c "SET client_min_messages = warning" -c "CALL sync_backfill('huge')"
expect life "backfill killed: the next CALL resumed after the last committed batch" \
  "SELECT backfill_state || ':' || backfill_batches || ':' || backfill_rows_done FROM insync.job_status WHERE job_name = 'huge'" "done:5:5000"
expect life "backfill killed: target equals source, no duplicates" \
  "SELECT (SELECT count(*) FROM (SELECT * FROM app.huge EXCEPT SELECT * FROM app.huge_copy) d) || ':' ||
          (SELECT count(*) - count(DISTINCT id) FROM app.huge_copy)" "0:0"
expect life "backfill killed: each batch ran once to success, no run left running" \
  "SELECT (SELECT count(*) FROM insync.runs WHERE job_name = 'huge' AND status = 'succeeded') || ':' ||
          (SELECT count(DISTINCT backfill_batch) FROM insync.runs WHERE job_name = 'huge') || ':' ||
          (SELECT count(*) FROM insync.runs WHERE status = 'running')" "5:5:0"

if [ "$failures" -ne 0 ]; then
  echo "lifecycle: $failures check(s) failed (server log: $DIR/server.log)"
  exit 1
fi
echo "lifecycle: all checks passed"
