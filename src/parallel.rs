//! Deciding whether a run goes parallel, planning its segments against the live catalog, and
//! finishing the unfinished segments of a failed parallel run (resume).

use crate::catalog::{as_catalog_owner, Job, RunRecord};
use crate::dispatch::{self, Assignment, SegmentTask, Totals};
use crate::error::{error, error_with_hint, SpiContext, SyncResult};
use crate::plan::segment::{plan_segments, Segment, Shape};
use crate::plan::{Relation, RunKind, Window};
use crate::recorder::Written;
use crate::resolve::Resolved;
use crate::window::WindowBounds;
use pgrx::datum::DatumWithOid;
use pgrx::prelude::*;
use pgrx::{pg_sys, PgSqlErrorCode};

/// `auto` goes parallel from this many estimated window rows: below it, starting workers and
/// committing a plan costs more than a second core saves.
pub const AUTO_MIN_ROWS: f64 = 100_000.0;

/// How many segments a run asked for, and whether the user asked explicitly (then every
/// reason to stay serial is said in a NOTICE).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Degree {
    pub segments: u32,
    pub explicit: bool,
}

impl Degree {
    pub fn serial() -> Self {
        Self {
            segments: 1,
            explicit: false,
        }
    }
}

/// The degree for this run: the call's `parallel`, else the job's setting. `estimate` gives
/// the planner's row estimate for the window (only asked for `auto`).
pub fn choose_degree(
    job: &Job,
    call: Option<i32>,
    estimate: impl FnOnce() -> SyncResult<f64>,
) -> SyncResult<Degree> {
    if let Some(n) = call {
        if !(1..=99).contains(&n) {
            return Err(error_with_hint(
                PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
                format!(
                    "sync job \"{}\": parallel must be between 1 and 99, not {n}",
                    job.name
                ),
                "parallel => 1 runs serially; NULL uses the job's setting.",
            ));
        }
        return Ok(Degree {
            segments: n as u32,
            explicit: true,
        });
    }
    if job.parallel != "auto" {
        return Ok(Degree {
            segments: job.parallel.parse().unwrap_or(1),
            explicit: true,
        });
    }
    let rows = estimate()?;
    if rows < AUTO_MIN_ROWS {
        return Ok(Degree {
            segments: 1,
            explicit: false,
        });
    }
    // As many segments as the server would give one query's Gather, at least two.
    let per_query = Spi::get_one::<i32>(
        "SELECT pg_catalog.current_setting('max_parallel_workers_per_gather')::int",
    )
    .context("reading max_parallel_workers_per_gather")?
    .unwrap_or(2);
    Ok(Degree {
        segments: per_query.clamp(2, 8) as u32,
        explicit: false,
    })
}

/// The planner's estimate of the rows a run reads.
pub fn estimate_rows(sql: &str, args: &[DatumWithOid]) -> SyncResult<f64> {
    // EXPLAIN is a utility statement: never run through a read-only SPI call (which pgrx makes
    // of `select` while the transaction has no xid yet).
    let plan = Spi::connect_mut(|client| {
        let rows = client.update(&format!("EXPLAIN (FORMAT JSON) {sql}"), None, args)?;
        rows.first().get::<pgrx::Json>(1)
    })
    .context("estimating the window's size")?;
    Ok(plan
        .and_then(|p| p.0[0]["Plan"]["Plan Rows"].as_f64())
        .unwrap_or(0.0))
}

/// Why workers could not run this job's segments right now, if they cannot.
fn reason_to_stay_serial(job: &Job, resolved: &Resolved) -> SyncResult<Option<String>> {
    if let Some(foreign) = resolved.foreign_relation() {
        return Ok(Some(format!(
            "{} is a foreign table, and each segment would fetch the whole window from its server",
            foreign.display()
        )));
    }
    let can_login = Spi::get_one_with_args::<bool>(
        "SELECT rolcanlogin FROM pg_catalog.pg_roles WHERE oid = $1",
        &[job.owner.into()],
    )
    .context("reading the job owner")?
    .unwrap_or(false);
    if !can_login {
        return Ok(Some(format!(
            "segment workers connect as the job owner \"{}\", which cannot log in",
            job.owner_name
        )));
    }
    // Workers would wait on rows this transaction wrote (or miss rows it has not committed).
    let mut relations = vec![resolved.source.oid, resolved.target.oid];
    if let Some(w) = &resolved.watermark_table {
        relations.push(w.oid);
    }
    let written = Spi::get_one_with_args::<String>(
        "SELECT pg_catalog.string_agg(DISTINCT l.relation::regclass::text, ', ') \
           FROM pg_catalog.pg_locks l \
          WHERE l.pid = pg_catalog.pg_backend_pid() AND l.locktype = 'relation' AND l.granted \
            AND l.mode <> 'AccessShareLock' \
            AND l.relation IN (SELECT t.relid FROM pg_catalog.unnest($1::oid[]) r(oid), \
                                      LATERAL pg_catalog.pg_partition_tree(r.oid) t \
                               UNION SELECT r.oid FROM pg_catalog.unnest($1::oid[]) r(oid))",
        &[relations.into()],
    )
    .context("reading this transaction's locks")?;
    if let Some(tables) = written {
        return Ok(Some(format!("this transaction has already written to or locked {tables}, and segment workers would wait for it")));
    }
    Ok(crate::recorder::catalog_locked_here().map(|tables| {
        format!(
            "this transaction holds a lock on {tables}, and the catalog writer would wait for it"
        )
    }))
}

