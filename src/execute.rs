//! Executing a run: take the job's lock, compute a safe window, merge through SPI in the
//! caller's transaction, and record the run with the data. Everything that can reach user
//! code (bounds, probes, planning, the merge) runs as the job owner in a security-restricted
//! operation; the caller only needs to be allowed to run the job.

use crate::catalog::{self, as_catalog_owner, Job, RunRecord, RunStatus};
use crate::error::{error, error_with_hint, SpiContext, SyncResult};
use crate::plan::{MergeStrategy, RunKind, Window};
use crate::recorder;
use crate::resolve;
use crate::security::as_role;
use crate::subxact::{in_subtransaction, report_of, reworded};
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::pg_sys::panic::ErrorReportable;
use pgrx::prelude::*;
use pgrx::PgSqlErrorCode;
use std::sync::{Arc, Mutex};

/// Runs a job: `kind` is what the caller asked for (`sync_incremental`, `sync_full`) or, for
/// `sync_run`, the job's own mode; `parallel` is the call's degree (NULL: the job's setting).
/// `scheduled`: called by the job's pg_cron entry. Returns the run as recorded in `insync.runs`.
pub fn run_job(
    job_name: &str,
    requested: Option<RunKind>,
    parallel: Option<i32>,
    scheduled: bool,
) -> SyncResult<RunRecord> {
    let job = catalog::load_job(job_name)?;
    let kind = match (requested, job.mode) {
        (None, mode) => mode,
        (Some(RunKind::Full), _) => RunKind::Full,
        (Some(RunKind::Incremental), RunKind::Append) => RunKind::Append,
        (Some(RunKind::Incremental), RunKind::Full) => {
            return Err(error_with_hint(
                PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
                format!("sync job \"{job_name}\" is a full-mode job without an incremental window"),
                format!("Call sync_full('{job_name}') or sync_run('{job_name}')."),
            ))
        }
        (Some(k), _) => k,
    };
    crate::backfill::refuse_run(&job, kind)?;
    require_read_committed(job_name)?;
    // Checked before anything runs, so a bad degree leaves no trace.
    if let Some(n) = parallel {
        crate::parallel::choose_degree(&job, Some(n), || Ok(0.0))?;
    }

    let run_by = current_role()?;
    if !try_job_lock(&job)? {
        // Another session holds the job: record the skip and return without touching data.
        let record = RunRecord {
            run_id: catalog::next_run_id()?,
            job_name: job.name.clone(),
            owner: job.owner_name.clone(),
            kind,
            status: RunStatus::Skipped,
            started_at: now_text()?,
            error_message: Some("another run of this job was in progress".into()),
            run_by,
            run_xact: catalog::current_xact()?,
            scheduled,
            ..Default::default()
        };
        catalog::record_run(&record, None)?;
        pgrx::notice!("sync job \"{job_name}\" is already running in another session; skipped");
        return Ok(record);
    }

    let leftovers = catalog::leftovers(&job.name)?;
    if leftovers.running {
        catalog::close_interrupted_runs(&job.name)?;
    }
    // A failed parallel run's window comes first: its watermark never moved, so finishing its
    // unfinished segments completes exactly what it started. A full run re-reads everything.
    if kind != RunKind::Full && leftovers.unfinished {
        if let Some(unfinished) = crate::parallel::find_unfinished(&job)? {
            if unfinished.job_changed {
                pgrx::notice!(
                    "sync job \"{job_name}\" changed since run {} failed; this run re-reads its window instead of resuming it",
                    unfinished.planned_by
                );
            } else {
                let resumed = resume(&job, &unfinished, run_by.clone())?;
                pgrx::notice!(
                    "sync job \"{job_name}\": run {} finished {} unfinished segment(s) of failed run {} (window up to {}) first",
                    resumed.run_id,
                    resumed.segments.unwrap_or(0),
                    unfinished.planned_by,
                    unfinished.window_high.as_deref().unwrap_or("the end")
                );
            }
        }
    }

    let mut record = new_record(&job, kind, run_by)?;
    record.scheduled = scheduled;
    attempt(&job, record, |record| {
        execute_window(&job, kind, parallel, record)
    })
}

/// Finishes the unfinished segments of the job's failed parallel run `run_id`.
pub fn resume_run(run_id: i64) -> SyncResult<RunRecord> {
    let job_name = as_catalog_owner(|| {
        Spi::get_one_with_args::<String>(
            "SELECT (SELECT job_name FROM insync.runs WHERE run_id = $1)",
            &[run_id.into()],
        )
        .context("reading insync.runs")
    })?
    .ok_or_else(|| unknown_run(run_id))?;
    // A run of a job the caller cannot see answers like a run that does not exist.
    let job = catalog::load_job(&job_name).map_err(|_| unknown_run(run_id))?;
    require_read_committed(&job_name)?;
    if !try_job_lock(&job)? {
        return Err(error(
            PgSqlErrorCode::ERRCODE_LOCK_NOT_AVAILABLE,
            format!("sync job \"{job_name}\" is running in another session; run {run_id} cannot be resumed now"),
        ));
    }
    catalog::close_interrupted_runs(&job_name)?;
    let not_resumable = |why: String| {
        error_with_hint(
            PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            format!("sync run {run_id} of job \"{job_name}\" cannot be resumed: {why}"),
            format!("SELECT * FROM insync.segments WHERE run_id = {run_id} shows its segments."),
        )
    };
    match crate::parallel::find_unfinished(&job)? {
        Some(u) if u.planned_by == run_id || u.last_attempt == run_id => {
            if u.job_changed {
                return Err(not_resumable(format!(
                    "the job was changed after it started; sync_incremental('{job_name}') re-reads its window"
                )));
            }
            resume(&job, &u, current_role()?)
        }
        _ => {
            let status = as_catalog_owner(|| {
                Spi::get_two_with_args::<String, i32>(
                    "SELECT status, segments FROM insync.runs WHERE run_id = $1",
                    &[run_id.into()],
                )
                .context("reading insync.runs")
            })?;
            Err(not_resumable(match status {
                (Some(s), _) if s == "succeeded" => "it succeeded".into(),
                (_, None) => "it was a serial run: its changes were rolled back with it, and the next run re-reads its window".into(),
                _ => "a later run already synced its window".into(),
            }))
        }
    }
}

fn unknown_run(run_id: i64) -> ErrorReport {
    error_with_hint(
        PgSqlErrorCode::ERRCODE_UNDEFINED_OBJECT,
        format!("sync run {run_id} does not exist"),
        "SELECT run_id, job_name, status FROM insync.runs ORDER BY run_id DESC lists recent runs.",
    )
}

/// Completes a failed parallel run's window as a run of its own (`resumes` names it).
fn resume(
    job: &Job,
    unfinished: &crate::parallel::Unfinished,
    run_by: String,
) -> SyncResult<RunRecord> {
    let mut record = new_record(job, unfinished.kind, run_by)?;
    record.resumes = Some(unfinished.planned_by);
    record.segments = Some(unfinished.segments.len() as i32);
    record.window_low = unfinished.window_low.clone();
    record.window_high = unfinished.window_high.clone();
    attempt(job, record, |record| {
        let resolved = resolve::resolve(job)?;
        let watermark = crate::parallel::finish(job, &resolved, unfinished, record)?;
        record.status = RunStatus::Succeeded;
        record.finished_at = Some(now_text()?);
        Ok(watermark)
    })
}

pub(crate) fn new_record(job: &Job, kind: RunKind, run_by: String) -> SyncResult<RunRecord> {
    Ok(RunRecord {
        run_id: catalog::next_run_id()?,
        job_name: job.name.clone(),
        owner: job.owner_name.clone(),
        kind,
        status: RunStatus::Running,
        started_at: now_text()?,
        run_by,
        run_xact: catalog::current_xact()?,
        ..Default::default()
    })
}

/// Runs `body` as the job owner in a subtransaction: on success records the run and advances
/// the watermark it returns; on failure everything it wrote is rolled back, the failed run is
/// committed by the catalog writer, and the error is raised again.
pub(crate) fn attempt(
    job: &Job,
    record: RunRecord,
    body: impl FnOnce(&mut RunRecord) -> SyncResult<Option<String>> + std::panic::UnwindSafe,
) -> SyncResult<RunRecord> {
    let owner = job.owner;
    crate::interrupt::run_started(&record);
    // Shared with the subtransaction so a failure still knows the window and segments it had.
    let progress = Arc::new(Mutex::new(record));
    let outcome = {
        let progress = Arc::clone(&progress);
        in_subtransaction(move || {
            let mut record = progress.lock().unwrap_or_else(|p| p.into_inner());
            let watermark = as_role(owner, || body(&mut record)).unwrap_or_report();
            (record.clone(), watermark)
        })
    };
    crate::interrupt::run_ended();
    match outcome {
        Ok((done, watermark)) => {
            catalog::record_run(&done, watermark.as_deref())?;
            Ok(done)
        }
        Err(caught) => {
            // The subtransaction rolled back every row the run wrote; keep a record of why.
            let mut record = progress.lock().unwrap_or_else(|p| p.into_inner()).clone();
            // The whole error, DETAIL and HINT included: often the part that says what to do.
            record.error_message = Some(crate::subxact::full_text(&caught));
            record.status = RunStatus::Failed;
            record.finished_at = None;
            recorder::record_failed_run(&record);
            // Re-raise what the caller would have seen.
            Err(reworded(&caught, report_of(&caught).message().to_string()))
        }
    }
}

/// The body of a run, inside its subtransaction: fills in the record and returns the new
/// watermark. The caller raises any error so the subtransaction rolls back.
fn execute_window(
    job: &Job,
    kind: RunKind,
    parallel: Option<i32>,
    record: &mut RunRecord,
) -> SyncResult<Option<String>> {
    let mut resolved = resolve::resolve(job)?;
    refuse_duplicated_target(job, &resolved)?;
    let (low, high) = match &resolved.plan.watermark {
        Some(wm) => {
            let high = crate::window::safe_upper_bound(job, wm.kind, &resolved, kind)?;
            let low = if kind == RunKind::Full {
                None
            } else {
                crate::window::lower_bound(job, wm.kind)?
            };
            (low, high)
        }
        None => (None, None),
    };
    // Asked only now: the window's bound is what opens a run's remote transaction.
    if resolved.source.kind == 'f' && !resolved.plan.source_key_unique {
        if let Some(server) =
            crate::remote::server_of(resolved.source.oid)?.filter(|s| s.postgres_fdw)
        {
            resolved.plan.source_key_unique =
                crate::remote::key_unique(&server, resolved.source.oid, &resolved.plan.keys)?;
        }
    }
    let plan = &resolved.plan;
    record.window_low = low.clone();
    record.window_high = high.clone();
    let window = match (kind, &low) {
        (RunKind::Full, _) => Window::Everything,
        (_, None) => Window::UpTo,
        (_, Some(_)) => Window::Range,
    };
    let bounds = crate::window::for_window(plan, window, &low, &high);
    let args = || crate::window::args_of(&bounds);
    if let Some(problem) = &resolved.co_location {
        pgrx::notice!("sync job \"{}\": {problem}", job.name);
    }
    let degree = if let Some(reason) = plan.dialect.serial_reason() {
        // The engine's own parallelism does the work: no coordinator workers.
        let asked = crate::parallel::choose_degree(job, parallel, || Ok(0.0))?;
        if asked.explicit && asked.segments > 1 {
            pgrx::notice!(
                "sync job \"{}\" runs as one statement sequence, not {} segments: {reason}",
                job.name,
                asked.segments
            );
        }
        crate::parallel::Degree::serial()
    } else if parallel.is_none() && job.parallel == "auto" && resolved.foreign_relation().is_some()
    {
        // Segments slice rows after they crossed the wire: each would fetch the whole window.
        crate::parallel::Degree::serial()
    } else {
        crate::parallel::choose_degree(job, parallel, || {
            crate::parallel::estimate_rows(&plan.source_rows(window), &args())
        })?
    };
    if degree.segments > 1 {
        let done = crate::parallel::run_parallel(
            job, &resolved, kind, window, &low, &high, degree, record,
        )?;
        if let Some(totals) = done {
            totals.record(record);
            record.rows_deleted += deletes_after_merge(job, &resolved, kind)?;
            record.status = RunStatus::Succeeded;
            record.finished_at = Some(now_text()?);
            return Ok(high);
        }
    }
    // One writer per statement (Greenplum-family engines, or asked for on PostgreSQL): the
    // window is staged, then each write is a statement of its own.
    let per_step = !plan.dialect.writers_per_with
        || crate::settings::plan_style() == crate::settings::PlanStyle::StatementPerStep;
    let counts = if per_step {
        let steps = plan.steps(kind, window);
        crate::settings::bulk(|| crate::merge::run_steps(&steps, &args()))
            .context("running the merge")?
    } else {
        combined_merge(plan, &resolved, kind, window, &args())?
    };
    if counts.null_keys > 0 {
        return Err(crate::merge::null_key_error(
            job,
            &resolved,
            window,
            &args(),
            counts.null_keys,
        ));
    }
    counts.record(record);
    record.rows_deleted += deletes_after_merge(job, &resolved, kind)?;
    record.status = RunStatus::Succeeded;
    record.finished_at = Some(now_text()?);
    Ok(high)
}

