# Sourced by the scripts: which PostgreSQL they use. $PG_CONFIG if set, else the pg_config on
# the PATH, else PostgreSQL 15's (the version the test suite runs on).
PG_CONFIG=${PG_CONFIG:-$(command -v pg_config || echo /usr/lib/postgresql/15/bin/pg_config)}
PG_MAJOR=$("$PG_CONFIG" --version 2>/dev/null | sed -E 's/^PostgreSQL ([0-9]+).*/\1/')
PG_MAJOR=${PG_MAJOR:-15}
PGBIN=$("$PG_CONFIG" --bindir 2>/dev/null || echo "/usr/lib/postgresql/$PG_MAJOR/bin")
# The version's own pg_config, not Debian's dispatching wrapper.
[ -x "$PGBIN/pg_config" ] && PG_CONFIG=$PGBIN/pg_config
export PG_CONFIG
