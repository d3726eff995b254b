//! The SQL surface: thin `#[pg_extern]` wrappers that parse arguments and call the modules.

use crate::dedup::{self, DedupOptions};
use crate::error::SyncResult;
use crate::execute::{self, RunOutcome};
use crate::jobs::{self, JobSpec, JobSummary};
use crate::plan::RunKind;
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;

type RunRow = TableIterator<
    'static,
    (
        name!(run_id, i64),
        name!(status, String),
        name!(window_low, Option<String>),
        name!(window_high, Option<String>),
        name!(rows_read, i64),
        name!(rows_inserted, i64),
        name!(rows_updated, i64),
        name!(rows_deleted, i64),
    ),
>;

fn run_row(o: RunOutcome) -> RunRow {
    TableIterator::once((
        o.run_id,
        o.status,
        o.window_low,
        o.window_high,
        o.rows_read,
        o.rows_inserted,
        o.rows_updated,
        o.rows_deleted,
    ))
}

type JobRow = TableIterator<
    'static,
    (
        name!(job_name, String),
        name!(source, String),
        name!(target, String),
        name!(key_columns, Vec<String>),
        name!(mode, String),
        name!(merge_strategy, String),
        name!(columns, Vec<String>),
    ),
>;

fn job_row(s: JobSummary) -> JobRow {
    TableIterator::once((
        s.job_name,
        s.source,
        s.target,
        s.key_columns,
        s.mode,
        s.merge_strategy,
        s.columns,
    ))
}

/// Defines a sync job. Validates everything against the live catalog before saving.
#[allow(clippy::too_many_arguments)]
#[pg_extern(volatile)]
fn sync_define(
    job_name: &str,
    source: &str,
    target: &str,
    key: Vec<String>,
    watermark: default!(Option<String>, "NULL"),
    mode: default!(String, "'incremental'"),
    watermark_source: default!(Option<String>, "NULL"),
    watermark_join: default!(Option<Vec<String>>, "NULL"),
    source_filter: default!(Option<String>, "NULL"),
    lookback: default!(Option<String>, "NULL"),
    columns: default!(Option<Vec<String>>, "NULL"),
) -> Result<
    TableIterator<
        'static,
        (
            name!(job_name, String),
            name!(source, String),
            name!(target, String),
            name!(key_columns, Vec<String>),
            name!(mode, String),
            name!(merge_strategy, String),
            name!(columns, Vec<String>),
        ),
    >,
    ErrorReport,
> {
    let spec = JobSpec {
        source: Some(source.into()),
        target: Some(target.into()),
        key: Some(key),
        mode: Some(mode),
        watermark,
        watermark_source,
        watermark_join,
        source_filter,
        lookback,
        columns,
    };
    jobs::define(job_name, spec).map(job_row)
}

/// Changes a job: NULL leaves a setting as it is, '' (or '{}') clears an optional one.
#[allow(clippy::too_many_arguments)]
#[pg_extern(volatile)]
fn sync_alter(
    job_name: &str,
    new_name: default!(Option<&str>, "NULL"),
    source: default!(Option<String>, "NULL"),
    target: default!(Option<String>, "NULL"),
    key: default!(Option<Vec<String>>, "NULL"),
    mode: default!(Option<String>, "NULL"),
    watermark: default!(Option<String>, "NULL"),
    watermark_source: default!(Option<String>, "NULL"),
    watermark_join: default!(Option<Vec<String>>, "NULL"),
    source_filter: default!(Option<String>, "NULL"),
    lookback: default!(Option<String>, "NULL"),
    columns: default!(Option<Vec<String>>, "NULL"),
    reset_watermark: default!(bool, false),
) -> Result<
    TableIterator<
        'static,
        (
            name!(job_name, String),
            name!(source, String),
            name!(target, String),
            name!(key_columns, Vec<String>),
            name!(mode, String),
            name!(merge_strategy, String),
            name!(columns, Vec<String>),
        ),
    >,
    ErrorReport,
> {
    let spec = JobSpec {
        source,
        target,
        key,
        mode,
        watermark,
        watermark_source,
        watermark_join,
        source_filter,
        lookback,
        columns,
    };
    jobs::alter(job_name, new_name, spec, reset_watermark).map(job_row)
}

/// Removes a job and its watermark; its run history stays in insync.runs.
#[pg_extern(volatile)]
fn sync_drop(job_name: &str) -> SyncResult<bool> {
    jobs::drop_job(job_name).map(|_| true)
}

/// Syncs the rows that changed since the last run (the first run is the initial load).
#[pg_extern(volatile)]
fn sync_incremental(
    job_name: &str,
) -> Result<
    TableIterator<
        'static,
        (
            name!(run_id, i64),
            name!(status, String),
            name!(window_low, Option<String>),
            name!(window_high, Option<String>),
            name!(rows_read, i64),
            name!(rows_inserted, i64),
            name!(rows_updated, i64),
            name!(rows_deleted, i64),
        ),
    >,
    ErrorReport,
