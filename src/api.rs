//! The SQL surface: thin `#[pg_extern]` wrappers that parse arguments and call the modules.

use crate::catalog::RunRecord;
use crate::dedup::{self, DedupOptions};
use crate::error::{required, text_array, SyncResult};
use crate::execute;
use crate::jobs::{self, JobSpec, JobSummary};
use crate::plan::RunKind;
use crate::quarantine;
use crate::remap::{self, RemapOptions};
use crate::verify;
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

fn run_row(o: RunRecord) -> RunRow {
    TableIterator::once((
        o.run_id,
        o.status.as_str().to_string(),
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
    job_name: Option<&str>,
    source: Option<&str>,
    target: Option<&str>,
    key: Option<Vec<Option<String>>>,
    watermark: default!(Option<String>, "NULL"),
    mode: default!(Option<String>, "'incremental'"),
    watermark_source: default!(Option<String>, "NULL"),
    watermark_join: default!(Option<Vec<Option<String>>>, "NULL"),
    source_filter: default!(Option<String>, "NULL"),
    lookback: default!(Option<String>, "NULL"),
    columns: default!(Option<Vec<Option<String>>>, "NULL"),
    lookups: default!(Option<pgrx::JsonB>, "NULL"),
    parallel: default!(Option<String>, "NULL"),
    source_timezone: default!(Option<String>, "NULL"),
    deletes: default!(Option<String>, "NULL"),
    schedule: default!(Option<String>, "NULL"),
    after: default!(Option<Vec<Option<String>>>, "NULL"),
    backfill_batch: default!(Option<i32>, "NULL"),
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
    crate::security::entry(|| {
        const F: &str = "sync_define";
        let job_name = required(job_name, F, "job_name")?;
        let spec = JobSpec {
            source: Some(required(source, F, "source")?.into()),
            target: Some(required(target, F, "target")?.into()),
            key: Some(required(text_array(key, F, "key")?, F, "key")?),
            mode: Some(required(mode, F, "mode")?),
            watermark,
            watermark_source,
            watermark_join: text_array(watermark_join, F, "watermark_join")?,
            source_filter,
            lookback,
            columns: text_array(columns, F, "columns")?,
            lookups: lookups.map(|l| l.0),
            parallel,
            source_timezone,
            deletes,
            schedule,
            after: text_array(after, F, "after")?,
            backfill_batch,
        };
        jobs::define(job_name, spec).map(job_row)
    })
}

/// Changes a job: NULL leaves a setting as it is, '' (or '{}') clears an optional one.
#[allow(clippy::too_many_arguments)]
#[pg_extern(volatile)]
fn sync_alter(
    job_name: Option<&str>,
    new_name: default!(Option<&str>, "NULL"),
    source: default!(Option<String>, "NULL"),
    target: default!(Option<String>, "NULL"),
    key: default!(Option<Vec<Option<String>>>, "NULL"),
    mode: default!(Option<String>, "NULL"),
    watermark: default!(Option<String>, "NULL"),
    watermark_source: default!(Option<String>, "NULL"),
    watermark_join: default!(Option<Vec<Option<String>>>, "NULL"),
    source_filter: default!(Option<String>, "NULL"),
    lookback: default!(Option<String>, "NULL"),
    columns: default!(Option<Vec<Option<String>>>, "NULL"),
    lookups: default!(Option<pgrx::JsonB>, "NULL"),
    reset_watermark: default!(Option<bool>, false),
    parallel: default!(Option<String>, "NULL"),
    source_timezone: default!(Option<String>, "NULL"),
    deletes: default!(Option<String>, "NULL"),
    schedule: default!(Option<String>, "NULL"),
    after: default!(Option<Vec<Option<String>>>, "NULL"),
    backfill_batch: default!(Option<i32>, "NULL"),
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
    crate::security::entry(|| {
        const F: &str = "sync_alter";
        let job_name = required(job_name, F, "job_name")?;
        let reset_watermark = required(reset_watermark, F, "reset_watermark")?;
        let spec = JobSpec {
            source,
            target,
            key: text_array(key, F, "key")?,
            mode,
            watermark,
            watermark_source,
            watermark_join: text_array(watermark_join, F, "watermark_join")?,
            source_filter,
            lookback,
            columns: text_array(columns, F, "columns")?,
            lookups: lookups.map(|l| l.0),
            parallel,
            source_timezone,
            deletes,
            schedule,
            after: text_array(after, F, "after")?,
            backfill_batch,
        };
        jobs::alter(job_name, new_name, spec, reset_watermark).map(job_row)
    })
}

/// One batch of a job's backfill, in the caller's transaction (starting the backfill first);
/// `CALL sync_backfill(job)` calls it and commits until the backfill is done.
#[pg_extern(volatile)]
fn sync_backfill_step(
    job_name: Option<&str>,
    batch_size: default!(Option<i32>, "NULL"),
) -> Result<
    TableIterator<
        'static,
        (
            name!(batch, Option<i32>),
            name!(rows_read, i64),
            name!(rows_done, i64),
            name!(rows_estimated, Option<i64>),
            name!(done, bool),
        ),
    >,
    ErrorReport,
> {
    crate::security::entry(|| {
        let job_name = required(job_name, "sync_backfill", "job_name")?;
        let s = crate::backfill::step(job_name, batch_size)?;
        Ok(TableIterator::once((
            s.batch,
            s.rows_read,
            s.rows_done,
            s.rows_estimated,
            s.done,
        )))
    })
}

/// Removes a job and its watermark; its run history stays in insync.runs.
#[pg_extern(volatile)]
fn sync_drop(job_name: Option<&str>) -> SyncResult<bool> {
    crate::security::entry(|| {
        jobs::drop_job(required(job_name, "sync_drop", "job_name")?).map(|_| true)
    })
}

/// Syncs the rows that changed since the last run (the first run is the initial load).
#[pg_extern(volatile)]
fn sync_incremental(
    job_name: Option<&str>,
    parallel: default!(Option<i32>, "NULL"),
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
    crate::security::entry(|| {
        let job_name = required(job_name, "sync_incremental", "job_name")?;
        execute::run_job(job_name, Some(RunKind::Incremental), parallel, false).map(run_row)
    })
}

/// Makes the target equal to the source: inserts, updates, and deletes keys gone from it.
#[pg_extern(volatile)]
fn sync_full(
    job_name: Option<&str>,
    parallel: default!(Option<i32>, "NULL"),
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
    crate::security::entry(|| {
        let job_name = required(job_name, "sync_full", "job_name")?;
        execute::run_job(job_name, Some(RunKind::Full), parallel, false).map(run_row)
    })
}

/// Runs a job the way its mode says (what a pg_cron schedule calls).
#[pg_extern(volatile)]
fn sync_run(
    job_name: Option<&str>,
    parallel: default!(Option<i32>, "NULL"),
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
    crate::security::entry(|| {
        let job_name = required(job_name, "sync_run", "job_name")?;
        crate::pipeline::run_one(job_name, parallel).map(run_row)
    })
}

type PassRow = TableIterator<
    'static,
    (
        name!(job_name, String),
        name!(run_id, Option<i64>),
        name!(status, String),
        name!(rows_read, Option<i64>),
        name!(rows_inserted, Option<i64>),
        name!(rows_updated, Option<i64>),
        name!(rows_deleted, Option<i64>),
        name!(message, Option<String>),
    ),
>;

fn pass_rows(outcomes: Vec<crate::pipeline::Outcome>) -> PassRow {
    TableIterator::new(outcomes.into_iter().map(|o| {
        let run = o.run.as_ref();
        (
            o.job_name,
            run.map(|r| r.run_id),
            o.status,
            run.map(|r| r.rows_read),
            run.map(|r| r.rows_inserted),
            run.map(|r| r.rows_updated),
            run.map(|r| r.rows_deleted),
            o.message,
        )
    }))
}

/// What a job's pg_cron entry (`insync:<job>`) calls: the job as `sync_run` would run it, then
/// the jobs downstream of it that have no schedule of their own, in dependency order; one row
/// per job. Its runs are recorded as scheduled.
#[pg_extern(volatile)]
fn sync_run_scheduled(
    job_name: Option<&str>,
) -> Result<
    TableIterator<
        'static,
        (
            name!(job_name, String),
            name!(run_id, Option<i64>),
            name!(status, String),
            name!(rows_read, Option<i64>),
            name!(rows_inserted, Option<i64>),
            name!(rows_updated, Option<i64>),
            name!(rows_deleted, Option<i64>),
            name!(message, Option<String>),
        ),
    >,
    ErrorReport,
> {
    crate::security::entry(|| {
        let job_name = required(job_name, "sync_run_scheduled", "job_name")?;
        crate::pipeline::run_scheduled(job_name).map(pass_rows)
    })
}

/// Runs a set of jobs in dependency order, each after its upstreams: the named jobs, or every
/// job the caller may run. A job whose upstream failed or was skipped is skipped, with the
/// reason recorded; one row per job. What one cron entry calls for a whole pipeline.
#[pg_extern(volatile)]
fn sync_run_all(
    jobs: default!(Option<Vec<Option<String>>>, "NULL"),
) -> Result<
    TableIterator<
        'static,
        (
            name!(job_name, String),
            name!(run_id, Option<i64>),
            name!(status, String),
            name!(rows_read, Option<i64>),
            name!(rows_inserted, Option<i64>),
            name!(rows_updated, Option<i64>),
            name!(rows_deleted, Option<i64>),
            name!(message, Option<String>),
        ),
    >,
    ErrorReport,
> {
    crate::security::entry(|| {
        let jobs = text_array(jobs, "sync_run_all", "jobs")?;
        crate::pipeline::run_all(jobs).map(pass_rows)
    })
}

/// Finishes the unfinished segments of a failed parallel run, over the same window, and
/// advances the watermark to the end of that window.
#[pg_extern(volatile)]
fn sync_resume(
    run_id: Option<i64>,
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
    crate::security::entry(|| {
        execute::resume_run(required(run_id, "sync_resume", "run_id")?).map(run_row)
    })
}

/// The table name and key columns every duplicate function requires.
fn table_and_keys<'a>(
    tbl: Option<&'a str>,
    keys: Option<Vec<Option<String>>>,
    function: &str,
) -> SyncResult<(&'a str, Vec<String>)> {
    let tbl = required(tbl, function, "tbl")?;
    let keys = required(text_array(keys, function, "keys")?, function, "keys")?;
    Ok((tbl, keys))
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
    tbl: Option<&str>,
    keys: Option<Vec<Option<String>>>,
    order_by: default!(Option<String>, "NULL"),
    source_column: default!(Option<String>, "NULL"),
    ignore_columns: default!(Option<Vec<Option<String>>>, "NULL"),
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
    crate::security::entry(|| {
        const F: &str = "find_duplicates";
        let (tbl, keys) = table_and_keys(tbl, keys, F)?;
        let ignore_columns = text_array(ignore_columns, F, "ignore_columns")?;
        let opts = dedup_options(None, order_by, source_column, None, ignore_columns);
        dedup::find_duplicates(tbl, &keys, &opts).map(TableIterator::new)
    })
}

/// Counts of duplicated keys per cause, for large tables.
#[pg_extern(stable)]
fn duplicate_summary(
    tbl: Option<&str>,
    keys: Option<Vec<Option<String>>>,
    order_by: default!(Option<String>, "NULL"),
    source_column: default!(Option<String>, "NULL"),
    ignore_columns: default!(Option<Vec<Option<String>>>, "NULL"),
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
    crate::security::entry(|| {
        const F: &str = "duplicate_summary";
        let (tbl, keys) = table_and_keys(tbl, keys, F)?;
        let ignore_columns = text_array(ignore_columns, F, "ignore_columns")?;
        let opts = dedup_options(None, order_by, source_column, None, ignore_columns);
        dedup::summary(tbl, &keys, &opts).map(TableIterator::new)
    })
}

/// Removes duplicate copies so at most one row per key remains; every removed row goes to
/// insync.quarantine in the same transaction.
#[allow(clippy::too_many_arguments)]
#[pg_extern(volatile)]
fn dedup_table(
    tbl: Option<&str>,
    keys: Option<Vec<Option<String>>>,
    keep: default!(Option<String>, "'latest'"),
    order_by: default!(Option<String>, "NULL"),
    source_column: default!(Option<String>, "NULL"),
    source_order: default!(Option<Vec<Option<String>>>, "NULL"),
    ignore_columns: default!(Option<Vec<Option<String>>>, "NULL"),
    dry_run: default!(Option<bool>, false),
    allow_distinct_rows: default!(Option<bool>, false),
    add_unique_index: default!(Option<bool>, false),
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
    crate::security::entry(|| {
        const F: &str = "dedup_table";
        let (tbl, keys) = table_and_keys(tbl, keys, F)?;
        let opts = DedupOptions {
            dry_run: required(dry_run, F, "dry_run")?,
            allow_distinct_rows: required(allow_distinct_rows, F, "allow_distinct_rows")?,
            add_unique_index: required(add_unique_index, F, "add_unique_index")?,
            ..dedup_options(
                Some(required(keep, F, "keep")?),
                order_by,
                source_column,
                text_array(source_order, F, "source_order")?,
                text_array(ignore_columns, F, "ignore_columns")?,
            )
        };
        dedup::dedup_table(tbl, &keys, &opts).map(|lines| {
            TableIterator::new(
                lines
                    .into_iter()
                    .map(|l| (l.batch_id, l.cause, l.keys, l.rows, l.removed, l.action)),
            )
        })
    })
}

/// Puts a quarantined batch back into its table; returns the rows restored.
#[pg_extern(volatile)]
fn restore_quarantine(batch_id: Option<i64>) -> SyncResult<i64> {
    crate::security::entry(|| {
        quarantine::restore(required(batch_id, "restore_quarantine", "batch_id")?)
    })
}

/// Sets `target.column` to the dimension's current `value` wherever it differs; one row per
/// (old value, new value) pair. With dry_run, reports what would change and changes nothing.
#[allow(clippy::too_many_arguments)]
#[pg_extern(volatile)]
fn remap_dimension(
    target: Option<&str>,
    column: Option<&str>,
    dimension: Option<&str>,
    join_on: Option<Vec<Option<String>>>,
    value: Option<&str>,
    current_by: default!(Option<String>, "NULL"),
    current_flag: default!(Option<String>, "NULL"),
    merge: default!(Option<pgrx::JsonB>, "NULL"),
    dry_run: default!(Option<bool>, false),
    block_from: default!(Option<i64>, "NULL"),
    block_to: default!(Option<i64>, "NULL"),
    batch_id: default!(Option<i64>, "NULL"),
) -> Result<
    TableIterator<
        'static,
        (
            name!(old_value, Option<String>),
            name!(new_value, Option<String>),
            name!(rows_changed, i64),
            name!(rows_merged, i64),
            name!(rows_examined, Option<i64>),
            name!(batch_id, Option<i64>),
        ),
    >,
    ErrorReport,
> {
    crate::security::entry(|| {
        const F: &str = "remap_dimension";
        let target = required(target, F, "target")?;
        let column = required(column, F, "column")?;
        let dimension = required(dimension, F, "dimension")?;
        let join_on = required(text_array(join_on, F, "join_on")?, F, "join_on")?;
        let value = required(value, F, "value")?;
        let opts = RemapOptions {
            current_by,
            current_flag,
            merge: merge.map(|m| m.0),
            dry_run: required(dry_run, F, "dry_run")?,
            blocks: block_from.zip(block_to),
            batch_id,
        };
        remap::remap(target, column, dimension, &join_on, value, &opts).map(|lines| {
            TableIterator::new(lines.into_iter().map(|l| {
                (
                    l.old_value,
                    l.new_value,
                    l.rows_changed,
                    l.rows_merged,
                    l.rows_examined,
                    l.batch_id,
                )
            }))
        })
    })
}

/// Compares the job's source and target inside the database (bucket checksums, then the keys
/// of differing buckets) and records the result in insync.verifications; `repair => true`
/// rewrites only the differing keys, keeping every deleted or overwritten row in the
/// quarantine; `raise_on_difference => true` raises (after recording) when they differ.
#[pg_extern(volatile)]
fn sync_verify(
    job_name: Option<&str>,
    repair: default!(Option<bool>, false),
    raise_on_difference: default!(Option<bool>, false),
) -> Result<
    TableIterator<
        'static,
        (
            name!(verification_id, i64),
            name!(status, String),
            name!(source_rows, i64),
            name!(target_rows, i64),
            name!(buckets, i32),
            name!(differing_buckets, i32),
            name!(missing, i64),
            name!(extra, i64),
            name!(changed, i64),
            name!(rows_deleted, i64),
            name!(rows_inserted, i64),
            name!(quarantine_batch, Option<i64>),
            name!(elapsed, pgrx::datum::Interval),
        ),
    >,
    ErrorReport,
> {
    crate::security::entry(|| {
        const F: &str = "sync_verify";
        let job_name = required(job_name, F, "job_name")?;
        let opts = verify::VerifyOptions {
            repair: required(repair, F, "repair")?,
            raise_on_difference: required(raise_on_difference, F, "raise_on_difference")?,
            max_keys: 0,
        };
        verify::verify(job_name, opts).map(|v| {
            let r = v.record;
            TableIterator::once((
                r.verification_id,
                r.status.as_str().to_string(),
                r.source_rows,
                r.target_rows,
                r.buckets,
                r.differing_buckets,
                r.missing,
                r.extra,
                r.changed,
                r.rows_deleted,
                r.rows_inserted,
                r.quarantine_batch,
                v.elapsed,
            ))
        })
    })
}

/// Verifies like sync_verify (recorded the same way) and returns the differing keys
/// themselves, at most `max_keys` of them: missing (only in the source), extra (only in the
/// target), changed.
#[pg_extern(volatile)]
fn sync_verify_keys(
    job_name: Option<&str>,
    max_keys: default!(Option<i32>, 1000),
) -> Result<TableIterator<'static, (name!(key, pgrx::JsonB), name!(difference, String))>, ErrorReport>
{
    crate::security::entry(|| {
        const F: &str = "sync_verify_keys";
        let job_name = required(job_name, F, "job_name")?;
        let max_keys = required(max_keys, F, "max_keys")?;
        if max_keys < 0 {
            return Err(crate::error::error(
                pgrx::PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
                format!("sync_verify_keys: max_keys must not be negative, not {max_keys}"),
            ));
        }
        let opts = verify::VerifyOptions {
            max_keys: max_keys as usize,
            ..Default::default()
        };
        verify::verify(job_name, opts).map(|v| {
            TableIterator::new(v.keys.into_iter().map(|(key, difference)| {
                (
                    pgrx::JsonB(serde_json::from_str(&key).unwrap_or(serde_json::Value::Null)),
                    difference,
                )
            }))
        })
    })
}
