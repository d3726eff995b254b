# insync — two commands for a newcomer on a fresh Debian machine:
#   make demo   sets everything up, installs the extension, runs the demo
#   make test   sets up whatever is missing and runs every test layer
# Which PostgreSQL: PG_CONFIG, else pg_config on the PATH, else PostgreSQL 15 (tested).
PG_CONFIG ?= $(shell command -v pg_config 2>/dev/null || echo /usr/lib/postgresql/15/bin/pg_config)
PG_MAJOR := $(or $(shell $(PG_CONFIG) --version 2>/dev/null | sed -E 's/^PostgreSQL ([0-9]+).*/\1/'),15)
# The version's own pg_config, not Debian's dispatching wrapper.
PG_CONFIG := $(or $(wildcard $(shell $(PG_CONFIG) --bindir 2>/dev/null)/pg_config),$(PG_CONFIG))
export PG_CONFIG
SUDO_FLAG := $(if $(filter 0,$(shell id -u)),,--sudo)
PGRX_TEST_DIR ?= /tmp/insync-pgrx-test

.PHONY: setup install demo test test-unit test-pg test-regress test-lifecycle test-remote bench lint

setup:
	bash scripts/setup.sh

install: setup
	cargo pgrx install --release --pg-config $(PG_CONFIG) $(SUDO_FLAG)

demo: install
	bash scripts/demo.sh

# Pure planning code: no Postgres involved.
test-unit: setup
	cargo test --lib -- plan::

# Behaviour inside Postgres, under both plan styles. One test at a time: each test's open transaction would
# (rightly) hold back the sync window of a test running beside it.
test-pg: setup
	mkdir -p $(PGRX_TEST_DIR) && chown postgres $(PGRX_TEST_DIR) 2>/dev/null || sudo chown postgres $(PGRX_TEST_DIR)
	RUST_TEST_THREADS=1 cargo pgrx test pg$(PG_MAJOR) --runas postgres --pgdata $(PGRX_TEST_DIR)/data
	# The same tests again with serial merges run statement by statement (insync.plan_style),
	# as Greenplum-family engines always run them: same rows, same counts.
	INSYNC_PLAN_STYLE=statement_per_step RUST_TEST_THREADS=1 cargo pgrx test pg$(PG_MAJOR) --runas postgres --pgdata $(PGRX_TEST_DIR)/data tests::tests::

# What a user sees in psql, against a throwaway cluster with pg_cron and dblink.
test-regress: install
	bash scripts/regress.sh

# Upgrade from the previous release (built from its git tag), dump and restore, crashes.
test-lifecycle: install
	bash scripts/lifecycle.sh

# A source on another server: a second cluster read through postgres_fdw.
test-remote: install
	bash scripts/remote.sh

test: test-unit test-pg test-regress test-lifecycle test-remote

bench: install
	bash bench/incremental.sh
	bash bench/parallel.sh
	bash bench/fixed_cost.sh
	bash bench/dedup.sh
	bash bench/remap.sh
	bash bench/remote.sh
	bash bench/backfill.sh

lint:
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings
