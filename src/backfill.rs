//! Backfill: a job's first load in batches (`CALL sync_backfill(job)`), for tables too large
//! to load in one transaction. `sync_backfill` is a PL/pgSQL procedure (sql/backfill.sql) that
//! calls [`step`] and commits, until the backfill is done; each step merges one batch.
//!
//! A batch is a range of the job's key (see `plan::backfill`), merged with the job's ordinary
//! merge statement as the job's owner, and a run of its own in `insync.runs`
//! (`backfill_batch` = its number): committed together with the backfill's progress row
//! (`insync.backfills`: the key it loaded up to, rows done), or rolled back with it. A cancel,
//! a terminated session or a crash therefore loses at most the batch in flight, and the next
//! `CALL sync_backfill` resumes after the last committed one.
//!
//! The watermark: the first step takes the safe bound a first incremental run would take (see
//! `window::safe_upper_bound`: transactions still open then are accounted for) and keeps it
//! with the backfill. The batches read the rows up to it; when the last batch commits, it
//! becomes the job's watermark, so the next incremental run reads everything changed since the
//! backfill began (rows a batch already loaded are upserted again: no duplicates, nothing
//! lost). A job without a watermark (a full-mode job) is filled by the batches, and its later
//! runs are as usual.

use crate::catalog::{self, as_catalog_owner, Job, RunStatus};
use crate::error::{error, error_with_hint, SpiContext, SyncResult};
use crate::plan::backfill::{first_key_param, KeyRange};
use crate::plan::{MergeStrategy, RunKind, Window};
use crate::resolve;
use pgrx::datum::DatumWithOid;
use pgrx::prelude::*;
use pgrx::{pg_sys, PgSqlErrorCode};
use std::sync::{Arc, Mutex};

/// What one step did (a row of `sync_backfill_step`).
#[derive(Debug, Clone, Default)]
pub struct Step {
    /// The batch merged (`None`: the backfill was already done, nothing ran).
    pub batch: Option<i32>,
    pub rows_read: i64,
    pub rows_done: i64,
    pub rows_estimated: Option<i64>,
    /// The backfill is complete (the procedure stops).
    pub done: bool,
}

/// A backfill as `insync.backfills` keeps it.
#[derive(Debug, Clone)]
struct Progress {
    state: String,
    watermark: Option<String>,
    last_key: Option<serde_json::Value>,
    batches: i32,
    rows_done: i64,
    rows_estimated: Option<i64>,
    finished_at: Option<String>,
}

const IN_PROGRESS: &str = "in progress";
const DONE: &str = "done";

/// Runs one batch of the job's backfill (starting the backfill first if it has none yet), in
/// the caller's transaction; the caller commits it.
pub fn step(job_name: &str, batch_size: Option<i32>) -> SyncResult<Step> {
    let job = catalog::load_job(job_name)?;
    let size = match batch_size.or(job.backfill_batch) {
        Some(n) if n > 0 => n,
        Some(n) => {
            return Err(error(
                PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
                format!("sync job \"{job_name}\": batch_size must be at least 1, not {n}"),
            ))
        }
        None => {
            return Err(error_with_hint(
                PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
                format!("sync job \"{job_name}\" has no backfill batch size"),
                format!(
                    "SELECT sync_alter('{job_name}', backfill_batch => 100000) sets one, or CALL sync_backfill('{job_name}', batch_size => 100000)."
                ),
            ))
        }
    };
    crate::execute::require_read_committed(job_name)?;
    if !crate::execute::try_job_lock(&job)? {
        return Err(error_with_hint(
            PgSqlErrorCode::ERRCODE_LOCK_NOT_AVAILABLE,
            format!("sync job \"{job_name}\" is running in another session; its backfill cannot go on now"),
            "Call it again once that run (or backfill) has finished: it resumes after the last committed batch.",
        ));
    }
    if catalog::leftovers(&job.name)?.running {
        catalog::close_interrupted_runs(&job.name)?;
    }
    let progress = match load(&job)? {
        Some(p) if p.state == DONE => {
            notice(
                format!(
                    "sync job \"{job_name}\": its backfill is done ({} rows in {} batches); nothing to do",
                    p.rows_done, p.batches
                ),
                p.finished_at.as_ref().map(|at| format!("It finished at {at}.")),
            );
            return Ok(Step {
                batch: None,
                rows_read: 0,
                rows_done: p.rows_done,
                rows_estimated: p.rows_estimated,
                done: true,
            });
        }
        Some(p) => p,
        None => start(&job, size)?,
    };
    batch(&job, progress, size)
}