/// Partitions and sizes of the run's relations.
fn read_shape(resolved: &Resolved) -> SyncResult<Shape> {
    let partitions = Spi::connect(|client| {
        let rows = client.select(
            "SELECT n.nspname::text, c.relname::text FROM pg_catalog.pg_partition_tree($1) t \
               JOIN pg_catalog.pg_class c ON c.oid = t.relid \
               JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
              WHERE t.isleaf AND t.relid <> $1 ORDER BY t.relid",
            None,
            &[resolved.source.oid.into()],
        )?;
        let mut out = Vec::new();
        for row in rows {
            out.push(Relation::new(
                &row.get::<String>(1)?.unwrap_or_default(),
                &row.get::<String>(2)?.unwrap_or_default(),
            ));
        }
        Ok::<_, pgrx::spi::Error>(out)
    })
    .context("listing the source's partitions")?;
    let blocks = |oid: pg_sys::Oid| -> SyncResult<u64> {
        Ok(Spi::get_one_with_args::<i64>(
            "SELECT CASE WHEN c.relkind IN ('r', 'm') \
                    THEN pg_catalog.pg_relation_size(c.oid) / pg_catalog.current_setting('block_size')::int END \
               FROM pg_catalog.pg_class c WHERE c.oid = $1",
            &[oid.into()],
        )
        .context("reading a relation's size")?
        .unwrap_or(0)
        .max(0) as u64)
    };
    Ok(Shape {
        partitions,
        source_blocks: blocks(resolved.source.oid)?,
        target_blocks: blocks(resolved.target.oid)?,
    })
}

/// Runs the window in parallel when it can: returns the summed counts, or `None` when the run
/// should go serial (nothing was written then). Fills `record.segments`.
#[allow(clippy::too_many_arguments)]
pub fn run_parallel(
    job: &Job,
    resolved: &Resolved,
    kind: RunKind,
    window: Window,
    low: &Option<String>,
    high: &Option<String>,
    degree: Degree,
    record: &mut RunRecord,
) -> SyncResult<Option<Totals>> {
    if let Some(reason) = reason_to_stay_serial(job, resolved)? {
        if degree.explicit {
            pgrx::notice!("sync job \"{}\" runs serially: {reason}", job.name);
        }
        return Ok(None);
    }
    refuse_null_keys(job, resolved, window, low, high)?;
    let plan = &resolved.plan;
    let segments = plan_segments(
        plan,
        &resolved.plan.dialect,
        kind,
        &read_shape(resolved)?,
        degree.segments,
    );
    if segments.len() < 2 {
        return Ok(None);
    }
    let tasks: Vec<SegmentTask> = segments
        .into_iter()
        .map(|segment| SegmentTask {
            slice: segment.describe(&plan.keys),
            statement: plan.segment_merge_statement(kind, window, &segment),
            segment,
        })
        .collect();
    record.segments = Some(tasks.len() as i32);
    let mut planned = record.clone();
    planned.status = crate::catalog::RunStatus::Running;
    let not_planned = match crate::recorder::commit_plan(&planned, segment_rows(job, record.run_id, &tasks)) {
        Written::Committed => None,
        Written::NoWorkerSlot => Some("no background worker slot is free to start a parallel run"),
        Written::WaitedForCaller => Some(
            "its plan could not be committed while this transaction holds a lock the catalog writer needs",
        ),
    };
    if let Some(reason) = not_planned {
        pgrx::notice!("sync job \"{}\" runs serially: {reason}", job.name);
        record.segments = None;
        return Ok(None);
    }
    let segments_total = tasks.len() as u32;
    let assignment = assignment(
        job,
        (record.run_id, record.run_id),
        segments_total,
        crate::window::for_window(&resolved.plan, window, low, high),
        tasks,
    )?;
    execute_assignment(&assignment, degree.segments).map(Some)
}

