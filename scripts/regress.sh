#!/usr/bin/env bash
# SQL regression suite: each pg_test/sql/NAME.sql runs through pg_regress in a database of its
# own, created fresh for it (and the roles it made dropped after it), so every file stands alone
# and runs in any order. The extension must already be installed.
#   scripts/regress.sh              every file
#   scripts/regress.sh NAME...      only these (e.g. define_bad_watermark)
# Shared fixtures live in pg_test/setup/ and are read with \i from the repository root.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${INSYNC_REGRESS_PORT:-54329}
DIR=${INSYNC_REGRESS_DIR:-/tmp/insync-regress}
# pg_cron's launcher connects to this name (scripts/cluster.sh), so every file uses it.
DB=insync_regress
source scripts/pg.sh
PG_REGRESS=$("$PG_CONFIG" --pkglibdir)/pgxs/src/test/regress/pg_regress
if [ $# -gt 0 ]; then tests=("$@"); else mapfile -t tests < <(cd pg_test/sql && ls *.sql | sed 's/\.sql$//'); fi

scripts/cluster.sh start "$DIR" "$PORT"
trap 'scripts/cluster.sh stop "$DIR"' EXIT
admin() { PGOPTIONS='-c client_min_messages=warning' "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres -d postgres "$@"; }
rm -rf target/regress && mkdir -p target/regress
failed=()
for test in "${tests[@]}"; do
  # WITH (FORCE): pg_cron's launcher stays connected to the database.
  admin -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
  # pg_cron's launcher exits for good when its database is dropped: a file that schedules
  # gets a restarted server, whose launcher connects to the fresh database.
  if grep -q 'CREATE EXTENSION pg_cron' "pg_test/sql/$test.sql"; then scripts/cluster.sh restart "$DIR"; fi
  status=0
  "$PG_REGRESS" --use-existing --host=127.0.0.1 --port="$PORT" --user=postgres \
    --dbname="$DB" --inputdir=pg_test --outputdir=target/regress "$test" >target/regress/run.log 2>&1 || status=$?
  grep -E '^(ok|not ok|test) ' target/regress/run.log || cat target/regress/run.log
  if [ "$status" -ne 0 ] || [ -s target/regress/regression.diffs ]; then
    failed+=("$test")
    cat target/regress/regression.diffs >>target/regress/all.diffs
  fi
  rm -f target/regress/regression.diffs target/regress/regression.out
  # Roles are cluster-wide: drop what the file created, once its database is gone.
  admin -c "DROP DATABASE $DB WITH (FORCE)" -At \
    -c "SELECT format('DROP ROLE %I;', rolname) FROM pg_roles WHERE oid >= 16384" | admin
done
if [ ${#failed[@]} -gt 0 ]; then
  cat target/regress/all.diffs
  echo "regression files that differ: ${failed[*]}" >&2
  exit 1
fi
echo "all ${#tests[@]} regression files pass"