/// Why a run of the job cannot start now because of its backfill: one is in progress, or the
/// job loads its first rows in batches and has not been loaded yet (a run is one transaction).
pub fn refuse_run(job: &Job, kind: RunKind) -> SyncResult<()> {
    let name = &job.name;
    if job.backfill_state.as_deref() == Some(IN_PROGRESS) {
        return Err(error_with_hint(
            PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            format!("sync job \"{name}\" has a backfill in progress"),
            format!(
                "CALL sync_backfill('{name}') finishes it (it resumes after its last committed batch); sync_alter('{name}', reset_watermark => true) abandons it."
            ),
        ));
    }
    if job.backfill_state.is_none()
        && kind != RunKind::Full
        && job.backfill_batch.is_some()
        && catalog::load_watermark(job)?.is_none()
    {
        return Err(error_with_hint(
            PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            format!(
                "sync job \"{name}\" loads its first rows in batches (backfill_batch => {}) and has not been loaded yet",
                job.backfill_batch.unwrap_or_default()
            ),
            format!(
                "CALL sync_backfill('{name}') loads it; sync_alter('{name}', backfill_batch => 0) makes the first load one run instead."
            ),
        ));
    }
    Ok(())
}

fn load(job: &Job) -> SyncResult<Option<Progress>> {
    as_catalog_owner(|| {
        Spi::connect(|client| {
            let rows = client.select(
                "SELECT state, watermark, last_key, batches, rows_done, rows_estimated, \
                        pg_catalog.to_char(finished_at, 'YYYY-MM-DD HH24:MI:SS TZ') \
                   FROM insync.backfills WHERE job_name = $1",
                None,
                &[job.name.clone().into()],
            )?;
            let Some(row) = rows.into_iter().next() else {
                return Ok(None);
            };
            Ok(Some(Progress {
                state: row.get::<String>(1)?.unwrap_or_default(),
                watermark: row.get::<String>(2)?,
                last_key: row.get::<pgrx::JsonB>(3)?.map(|j| j.0),
                batches: row.get::<i32>(4)?.unwrap_or(0),
                rows_done: row.get::<i64>(5)?.unwrap_or(0),
                rows_estimated: row.get::<i64>(6)?,
                finished_at: row.get::<String>(7)?,
            }))
        })
        .context("reading insync.backfills")
    })
}

/// The window a backfill reads: up to its watermark (as a first run), or everything.
fn window_of(resolved: &resolve::Resolved) -> Window {
    if resolved.plan.watermark.is_some() {
        Window::UpTo
    } else {
        Window::Everything
    }
}

/// Starts the job's backfill: the watermark it will set, the NULL-key check, the estimate.
fn start(job: &Job, size: i32) -> SyncResult<Progress> {
    if let Some(watermark) = catalog::load_watermark(job)? {
        return Err(error_with_hint(
            PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            format!(
                "sync job \"{}\" was loaded already: a backfill is a first load",
                job.name
            ),
            format!(
                "Its watermark is {watermark}: its next sync_incremental reads what changed. To load it again from the beginning: SELECT sync_alter('{}', reset_watermark => true), then CALL sync_backfill('{}').",
                job.name, job.name
            ),
        ));
    }
    // Bounds, probes and estimates may run user code (views, a filter's functions): as the
    // owner, restricted, as a run's are.
    let (watermark, estimated) = crate::security::as_role(job.owner, || {
        let resolved = resolve::resolve(job)?;
        crate::execute::refuse_duplicated_target(job, &resolved)?;
        let plan = &resolved.plan;
        let window = window_of(&resolved);
        let watermark = match &plan.watermark {
            Some(wm) => {
                crate::window::safe_upper_bound(job, wm.kind, &resolved, RunKind::Incremental)?
            }
            None => None,
        };
        let bounds = crate::window::for_window(plan, window, &None, &watermark);
        let args = crate::window::args_of(&bounds);
        // Batches leave keys with a NULL out of their ranges: refuse them now, as a run would.
        let null_keys = Spi::get_one_with_args::<bool>(&plan.null_key_exists(window), &args)
            .context("checking the source for NULL keys")?
            .unwrap_or(false);
        if null_keys {
            return Err(crate::merge::null_key_error(
                job, &resolved, window, &args, 1,
            ));
        }
        let estimated = crate::parallel::estimate_rows(&plan.source_rows(window), &args)?;
        Ok((watermark, estimated.round() as i64))
    })?;
    let run_by = crate::execute::current_role()?;
    as_catalog_owner(|| {
        Spi::run_with_args(
            "INSERT INTO insync.backfills (job_name, state, watermark, rows_estimated, started_at, started_by) \
             VALUES ($1, 'in progress', $2, $3, pg_catalog.clock_timestamp(), $4::regrole)",
            &[
                job.name.clone().into(),
                watermark.clone().into(),
                estimated.into(),
                run_by.into(),
            ],
        )
        .context("inserting into insync.backfills")
    })?;
    notice(
        format!(
            "sync job \"{}\": backfill started: about {estimated} rows in batches of {size}",
            job.name
        ),
        watermark.as_ref().map(|w| {
            format!("Rows changed after {w} are left to the incremental runs that follow it.")
        }),
    );
    Ok(Progress {
        state: IN_PROGRESS.into(),
        watermark,
        last_key: None,
        batches: 0,
        rows_done: 0,
        rows_estimated: Some(estimated),
        finished_at: None,
    })
}