> {
    execute::run_job(job_name, Some(RunKind::Incremental)).map(run_row)
}

/// Makes the target equal to the source: inserts, updates, and deletes keys gone from it.
#[pg_extern(volatile)]
fn sync_full(
    job_name: &str,
) -> Result<
    TableIterator<
        'static,
        (
            name!(run_id, i64),
            name!(status, String),
            name!(window_low, Option<String>),
            name!(window_high, Option<String>),
            name!(rows_read, i64),
            name!(rows_inserted, i64),
            name!(rows_updated, i64),
            name!(rows_deleted, i64),
        ),
    >,
    ErrorReport,
> {
    execute::run_job(job_name, Some(RunKind::Full)).map(run_row)
}

/// Runs a job the way its mode says (what a pg_cron schedule calls).
#[pg_extern(volatile)]
fn sync_run(
    job_name: &str,
) -> Result<
    TableIterator<
        'static,
        (
            name!(run_id, i64),
            name!(status, String),
            name!(window_low, Option<String>),
            name!(window_high, Option<String>),
            name!(rows_read, i64),
            name!(rows_inserted, i64),
            name!(rows_updated, i64),
            name!(rows_deleted, i64),
        ),
    >,
    ErrorReport,
> {
    execute::run_job(job_name, None).map(run_row)
}

fn dedup_options(
    keep: Option<String>,
    order_by: Option<String>,
    source_column: Option<String>,
    source_order: Option<Vec<String>>,
    ignore_columns: Option<Vec<String>>,
) -> DedupOptions {
    DedupOptions {
        keep,
        order_by,
        source_column,
        source_order,
        ignore_columns,
        ..Default::default()
    }
}

/// One row per duplicated key: the key, how many copies, which columns differ, and why.
#[pg_extern(stable)]
fn find_duplicates(
    tbl: &str,
    keys: Vec<String>,
    order_by: default!(Option<String>, "NULL"),
    source_column: default!(Option<String>, "NULL"),
    ignore_columns: default!(Option<Vec<String>>, "NULL"),
) -> Result<
    TableIterator<
        'static,
        (
            name!(key, pgrx::JsonB),
            name!(copies, i64),
            name!(differing_columns, Vec<String>),
            name!(cause, String),
        ),
    >,
    ErrorReport,
> {
    let opts = dedup_options(None, order_by, source_column, None, ignore_columns);
    dedup::find_duplicates(tbl, &keys, &opts).map(TableIterator::new)
}

/// Counts of duplicated keys per cause, for large tables.
#[pg_extern(stable)]
fn duplicate_summary(
    tbl: &str,
    keys: Vec<String>,
    order_by: default!(Option<String>, "NULL"),
    source_column: default!(Option<String>, "NULL"),
    ignore_columns: default!(Option<Vec<String>>, "NULL"),
) -> Result<
    TableIterator<
        'static,
        (
            name!(cause, String),
            name!(keys, i64),
            name!(rows, i64),
            name!(extra_rows, i64),
        ),
    >,
    ErrorReport,
> {
    let opts = dedup_options(None, order_by, source_column, None, ignore_columns);
    dedup::summary(tbl, &keys, &opts).map(TableIterator::new)
}

/// Removes duplicate copies so at most one row per key remains; every removed row goes to
/// insync.quarantine in the same transaction.
#[allow(clippy::too_many_arguments)]
#[pg_extern(volatile)]
fn dedup_table(
    tbl: &str,
    keys: Vec<String>,
    keep: default!(String, "'latest'"),
    order_by: default!(Option<String>, "NULL"),
    source_column: default!(Option<String>, "NULL"),
    source_order: default!(Option<Vec<String>>, "NULL"),
    ignore_columns: default!(Option<Vec<String>>, "NULL"),
    dry_run: default!(bool, false),
    allow_distinct_rows: default!(bool, false),
    add_unique_index: default!(bool, false),
) -> Result<
    TableIterator<
        'static,
        (
            name!(batch_id, i64),
            name!(cause, String),
            name!(keys, i64),
            name!(rows, i64),
            name!(removed, i64),
            name!(action, String),
        ),
    >,
    ErrorReport,
> {
    let opts = DedupOptions {
        dry_run,
        allow_distinct_rows,
        add_unique_index,
        ..dedup_options(
            Some(keep),
            order_by,
            source_column,
            source_order,
            ignore_columns,
        )
    };
    dedup::dedup_table(tbl, &keys, &opts).map(|lines| {
        TableIterator::new(
            lines
                .into_iter()
                .map(|l| (l.batch_id, l.cause, l.keys, l.rows, l.removed, l.action)),
        )
    })
}

/// Puts a quarantined batch back into its table; returns the rows restored.
#[pg_extern(volatile)]
fn restore_quarantine(batch_id: i64) -> SyncResult<i64> {
    dedup::restore_quarantine(batch_id)
}
