//! Upstream jobs: a job defined `after => '{orders}'` runs only once its upstreams have
//! succeeded. Three ways in:
//! - `sync_run` (and a job's own schedule) runs the job when the latest run of each upstream
//!   succeeded; otherwise the run is recorded as `skipped`, with the reason;
//! - a job's pg_cron entry (`sync_run_scheduled`) runs the job, then the jobs downstream of it
//!   that have no schedule of their own, in dependency order, in the same tick;
//! - `sync_run_all(jobs)` runs a set of jobs (all the caller may run, or the named ones) in
//!   dependency order: one cron entry for a whole pipeline.
//!
//! A job whose upstream failed or was skipped in the same pass is skipped too, with the
//! reason recorded in `insync.runs`; each job runs in a subtransaction of its own, so one
//! failure does not undo the others. Ordering and cycle detection are `plan::pipeline`.

use crate::catalog::{self, GraphNode, Job, RunRecord, RunStatus};
use crate::error::{error, error_with_hint, SyncResult};
use crate::plan::pipeline::{cycle_with, dependency_order, downstream, Graph};
use crate::subxact::{in_subtransaction, report_of, reworded};
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::PgSqlErrorCode;
use std::collections::BTreeMap;

/// What one job of a pass came to.
pub struct Outcome {
    pub job_name: String,
    pub run: Option<RunRecord>,
    pub status: String,
    pub message: Option<String>,
}

fn graph_of(nodes: &[GraphNode]) -> Graph {
    nodes
        .iter()
        .map(|n| (n.job_id, n.upstreams.clone()))
        .collect()
}

/// The job ids of the upstreams the user named (`after => '{orders}'`): jobs the caller can
/// see; none repeated; no cycle through `job_id` (0 for a job being defined, which nothing
/// can run after yet).
pub fn resolve_upstreams(
    job_name: &str,
    job_id: i64,
    names: &[String],
) -> SyncResult<Option<Vec<i64>>> {
    if names.is_empty() {
        return Ok(None);
    }
    let mut ids = Vec::new();
    for name in names {
        let upstream = catalog::load_job(name).map_err(|e| {
            error_with_hint(
                PgSqlErrorCode::ERRCODE_UNDEFINED_OBJECT,
                format!(
                    "sync job \"{job_name}\" cannot run after \"{name}\": {}",
                    e.message()
                ),
                "SELECT job_name FROM insync.jobs lists the jobs you can see.",
            )
        })?;
        if !ids.contains(&upstream.job_id) {
            ids.push(upstream.job_id);
        }
    }
    if job_id != 0 {
        let nodes = catalog::job_graph()?;
        if let Some(cycle) = cycle_with(job_id, &ids, &graph_of(&nodes)) {
            let by_id: BTreeMap<i64, &str> =
                nodes.iter().map(|n| (n.job_id, n.name.as_str())).collect();
            let path = cycle
                .iter()
                .map(|id| {
                    if *id == job_id {
                        job_name
                    } else {
                        by_id.get(id).copied().unwrap_or("?")
                    }
                })
                .map(|n| format!("\"{n}\""))
                .collect::<Vec<_>>()
                .join(" after ");
            let upstreams = names
                .iter()
                .map(|n| format!("\"{n}\""))
                .collect::<Vec<_>>()
                .join(", ");
            return Err(error_with_hint(
                PgSqlErrorCode::ERRCODE_INVALID_OBJECT_DEFINITION,
                format!("sync job \"{job_name}\" cannot run after {upstreams}: that makes a cycle ({path})"),
                "Jobs run after their upstreams, so upstreams cannot form a loop; sync_alter(job, after => ...) changes a job's upstreams.",
            ));
        }
    }
    Ok(Some(ids))
}