/// Segments commit on their own, so a window that must fail (a source row with a NULL key)
/// is refused before any of them starts. Skipped when the source declares its key NOT NULL.
fn refuse_null_keys(
    job: &Job,
    resolved: &Resolved,
    window: Window,
    low: &Option<String>,
    high: &Option<String>,
) -> SyncResult<()> {
    let declared_not_null = Spi::get_one_with_args::<bool>(
        "SELECT pg_catalog.count(*) OPERATOR(pg_catalog.=) pg_catalog.cardinality($2::text[]) \
           FROM pg_catalog.pg_attribute a \
          WHERE a.attrelid OPERATOR(pg_catalog.=) $1 AND a.attnotnull AND NOT a.attisdropped \
            AND a.attname::text OPERATOR(pg_catalog.=) ANY ($2::text[])",
        &[
            resolved.source.oid.into(),
            resolved.plan.keys.clone().into(),
        ],
    )
    .context("reading the source's NOT NULL constraints")?
    .unwrap_or(false);
    if declared_not_null {
        return Ok(());
    }
    let args = crate::window::args_of(&crate::window::for_window(
        &resolved.plan,
        window,
        low,
        high,
    ));
    let found = Spi::get_one_with_args::<bool>(&resolved.plan.null_key_exists(window), &args)
        .context("checking the window for NULL keys")?
        .unwrap_or(false);
    if found {
        return Err(crate::merge::null_key_error(
            job, resolved, window, &args, 1,
        ));
    }
    Ok(())
}

/// What the workers of a run get: `runs` = (the run that planned the segments, the run
/// doing the work now), the window's bounds and the tasks, in this database as the job owner.
fn assignment(
    job: &Job,
    runs: (i64, i64),
    segments_total: u32,
    bounds: Option<WindowBounds>,
    tasks: Vec<SegmentTask>,
) -> SyncResult<Assignment> {
    Ok(Assignment {
        database: unsafe { pg_sys::MyDatabaseId }.to_u32(),
        owner: job.owner.to_u32(),
        job_name: job.name.clone(),
        planned_by: runs.0,
        run_id: runs.1,
        segments_total,
        bounds,
        settings: dispatch::caller_settings()?,
        tasks,
    })
}

/// Runs an assignment on workers, or in this session when none can start.
fn execute_assignment(assignment: &Assignment, workers: u32) -> SyncResult<Totals> {
    match dispatch::run_on_workers(assignment, workers)? {
        Some(totals) => Ok(totals),
        None => {
            pgrx::notice!(
                "sync job \"{}\": no background worker could start; its {} segments run one after another in this session (raise max_worker_processes for parallel runs)",
                assignment.job_name,
                assignment.tasks.len()
            );
            dispatch::run_in_leader(assignment)
        }
    }
}

/// The planned segments as a JSON array for `INSERT_SEGMENTS_FROM_JSON`.
fn segment_rows(job: &Job, run_id: i64, tasks: &[SegmentTask]) -> String {
    serde_json::Value::Array(
        tasks
            .iter()
            .map(|t| {
                serde_json::json!({
                    "run_id": run_id,
                    "segment_no": t.segment.number,
                    "job_name": job.name,
                    "owner": job.owner_name,
                    "slice": t.slice,
                    "plan": t.segment,
                })
            })
            .collect(),
    )
    .to_string()
}

/// A parallel run whose window was not completed: its watermark never advanced.
#[derive(Debug, Clone)]
pub struct Unfinished {
    /// The run that planned the segments.
    pub planned_by: i64,
    /// The latest run that failed to finish them (the planner, or a failed resume).
    pub last_attempt: i64,
    pub kind: RunKind,
    pub window_low: Option<String>,
    pub window_high: Option<String>,
    pub segments_total: i32,
    /// The job was changed after the run was planned: its segments no longer fit.
    pub job_changed: bool,
    /// Segments not done, with their slices.
    pub segments: Vec<(Segment, String)>,
}