/// The one-statement merge of a serial run (PostgreSQL), and its counts.
fn combined_merge(
    plan: &crate::plan::SyncPlan,
    resolved: &resolve::Resolved,
    kind: RunKind,
    window: Window,
    args: &[pgrx::datum::DatumWithOid],
) -> SyncResult<crate::merge::Counts> {
    // An upsert into one table reads its inserted and updated rows off the target's transaction
    // statistics (see `counts_from_table_stats`).
    let before = (plan.strategy == MergeStrategy::Upsert && !plan.target_partitioned)
        .then(|| crate::backend::xact_rows_written(resolved.target.oid))
        .flatten();
    let statement = if before.is_some() {
        crate::plan::SyncPlan {
            counts_from_table_stats: true,
            ..plan.clone()
        }
        .merge_statement(kind, window)
    } else {
        plan.merge_statement(kind, window)
    };
    let mut counts = crate::settings::bulk(|| crate::merge::run_merge(&statement, args))
        .context("running the merge")?;
    if let (Some(before), Some(after)) = (
        before,
        before.and_then(|_| crate::backend::xact_rows_written(resolved.target.oid)),
    ) {
        // An insert that lost a race on its key to a concurrent one is counted, then counted
        // as deleted when it is taken back: take those out. (Rows a trigger on the target
        // writes into the target itself are counted too.)
        // (A full run's own deletes are counted by the statement.)
        let taken_back = (after.2 - before.2) - counts.deleted;
        counts.inserted = (after.0 - before.0) - taken_back;
        counts.updated = after.1 - before.1;
    }
    Ok(counts)
}

/// `deletes => 'verify'`: after an incremental run's merge, the keys that left the source are
/// deleted from the target (see `verify::delete_gone_keys`); full runs delete them anyway.
fn deletes_after_merge(job: &Job, resolved: &resolve::Resolved, kind: RunKind) -> SyncResult<i64> {
    if kind != RunKind::Incremental || job.deletes != "verify" {
        return Ok(0);
    }
    crate::verify::delete_gone_keys(job, resolved)
}

/// Without a unique index the target may already hold several rows per key (an earlier
/// script's overlap, say); merging into it would keep them. Refuse, and point at the repair.
pub(crate) fn refuse_duplicated_target(job: &Job, resolved: &resolve::Resolved) -> SyncResult<()> {
    if resolved.plan.strategy != MergeStrategy::DeleteInsert {
        return Ok(());
    }
    let duplicated = crate::settings::sorted_grouping(|| {
        Spi::get_one::<i64>(&resolved.plan.target_duplicate_keys())
    })
    .context("checking the target for duplicates")?
    .unwrap_or(0);
    if duplicated == 0 {
        return Ok(());
    }
    let table = resolved.target.display();
    let keys = format!("{{{}}}", job.keys.join(","));
    Err(error_with_hint(
        PgSqlErrorCode::ERRCODE_UNIQUE_VIOLATION,
        format!("sync job \"{}\": target {table} has {duplicated} keys with more than one row", job.name),
        format!(
            "SELECT * FROM find_duplicates('{table}', '{keys}') shows why; dedup_table('{table}', '{keys}') repairs it."
        ),
    ))
}

/// Takes the job's lock without waiting: a row lock on its catalog row, taken as the catalog
/// owner and held to the end of the caller's transaction. Other roles can only read the
/// catalog, so no one can take (and hold) it from outside insync.
pub(crate) fn try_job_lock(job: &Job) -> SyncResult<bool> {
    as_catalog_owner(|| {
        Ok(Spi::get_one_with_args::<bool>(
            "SELECT EXISTS (SELECT FROM insync.jobs WHERE job_id = $1 FOR NO KEY UPDATE SKIP LOCKED)",
            &[job.job_id.into()],
        )
        .context("taking the job lock")?
        .unwrap_or(false))
    })
}

/// A window is only safe when each statement sees everything committed before it started.
pub(crate) fn require_read_committed(job_name: &str) -> SyncResult<()> {
    let level = crate::backend::isolation_level();
    if level == "read committed" {
        Ok(())
    } else {
        Err(error_with_hint(
            PgSqlErrorCode::ERRCODE_INVALID_TRANSACTION_STATE,
            format!("sync job \"{job_name}\" cannot run in a {level} transaction"),
            "Run syncs in READ COMMITTED transactions: an older snapshot could miss rows below the new watermark.",
        ))
    }
}

pub(crate) fn current_role() -> SyncResult<String> {
    Ok(crate::backend::current_role_text())
}

/// The current instant as ISO UTC text (independent of the session's DateStyle).
pub(crate) fn now_text() -> SyncResult<String> {
    Ok(crate::backend::now_text())
}