/// Merges the next batch as a run of its own and records the progress with it.
fn batch(job: &Job, progress: Progress, size: i32) -> SyncResult<Step> {
    let kind = if job.mode == RunKind::Append {
        RunKind::Append
    } else {
        RunKind::Incremental
    };
    let number = progress.batches + 1;
    let mut record = crate::execute::new_record(job, job.mode, crate::execute::current_role()?)?;
    record.backfill_batch = Some(number);
    record.window_high = progress.watermark.clone();
    let started = crate::backend::now_micros();
    // The bound this batch loaded up to (`None`: it was the last, open-ended batch).
    let bound: Arc<Mutex<Option<serde_json::Value>>> = Arc::new(Mutex::new(None));
    let done = {
        let bound = Arc::clone(&bound);
        let progress = progress.clone();
        crate::execute::attempt(job, record, move |record| {
            let upper = merge_batch(job, &progress, kind, size, record)?;
            let last = upper.is_none();
            *bound.lock().unwrap_or_else(|p| p.into_inner()) = upper;
            Ok(if last {
                progress.watermark.clone()
            } else {
                None
            })
        })?
    };
    let upper = bound.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let last = upper.is_none();
    let seconds = ((crate::backend::now_micros() - started) as f64 / 1e6).max(1e-6);
    let rate = (done.rows_read as f64 / seconds).round() as i64;
    let rows_done = progress.rows_done + done.rows_read;
    as_catalog_owner(|| {
        Spi::run_with_args(
            "UPDATE insync.backfills SET last_key = coalesce($2, last_key), batches = $3, rows_done = $4, \
                    rows_per_second = $5, last_batch_at = pg_catalog.clock_timestamp(), \
                    state = CASE WHEN $6 THEN 'done' ELSE state END, \
                    finished_at = CASE WHEN $6 THEN pg_catalog.clock_timestamp() END \
              WHERE job_name = $1",
            &[
                job.name.clone().into(),
                upper.clone().map(pgrx::JsonB).into(),
                number.into(),
                rows_done.into(),
                rate.into(),
                last.into(),
            ],
        )
        .context("recording the backfill's progress")
    })?;
    let of = match progress.rows_estimated {
        Some(e) if e > 0 => format!(
            " of about {e} ({}%)",
            (rows_done as f64 * 100.0 / e as f64).round() as i64
        ),
        _ => String::new(),
    };
    notice(
        format!(
            "sync job \"{}\": backfill batch {number}: {} rows, {rows_done}{of} done",
            job.name, done.rows_read
        ),
        Some(format!("{rate} rows/s")),
    );
    if last {
        notice(
            format!(
                "sync job \"{}\": backfill done: {rows_done} rows in {number} batches",
                job.name
            ),
            progress.watermark.as_ref().map(|w| {
                format!("The watermark is {w}: the next incremental run reads what changed since the backfill started.")
            }),
        );
    }
    Ok(Step {
        batch: Some(number),
        rows_read: done.rows_read,
        rows_done,
        rows_estimated: progress.rows_estimated,
        done: last,
    })
}

/// A progress NOTICE; what varies from call to call (rates, instants) goes in its DETAIL.
fn notice(message: String, detail: Option<String>) {
    match detail {
        Some(detail) => pgrx::ereport!(
            NOTICE,
            PgSqlErrorCode::ERRCODE_SUCCESSFUL_COMPLETION,
            message,
            detail
        ),
        None => pgrx::notice!("{message}"),
    }
}

