#!/usr/bin/env bash
# Throwaway PostgreSQL 15 clusters for the demo, the regression suite and the benchmarks.
#   cluster.sh start DIR PORT [extra postgres -c settings...]   (re)creates and starts DIR
#   cluster.sh stop DIR
#   cluster.sh restart DIR [MODE]   stop (fast, or MODE: immediate) and start with the same settings
# The server runs as user postgres (it refuses root), listens on 127.0.0.1:PORT only,
# trusts local connections, and preloads pg_cron for the scheduling tests.
set -euo pipefail
source "$(dirname "$0")/pg.sh"

as_postgres() {
  if [ "$(id -un)" = postgres ]; then "$@"
  elif [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"
  else sudo -u postgres "$@"; fi
}

cmd=${1:?usage: cluster.sh start DIR PORT | stop DIR}
dir=${2:?cluster directory}
case "$cmd" in
  start)
    port=${3:?port}; shift 3
    [ -f "$dir/data/postmaster.pid" ] && as_postgres "$PGBIN/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
    if [ "$(id -u)" = 0 ]; then rm -rf "$dir"; mkdir -p "$dir"; chown postgres "$dir"
    else sudo rm -rf "$dir"; sudo mkdir -p "$dir"; sudo chown postgres "$dir"; fi
    as_postgres "$PGBIN/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 --locale=C.UTF-8 >/dev/null
    opts="-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories=$dir"
    opts+=" -c max_worker_processes=16 -c shared_preload_libraries=pg_cron"
    opts+=" -c cron.database_name=insync_regress -c cron.use_background_workers=on"
    for extra in "$@"; do opts+=" -c $extra"; done
    # The server must not inherit RUST_BACKTRACE: pgrx would append backtraces to error details.
    as_postgres env -u RUST_BACKTRACE -u RUST_LIB_BACKTRACE "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -o "$opts" -w start >/dev/null
    ;;
  stop)
    [ -d "$dir/data" ] && as_postgres "$PGBIN/pg_ctl" -D "$dir/data" -m fast stop >/dev/null 2>&1 || true
    ;;
  restart)
    as_postgres env -u RUST_BACKTRACE -u RUST_LIB_BACKTRACE "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" \
      -m "${3:-fast}" -w restart >/dev/null
    ;;
  *) echo "usage: cluster.sh start DIR PORT | stop DIR | restart DIR [MODE]" >&2; exit 2 ;;
esac