/// A job cannot be dropped while others run after it.
pub fn refuse_drop_of_upstream(job: &Job) -> SyncResult<()> {
    let dependents: Vec<GraphNode> = catalog::job_graph()?
        .into_iter()
        .filter(|n| n.upstreams.contains(&job.job_id))
        .collect();
    if dependents.is_empty() {
        return Ok(());
    }
    let mut visible = Vec::new();
    let mut hidden = 0;
    for d in &dependents {
        if crate::security::is_member_of(d.owner)? {
            visible.push(format!("\"{}\"", d.name));
        } else {
            hidden += 1;
        }
    }
    if hidden > 0 {
        visible.push(format!("{hidden} job(s) of other roles"));
    }
    Err(error_with_hint(
        PgSqlErrorCode::ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST,
        format!(
            "sync job \"{}\" cannot be dropped: other jobs run after it ({})",
            job.name,
            visible.join(", ")
        ),
        "Drop those jobs first, or take this one out of their upstreams with sync_alter(job, after => '{}').",
    ))
}

/// Why `job` may not run now, judged by the latest run of each upstream (and, within a pass,
/// by what the upstream came to in it); `None`: it may.
fn blocked_by(
    job: &Job,
    nodes: &[GraphNode],
    this_pass: &BTreeMap<i64, String>,
) -> SyncResult<Option<String>> {
    for up in job.upstreams.iter().flatten() {
        let Some(node) = nodes.iter().find(|n| n.job_id == *up) else {
            continue;
        };
        if let Some(status) = this_pass.get(up) {
            if status != RunStatus::Succeeded.as_str() {
                return Ok(Some(format!(
                    "upstream job \"{}\" {status} in the same pass",
                    node.name
                )));
            }
            continue;
        }
        match catalog::latest_run(&node.name)? {
            Some((status, _)) if status == RunStatus::Succeeded.as_str() => {}
            Some((status, run_id)) => {
                return Ok(Some(format!(
                    "upstream job \"{}\" has not succeeded: its last run ({run_id}) {status}",
                    node.name
                )))
            }
            None => {
                return Ok(Some(format!(
                    "upstream job \"{}\" has not run yet",
                    node.name
                )))
            }
        }
    }
    Ok(None)
}

/// Records (in this transaction, or on its own when `autonomous`) that `job` was skipped.
fn record_skip(job: &Job, why: &str, scheduled: bool, autonomous: bool) -> SyncResult<RunRecord> {
    let record = RunRecord {
        run_id: catalog::next_run_id()?,
        job_name: job.name.clone(),
        owner: job.owner_name.clone(),
        kind: job.mode,
        status: RunStatus::Skipped,
        started_at: crate::backend::now_text(),
        finished_at: Some(crate::backend::now_text()),
        error_message: Some(why.to_string()),
        run_by: crate::backend::current_role_text(),
        run_xact: catalog::current_xact()?,
        scheduled,
        ..Default::default()
    };
    if autonomous {
        crate::recorder::record_failed_run(&record);
    } else {
        catalog::record_run(&record, None)?;
    }
    Ok(record)
}

/// `sync_run`: the job the way its mode says, if its upstreams' latest runs succeeded;
/// otherwise a `skipped` run recording why (with a NOTICE).
pub fn run_one(job_name: &str, parallel: Option<i32>) -> SyncResult<RunRecord> {
    let job = catalog::load_job(job_name)?;
    if job.upstreams.is_some() {
        let nodes = catalog::job_graph()?;
        if let Some(why) = blocked_by(&job, &nodes, &BTreeMap::new())? {
            pgrx::notice!("sync job \"{job_name}\" skipped: {why}");
            return record_skip(&job, &why, false, false);
        }
    }
    crate::execute::run_job(job_name, None, parallel, false)
}