/// The batch's merge, as the job's owner inside its run's subtransaction: finds the batch's
/// upper bound, merges the range, fills in the record. Returns the bound (`None`: last batch).
fn merge_batch(
    job: &Job,
    progress: &Progress,
    kind: RunKind,
    size: i32,
    record: &mut catalog::RunRecord,
) -> SyncResult<Option<serde_json::Value>> {
    let resolved = resolve::resolve(job)?;
    let window = window_of(&resolved);
    let key_types = key_types(job, &resolved)?;
    let after = progress
        .last_key
        .as_ref()
        .map(|k| typed_key(job, &key_types, k))
        .transpose()?;
    let plan = &resolved.plan;
    let probe = |sql: &str, args: &[DatumWithOid<'static>]| {
        Spi::connect(|client| {
            let rows = client.select(sql, Some(1), args)?;
            match rows.into_iter().next() {
                Some(row) => row.get::<pgrx::JsonB>(1),
                None => Ok(None),
            }
        })
        .context("finding the batch's keys")
        .map(|j| j.map(|j| j.0))
    };
    let mut upper = probe(
        &plan.backfill_next_bound(after.is_some(), size as u64),
        after.as_deref().unwrap_or(&[]),
    )?;
    let mut upto = upper
        .as_ref()
        .map(|k| typed_key(job, &key_types, k))
        .transpose()?;
    if let Some(bound) = &upto {
        // No key after the bound: this is the last batch (open-ended), not an empty one after it.
        if probe(&plan.backfill_next_bound(true, 1), bound)?.is_none() {
            upper = None;
            upto = None;
        }
    }
    let range = KeyRange {
        first_param: first_key_param(window),
        after: after.is_some(),
        upto: upto.is_some(),
    };
    let key_args: Vec<DatumWithOid<'static>> = after
        .into_iter()
        .flatten()
        .chain(upto.into_iter().flatten())
        .collect();
    // An upsert into a range of the target that holds no key yet (a first load into an empty
    // table: every batch) is a plain INSERT.
    let insert_only = plan.strategy == MergeStrategy::Upsert
        // Through the target's unique index on the key: a target just filled has no statistics
        // yet, and a sequential scan of it would cost more than the batch.
        && !crate::settings::with_settings(&[(c"enable_seqscan", c"off")], || {
            Spi::get_one_with_args::<bool>(&plan.backfill_range_taken(range), &key_args)
        })
        .context("probing the target for the batch's keys")?
        .unwrap_or(true);
    let bounds = crate::window::for_window(plan, window, &None, &progress.watermark);
    let mut args = crate::window::args_of(&bounds);
    args.extend(key_args);
    // Counted off the target's statistics, as a serial run's upsert (see `execute`).
    let before = (plan.strategy == MergeStrategy::Upsert && !plan.target_partitioned)
        .then(|| crate::backend::xact_rows_written(resolved.target.oid))
        .flatten();
    let with_stats = crate::plan::SyncPlan {
        counts_from_table_stats: before.is_some(),
        ..plan.clone()
    };
    let counted_by_stats = before.is_some();
    let mut counts = if insert_only {
        let statement = with_stats.backfill_merge_statement(kind, window, range, true);
        let attempt_args = copy_args(&args);
        let inserted = crate::subxact::in_subtransaction(move || {
            crate::settings::bulk(|| crate::merge::run_merge(&statement, &attempt_args))
        });
        match inserted {
            Ok(result) => result.context("merging the batch")?,
            Err(caught)
                if crate::subxact::report_of(&caught).sql_error_code()
                    == PgSqlErrorCode::ERRCODE_UNIQUE_VIOLATION =>
            {
                // A key got into the range meanwhile: merge the batch as an upsert, counting
                // its own rows (the rolled-back attempt's are in the table's statistics).
                let statement = plan.backfill_merge_statement(kind, window, range, false);
                return finish_batch(
                    job,
                    progress,
                    record,
                    upper,
                    crate::settings::bulk(|| crate::merge::run_merge(&statement, &args))
                        .context("merging the batch")?,
                );
            }
            Err(caught) => caught.rethrow(),
        }
    } else {
        let statement = with_stats.backfill_merge_statement(kind, window, range, false);
        crate::settings::bulk(|| crate::merge::run_merge(&statement, &args))
            .context("merging the batch")?
    };
    if let (Some(before), Some(after)) = (
        before,
        before.and_then(|_| crate::backend::xact_rows_written(resolved.target.oid)),
    ) {
        let taken_back = after.2 - before.2;
        counts.inserted = (after.0 - before.0) - taken_back;
        counts.updated = after.1 - before.1;
        if insert_only && counted_by_stats {
            // The statement read the range once, inserting every row of it (see plan).
            counts.read = counts.inserted;
        }
    }
    finish_batch(job, progress, record, upper, counts)
}

