#!/usr/bin/env bash
# SQL regression suite: runs pg_test/sql/*.sql through pg_regress against a throwaway cluster
# and diffs with pg_test/expected/*.out. The extension must already be installed.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${INSYNC_REGRESS_PORT:-54329}
DIR=/tmp/insync-regress
source scripts/pg.sh
PG_REGRESS=$("$PG_CONFIG" --pkglibdir)/pgxs/src/test/regress/pg_regress
tests=$(cd pg_test/sql && ls *.sql | sed 's/\.sql$//')

scripts/cluster.sh start "$DIR" "$PORT"
trap 'scripts/cluster.sh stop "$DIR"' EXIT
mkdir -p target/regress
"$PGBIN/createdb" -h 127.0.0.1 -p "$PORT" -U postgres insync_regress
status=0
"$PG_REGRESS" --use-existing --host=127.0.0.1 --port="$PORT" --user=postgres \
  --dbname=insync_regress --inputdir=pg_test --outputdir=target/regress $tests || status=$?
if [ "$status" -ne 0 ] && [ -f target/regress/regression.diffs ]; then
  cat target/regress/regression.diffs
fi
exit "$status"
