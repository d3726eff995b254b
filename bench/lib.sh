# Shared by the benchmarks: a throwaway cluster on 127.0.0.1:$PORT and timing helpers.
# Sourced after setting DIR, PORT and SETTINGS (extra `postgres -c` settings, an array).
# Every ratio comes from repeated attempts with the two sides alternating (BENCH_ROUNDS, default
# 3): the best attempt of each side, printed with its spread.
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source "$(dirname "${BASH_SOURCE[0]}")/measure.sh"
# BENCH_EXPLAIN=1 logs the plans of slow statements (with timings) to $DIR/server.log.
[ "${BENCH_EXPLAIN:-0}" = 1 ] && SETTINGS+=(session_preload_libraries=auto_explain auto_explain.log_min_duration=500
  auto_explain.log_analyze=on auto_explain.log_nested_statements=on)
scripts/cluster.sh start "$DIR" "$PORT" "${SETTINGS[@]}"
# BENCH_KEEP=1 leaves the cluster running for a look afterwards.
trap '[ "${BENCH_KEEP:-0}" = 1 ] || scripts/cluster.sh stop "$DIR"' EXIT
psql() { command psql -X -q -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 "$@"; }
# Milliseconds taken by one statement in its own transaction.
timed() { psql -At -c '\timing on' -c "$1" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -1; }
# Milliseconds of one statement run inside a transaction that is rolled back; with two
# arguments the first runs untimed before it, in the same transaction.
attempt() {
  if [ $# -eq 2 ]; then
    psql -At -c '\timing on' -c BEGIN -c "$1" -c "$2" -c ROLLBACK | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | sed -n 3p
  else
    psql -At -c '\timing on' -c BEGIN -c "$1" -c ROLLBACK | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | sed -n 2p
  fi
}