/// The job's unfinished parallel run, if the watermark has not moved past it since.
pub fn find_unfinished(job: &Job) -> SyncResult<Option<Unfinished>> {
    as_catalog_owner(|| {
        Spi::connect(|client| {
            let found = client
                .select(
                    "SELECT r.run_id, coalesce(r.resumes, r.run_id) FROM insync.runs r \
                      WHERE r.job_name = $1 AND r.segments IS NOT NULL AND r.status IN ('failed', 'running') \
                        AND r.run_id > coalesce((SELECT s.last_run_id FROM insync.job_state s WHERE s.job_name = $1), 0) \
                      ORDER BY r.run_id DESC LIMIT 1",
                    None,
                    &[job.name.clone().into()],
                )
                .context("looking for unfinished runs")?;
            let Some(row) = found.into_iter().next() else {
                return Ok(None);
            };
            let last_attempt = row.get::<i64>(1).context("run_id")?.unwrap_or(0);
            let planned_by = row.get::<i64>(2).context("run_id")?.unwrap_or(0);
            let planned = client
                .select(
                    "SELECT r.kind, r.window_low, r.window_high, r.segments, \
                            (SELECT j.updated_at > r.started_at FROM insync.jobs j WHERE j.job_name = r.job_name) \
                       FROM insync.runs r WHERE r.run_id = $1",
                    None,
                    &[planned_by.into()],
                )
                .context("reading the unfinished run")?;
            let Some(p) = planned.into_iter().next() else {
                return Ok(None);
            };
            let kind = p
                .get::<String>(1)
                .context("kind")?
                .as_deref()
                .and_then(RunKind::parse)
                .unwrap_or(RunKind::Incremental);
            let mut unfinished = Unfinished {
                planned_by,
                last_attempt,
                kind,
                window_low: p.get(2).context("window_low")?,
                window_high: p.get(3).context("window_high")?,
                segments_total: p.get::<i32>(4).context("segments")?.unwrap_or(0),
                job_changed: p.get::<bool>(5).context("updated_at")?.unwrap_or(false),
                segments: Vec::new(),
            };
            let rows = client
                .select(
                    "SELECT plan::text, slice FROM insync.run_segments \
                      WHERE run_id = $1 AND status <> 'done' ORDER BY segment_no",
                    None,
                    &[planned_by.into()],
                )
                .context("reading unfinished segments")?;
            for row in rows {
                let plan = row.get::<String>(1).context("plan")?.unwrap_or_default();
                let segment: Segment = serde_json::from_str(&plan).map_err(|e| {
                    error(
                        PgSqlErrorCode::ERRCODE_DATA_CORRUPTED,
                        format!("segment plan of run {planned_by}: {e}"),
                    )
                })?;
                unfinished.segments.push((
                    segment,
                    row.get::<String>(2).context("slice")?.unwrap_or_default(),
                ));
            }
            Ok(Some(unfinished))
        })
    })
}

/// Merges the unfinished segments over the run's own window, in the caller's subtransaction;
/// fills `record` and returns the watermark to advance to (the end of that window).
pub fn finish(
    job: &Job,
    resolved: &Resolved,
    unfinished: &Unfinished,
    record: &mut RunRecord,
) -> SyncResult<Option<String>> {
    let window = match (unfinished.kind, &unfinished.window_low) {
        (RunKind::Full, _) => Window::Everything,
        (_, None) => Window::UpTo,
        (_, Some(_)) => Window::Range,
    };
    let plan = &resolved.plan;
    let tasks: Vec<SegmentTask> = unfinished
        .segments
        .iter()
        .map(|(segment, slice)| SegmentTask {
            statement: plan.segment_merge_statement(unfinished.kind, window, segment),
            slice: slice.clone(),
            segment: segment.clone(),
        })
        .collect();
    let assignment = assignment(
        job,
        (unfinished.planned_by, record.run_id),
        unfinished.segments_total as u32,
        crate::window::for_window(
            &resolved.plan,
            window,
            &unfinished.window_low,
            &unfinished.window_high,
        ),
        tasks,
    )?;
    let workers = job.parallel.parse::<u32>().unwrap_or(2).max(2);
    let totals = if assignment.tasks.is_empty() {
        Totals::default()
    } else if let Some(reason) = reason_to_stay_serial(job, resolved)? {
        pgrx::notice!(
            "sync job \"{}\": resuming in this session: {reason}",
            job.name
        );
        dispatch::run_in_leader(&assignment)?
    } else {
        execute_assignment(&assignment, workers)?
    };
    record.segments = Some(assignment.tasks.len() as i32);
    totals.record(record);
    Ok(unfinished.window_high.clone())
}
