# Statistics over attempts, shared by every benchmark (no cluster involved).
ROUNDS=${BENCH_ROUNDS:-3}
echo "machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo); best of $ROUNDS attempts per side, sides alternating"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
# Fastest of a space-separated list of milliseconds.
best() { tr ' ' '\n' | grep -E '^[0-9.]+$' | sort -g | head -1; }
median() { tr ' ' '\n' | grep -E '^[0-9.]+$' | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# (slowest - fastest) / fastest, in percent.
spread() { tr ' ' '\n' | grep -E '^[0-9.]+$' | sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { if (NR) printf "%.1f%%", (hi - lo) * 100 / lo; else printf "-" }'; }
