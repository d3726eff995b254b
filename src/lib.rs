//! insync: data synchronization jobs that run inside PostgreSQL.
//!
//! Syncs, top to bottom: `catalog` (jobs, state, runs) → `resolve` (a job against the live
//! catalog, and the engine's `plan::dialect`, read from the catalog) → `plan` (pure SQL text,
//! unit-tested per engine) → `execute` (the run in the caller's transaction: lock, window, serial
//! merge — one statement, or `plan::steps` one writer per statement on Greenplum-family engines
//! and with `insync.plan_style` — or `parallel` segments that `dispatch` hands to workers) →
//! `catalog` again (the run record). `merge` is the leaf every path shares (one slice's merge
//! and its counts); `plan::catalog_ddl` is the catalog as each engine needs it; `settings` holds
//! insync's GUC. `recorder` commits failed runs and parallel
//! plans from a background worker; `interrupt` records a run whose session ends mid-run;
//! `jobs` defines, alters and drops jobs; `backfill` loads a job's first rows in key-range
//! batches (SQL in `plan::backfill`), each a run committed with its progress.
//! Repairs: `dedup` (duplicates) and `remap` (stale dimension values) plan in `plan::dedup` and
//! `plan::remap`, keep what they remove or change in the quarantine, and `quarantine` undoes
//! them. `verify` compares a job's source and target in key-hash buckets (SQL in
//! `plan::verify`), records it in `insync.verifications`, repairs only the differing keys into
//! the quarantine, and deletes keys gone from the source after incremental runs of jobs with
//! `deletes => 'verify'`. `api` holds the thin SQL-callable functions; `sql/` the catalog DDL, comments and the
//! PL/pgSQL procedure; `security`, `settings` and `subxact` are the small Postgres mechanics
//! the rest shares.

// ErrorReport (pgrx's error carrying a SQLSTATE and hint) is large, but errors are the cold
// path; and pgrx's macros need the literal TableIterator types in signatures.
#![allow(clippy::result_large_err, clippy::type_complexity)]

use pgrx::prelude::*;

pub mod api;
pub mod backend;
pub mod backfill;
pub mod catalog;
pub mod dedup;
pub mod dispatch;
pub mod error;
pub mod execute;
pub mod interrupt;
pub mod jobs;
pub mod merge;
pub mod parallel;
pub mod pipeline;
pub mod plan;
pub mod quarantine;
pub mod recorder;
pub mod remap;
pub mod remote;
pub mod resolve;
pub mod schedule;
pub mod security;
pub mod settings;
pub mod subxact;
pub mod verify;
pub mod window;
pub mod worker;

::pgrx::pg_module_magic!(name, version);

/// Loads insync into a backend: registers its settings (`settings`).
#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    settings::register();
}

extension_sql_file!("../sql/catalog.sql", name = "catalog", bootstrap);
extension_sql_file!("../sql/comments.sql", name = "comments", finalize);
extension_sql_file!(
    "../sql/remap_dimension_batched.sql",
    name = "remap_dimension_batched",
    requires = [api::remap_dimension]
);
extension_sql_file!(
    "../sql/backfill.sql",
    name = "backfill",
    requires = [api::sync_backfill_step]
);

#[cfg(any(test, feature = "pg_test"))]
mod tests;

/// Configuration of the throwaway cluster `cargo pgrx test` starts.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    /// `INSYNC_PLAN_STYLE=statement_per_step` runs every test's serial merges statement by
    /// statement (`make test-pg` runs the tests once each way).
    pub fn postgresql_conf_options() -> Vec<&'static str> {
        let mut options = vec!["max_worker_processes = 16"];
        if std::env::var("INSYNC_PLAN_STYLE").as_deref() == Ok("statement_per_step") {
            options.push("insync.plan_style = 'statement_per_step'");
        }
        options
    }
}