/// Fails the batch on NULL keys, else fills in its record.
fn finish_batch(
    job: &Job,
    progress: &Progress,
    record: &mut catalog::RunRecord,
    upper: Option<serde_json::Value>,
    counts: crate::merge::Counts,
) -> SyncResult<Option<serde_json::Value>> {
    if counts.null_keys > 0 {
        return Err(error_with_hint(
            PgSqlErrorCode::ERRCODE_NOT_NULL_VIOLATION,
            format!(
                "sync job \"{}\": {} source rows of backfill batch {} have a NULL key; nothing of the batch was synced",
                job.name,
                counts.null_keys,
                progress.batches + 1
            ),
            "Fix those rows in the source, or exclude them with sync_alter(job, source_filter => '... IS NOT NULL').",
        ));
    }
    counts.record(record);
    record.status = RunStatus::Succeeded;
    record.finished_at = Some(crate::execute::now_text()?);
    Ok(upper)
}

/// The same parameters again (a datum is a value or a pointer to one that stays allocated).
fn copy_args(args: &[DatumWithOid<'static>]) -> Vec<DatumWithOid<'static>> {
    args.iter()
        // SAFETY: the same datum and type as the original, which outlives both uses.
        .map(|a| unsafe { DatumWithOid::new_from_datum(a.datum(), a.oid()) })
        .collect()
}

/// The types of the job's key columns on the source, in key order.
fn key_types(job: &Job, resolved: &resolve::Resolved) -> SyncResult<Vec<pg_sys::Oid>> {
    let columns = resolve::columns_of(resolved.source.oid)?;
    resolved
        .plan
        .keys
        .iter()
        .map(|k| {
            columns
                .iter()
                .find(|c| &c.name == k)
                .map(|c| c.type_oid)
                .ok_or_else(|| {
                    error(
                        PgSqlErrorCode::ERRCODE_UNDEFINED_COLUMN,
                        format!(
                            "key column \"{k}\" of sync job \"{}\" is not in source {}",
                            job.name,
                            resolved.source.display()
                        ),
                    )
                })
        })
        .collect()
}

/// A stored key (JSON array, see `plan::backfill_next_bound`) as parameters of the key
/// columns' own types, read by each type's input function.
fn typed_key(
    job: &Job,
    types: &[pg_sys::Oid],
    key: &serde_json::Value,
) -> SyncResult<Vec<DatumWithOid<'static>>> {
    let values = key
        .as_array()
        .filter(|v| v.len() == types.len())
        .ok_or_else(|| {
            error(
                PgSqlErrorCode::ERRCODE_DATA_CORRUPTED,
                format!(
                    "sync job \"{}\": the backfill's last key {key} does not match the job's key",
                    job.name
                ),
            )
        })?;
    values
        .iter()
        .zip(types)
        .map(|(value, oid)| {
            let text = match value {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Null => {
                    return Err(error(
                        PgSqlErrorCode::ERRCODE_DATA_CORRUPTED,
                        format!(
                            "sync job \"{}\": the backfill's key {key} has a NULL",
                            job.name
                        ),
                    ))
                }
                other => other.to_string(),
            };
            Ok(typed_value(*oid, &text))
        })
        .collect()
}

/// `text` read by the input function of type `oid` (an error in it raises, as a cast would).
fn typed_value(oid: pg_sys::Oid, text: &str) -> DatumWithOid<'static> {
    let text = std::ffi::CString::new(text.replace('\0', "")).unwrap_or_default();
    // SAFETY: the type's input function on a NUL-terminated string; the value is allocated in
    // the current memory context, which outlives the statement it is bound to.
    unsafe {
        let mut input = pg_sys::InvalidOid;
        let mut io_param = pg_sys::InvalidOid;
        pg_sys::getTypeInputInfo(oid, &mut input, &mut io_param);
        let datum = pg_sys::OidInputFunctionCall(input, text.as_ptr() as *mut _, io_param, -1);
        DatumWithOid::new(datum, oid)
    }
}