/// `sync_run_scheduled`: the job (gated like [`run_one`]), then the jobs downstream of it that
/// have no schedule of their own, in dependency order. A failure of the job itself is raised
/// (pg_cron records it), its dependents' skips recorded on their own; a failure further down
/// is a WARNING and a row, so what succeeded stays committed.
pub fn run_scheduled(job_name: &str) -> SyncResult<Vec<Outcome>> {
    let root = catalog::load_job(job_name)?;
    let nodes = catalog::job_graph()?;
    let graph = graph_of(&nodes);
    let below = downstream(root.job_id, &graph);
    // Downstream jobs reached only through unscheduled jobs, which the owner may run.
    let mut set = vec![root.job_id];
    for n in &nodes {
        if below.contains(&n.job_id) && !n.scheduled && crate::security::is_member_of(n.owner)? {
            set.push(n.job_id);
        }
    }
    run_pass(&set, &nodes, true, Some(root.job_id))
}

/// `sync_run_all`: the named jobs (or every job the caller may run) in dependency order.
pub fn run_all(names: Option<Vec<String>>) -> SyncResult<Vec<Outcome>> {
    let nodes = catalog::job_graph()?;
    let mut set = Vec::new();
    match names {
        Some(names) => {
            for name in names {
                let job = catalog::load_job(&name)?;
                if !set.contains(&job.job_id) {
                    set.push(job.job_id);
                }
            }
        }
        None => {
            for n in &nodes {
                if crate::security::is_member_of(n.owner)? {
                    set.push(n.job_id);
                }
            }
        }
    }
    run_pass(&set, &nodes, false, None)
}

fn run_pass(
    set: &[i64],
    nodes: &[GraphNode],
    scheduled: bool,
    raise_for: Option<i64>,
) -> SyncResult<Vec<Outcome>> {
    let order = dependency_order(set, &graph_of(nodes)).map_err(|cycle| {
        error(
            PgSqlErrorCode::ERRCODE_INVALID_OBJECT_DEFINITION,
            format!("sync jobs form a cycle of upstreams (job ids {cycle:?})"),
        )
    })?;
    let mut this_pass: BTreeMap<i64, String> = BTreeMap::new();
    let mut outcomes = Vec::new();
    let mut raised: Option<ErrorReport> = None;
    for id in order {
        let Some(node) = nodes.iter().find(|n| n.job_id == id) else {
            continue;
        };
        let job = catalog::load_job(&node.name)?;
        if let Some(why) = blocked_by(&job, nodes, &this_pass)? {
            let record = record_skip(&job, &why, scheduled, raised.is_some())?;
            this_pass.insert(id, record.status.as_str().to_string());
            outcomes.push(Outcome {
                job_name: job.name.clone(),
                status: record.status.as_str().into(),
                message: Some(why),
                run: Some(record),
            });
            continue;
        }
        let name = job.name.clone();
        let attempt =
            in_subtransaction(move || crate::execute::run_job(&name, None, None, scheduled));
        let outcome = match attempt {
            Ok(Ok(record)) => Outcome {
                job_name: job.name.clone(),
                status: record.status.as_str().into(),
                message: record.error_message.clone(),
                run: Some(record),
            },
            Ok(Err(report)) => {
                let message = report.message().to_string();
                if raise_for == Some(id) {
                    raised = Some(report);
                } else {
                    pgrx::warning!("sync job \"{}\" failed: {message}", job.name);
                }
                Outcome {
                    job_name: job.name.clone(),
                    status: RunStatus::Failed.as_str().into(),
                    message: Some(message),
                    run: None,
                }
            }
            Err(caught) => {
                let message = report_of(&caught).message().to_string();
                if raise_for == Some(id) {
                    raised = Some(reworded(&caught, message.clone()));
                } else {
                    pgrx::warning!("sync job \"{}\" failed: {message}", job.name);
                }
                Outcome {
                    job_name: job.name.clone(),
                    status: RunStatus::Failed.as_str().into(),
                    message: Some(message),
                    run: None,
                }
            }
        };
        this_pass.insert(id, outcome.status.clone());
        outcomes.push(outcome);
    }
    match raised {
        Some(report) => Err(report),
        None => Ok(outcomes),
    }
}
