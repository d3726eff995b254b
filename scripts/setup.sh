#!/usr/bin/env bash
# Installs whatever is missing to build and test insync on a fresh Debian machine:
# apt packages, cargo-pgrx 0.18.1, and `cargo pgrx init` against the system PostgreSQL 15.
# Idempotent: every step is skipped when its result is already present.
set -euo pipefail

# The PostgreSQL major version to set up for (the tests run on 15).
PG_MAJOR=${PG_MAJOR:-15}
PG_CONFIG=/usr/lib/postgresql/$PG_MAJOR/bin/pg_config
PGRX_VERSION=0.18.1

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

need_apt=()
for pkg in postgresql-$PG_MAJOR postgresql-server-dev-$PG_MAJOR postgresql-contrib \
           postgresql-$PG_MAJOR-cron libclang-dev clang pkg-config sudo make; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing apt packages: ${need_apt[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
fi

if ! cargo pgrx --version 2>/dev/null | grep -q "$PGRX_VERSION"; then
  echo "setup: installing cargo-pgrx $PGRX_VERSION (several minutes, once)"
  cargo install --locked cargo-pgrx --version "$PGRX_VERSION"
fi

PGRX_HOME=${PGRX_HOME:-$HOME/.pgrx}
if ! grep -qs "pg$PG_MAJOR" "$PGRX_HOME/config.toml"; then
  echo "setup: cargo pgrx init --pg$PG_MAJOR $PG_CONFIG"
  cargo pgrx init --pg$PG_MAJOR "$PG_CONFIG"
fi

# The system PostgreSQL's extension directories must be writable to install into them.
echo "setup: ready (cargo-pgrx $(cargo pgrx --version | awk '{print $2}'), $($PG_CONFIG --version))"
