//! Job management: define, alter, drop. Validation happens here, before anything is written:
//! the job is resolved against the live catalog and its statements are planned (EXPLAIN), so
//! a job that is saved is a job that can run.

use crate::catalog::{self, Job, JoinPair, LookupDef, LookupJoin};
use crate::error::{error, error_with_hint, SyncResult};
use crate::plan::{RunKind, WatermarkKind, Window};
use crate::resolve::{self, lookup_relation};
use crate::subxact::{in_subtransaction, report_of, reworded};
use crate::window::WindowBounds;
use pgrx::prelude::*;
use pgrx::{pg_sys, PgSqlErrorCode};

/// A job definition as given by the user (names as typed, not yet resolved).
#[derive(Debug, Clone, Default)]
pub struct JobSpec {
    pub source: Option<String>,
    pub target: Option<String>,
    pub key: Option<Vec<String>>,
    pub mode: Option<String>,
    pub watermark: Option<String>,
    pub watermark_source: Option<String>,
    pub watermark_join: Option<Vec<String>>,
    pub source_filter: Option<String>,
    pub lookback: Option<String>,
    pub columns: Option<Vec<String>>,
    pub lookups: Option<serde_json::Value>,
    pub parallel: Option<String>,
    pub source_timezone: Option<String>,
    pub deletes: Option<String>,
    /// pg_cron schedule text; `''` clears it in sync_alter.
    pub schedule: Option<String>,
    /// Names of the jobs this one runs after; `'{}'` clears them in sync_alter.
    pub after: Option<Vec<String>>,
    /// Rows per backfill batch; `0` clears it.
    pub backfill_batch: Option<i32>,
}

/// What sync_define and sync_alter report back: the job as it will run.
pub struct JobSummary {
    pub job_name: String,
    pub source: String,
    pub target: String,
    pub key_columns: Vec<String>,
    pub mode: String,
    pub merge_strategy: String,
    pub columns: Vec<String>,
    /// Why rows committed late on the source could be skipped (for job_status), if they could.
    pub late_commit_risk: Option<String>,
}

pub fn define(name: &str, spec: JobSpec) -> SyncResult<JobSummary> {
    if name.trim().is_empty() {
        return Err(error(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            "sync job name must not be empty",
        ));
    }
    if catalog::job_exists(name)? {
        return Err(error_with_hint(
            PgSqlErrorCode::ERRCODE_DUPLICATE_OBJECT,
            format!("sync job \"{name}\" already exists"),
            "Use sync_alter to change it, or sync_drop to remove it first.",
        ));
    }
    let mut job = Job {
        name: name.to_string(),
        owner: unsafe { pg_sys::GetUserId() },
        mode: RunKind::Incremental,
        parallel: "auto".into(),
        deletes: "ignore".into(),
        ..Default::default()
    };
    apply(&mut job, spec, true)?;
    let summary = validate_as_owner(&mut job)?;
    catalog::save_job(&job, true, false)?;
    catalog::set_late_commit_risk(&job.name, summary.late_commit_risk.as_deref())?;
    // Last: a schedule pg_cron refuses fails the call, and the job row goes with it.
    if let Some(schedule) = &job.schedule {
        crate::schedule::install(&job, schedule)?;
    }
    Ok(summary)
}

pub fn alter(
    name: &str,
    new_name: Option<&str>,
    spec: JobSpec,
    reset_watermark: bool,
) -> SyncResult<JobSummary> {
    let mut job = catalog::load_job(name)?;
    let schedule_before = job.schedule.clone();
    let schedule_given = spec.schedule.is_some();
    let before = (
        job.watermark_column.clone(),
        job.watermark_relation,
        job.watermark_join.clone(),
    );
    let rows_before = (job.source, job.keys.clone());
    apply(&mut job, spec, false)?;
    if let Some(new_name) = new_name.filter(|n| *n != name) {
        if new_name.trim().is_empty() {
            return Err(error(
                PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
                "sync job name must not be empty",
            ));
        }
        if catalog::job_exists(new_name)? {
            return Err(error(
                PgSqlErrorCode::ERRCODE_DUPLICATE_OBJECT,
                format!("sync job \"{new_name}\" already exists"),
            ));
        }
        job.name = new_name.to_string();
    }
    let summary = validate_as_owner(&mut job)?;
    let watermark_moved = before
        != (
            job.watermark_column.clone(),
            job.watermark_relation,
            job.watermark_join.clone(),
        );
    if watermark_moved && !reset_watermark {
        pgrx::notice!(
            "the watermark of sync job \"{}\" changed; its next run reloads from the beginning",
            job.name
        );
    }
    // A backfill in progress loaded key ranges of this source: another source or key starts
    // it again (the watermark it leads to is reset with it).
    let backfill_restarts = job.backfill_state.as_deref() == Some("in progress")
        && rows_before != (job.source, job.keys.clone());
    if backfill_restarts && !reset_watermark && !watermark_moved {
        pgrx::notice!(
            "the source or key of sync job \"{}\" changed during its backfill; CALL sync_backfill('{}') starts it again",
            job.name,
            job.name
        );
    }
    catalog::save_job(
        &job,
        false,
        reset_watermark || watermark_moved || backfill_restarts,
    )?;
    catalog::set_late_commit_risk(&job.name, summary.late_commit_risk.as_deref())?;
    // The pg_cron entry follows: a rename moves it, a new schedule replaces it (giving the
    // same schedule again re-creates an entry that went missing, e.g. after a restore), ''
    // removes it. All in this transaction, so a refusal leaves the job as it was.
    let renamed = job.name != name;
    if schedule_before.is_some() && (renamed || job.schedule.is_none()) {
        crate::schedule::remove(name, job.owner)?;
    }
    if let Some(schedule) = &job.schedule {
        if schedule_given || renamed {
            crate::schedule::install(&job, schedule)?;
        }
    }
    Ok(summary)
}

pub fn drop_job(name: &str) -> SyncResult<()> {
    let job = catalog::load_job(name)?;
    crate::pipeline::refuse_drop_of_upstream(&job)?;
    catalog::delete_job(&job)?;
    if job.schedule.is_some() {
        crate::schedule::remove(&job.name, job.owner)?;
    }
    Ok(())
}

/// Empty text clears an optional setting in sync_alter; NULL leaves it alone.
fn cleared(value: String) -> Option<String> {
    (!value.trim().is_empty()).then_some(value)
}

/// `parallel` as a job setting: 'auto', or a number of segments from 1 (serial) to 99.
pub fn parse_parallel(job_name: &str, value: &str) -> SyncResult<String> {
    let value = value.trim().to_ascii_lowercase();
    let valid = value == "auto" || matches!(value.parse::<u32>(), Ok(1..=99));
    if valid {
        Ok(value.trim_start_matches('0').to_string())
    } else {
        Err(error_with_hint(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("sync job \"{job_name}\": parallel must be 'auto' or a number of segments from 1 to 99, not \"{value}\""),
            "parallel => '1' runs serially; 'auto' splits a run only when its window is large.",
        ))
    }
}

/// Applies the user's settings to `job`, resolving relation names.
fn apply(job: &mut Job, spec: JobSpec, defining: bool) -> SyncResult<()> {
    let name = job.name.clone();
    if let Some(parallel) = &spec.parallel {
        job.parallel = parse_parallel(&name, parallel)?;
    }
    let required = |v: Option<String>, what: &str| {
        v.ok_or_else(|| {
            error(
                PgSqlErrorCode::ERRCODE_NULL_VALUE_NOT_ALLOWED,
                format!("sync job \"{name}\" needs a {what}"),
            )
        })
    };
    if defining {
        let source = required(spec.source.clone(), "source")?;
        let target = required(spec.target.clone(), "target")?;
        job.source = lookup_relation(&source, "source", &name)?.oid;
        job.target = lookup_relation(&target, "target", &name)?.oid;
        job.keys = spec.key.clone().ok_or_else(|| {
            error(
                PgSqlErrorCode::ERRCODE_NULL_VALUE_NOT_ALLOWED,
                format!("sync job \"{name}\" needs key columns"),
            )
        })?;
    } else {
        if let Some(s) = &spec.source {
            job.source = lookup_relation(s, "source", &name)?.oid;
        }
        if let Some(t) = &spec.target {
            job.target = lookup_relation(t, "target", &name)?.oid;
        }
        if let Some(k) = &spec.key {
            job.keys = k.clone();
        }
    }
    if let Some(mode) = spec.mode {
        job.mode = RunKind::parse(&mode).ok_or_else(|| {
            error_with_hint(
                PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
                format!("mode \"{mode}\" of sync job \"{name}\" is not valid"),
                "Valid modes are incremental, full and append.",
            )
        })?;
    }
    if let Some(w) = spec.watermark {
        job.watermark_column = cleared(w);
    }
    if let Some(rel) = spec.watermark_source {
        job.watermark_relation = match cleared(rel) {
            Some(rel) => Some(lookup_relation(&rel, "watermark", &name)?.oid),
            None => None,
        };
        if job.watermark_relation.is_none() {
            job.watermark_join = None;
        }
    }
    if let Some(pairs) = spec.watermark_join {
        job.watermark_join = if pairs.is_empty() {
            None
        } else {
            Some(parse_join(&name, &pairs)?)
        };
    }
    if job.watermark_relation.is_some() != job.watermark_join.is_some() {
        return Err(error_with_hint(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("sync job \"{name}\" needs both watermark_source and watermark_join, or neither"),
            "Example: watermark => 'updated_at', watermark_source => 'ods.orders', watermark_join => '{order_id}'.",
        ));
    }
    if let Some(f) = spec.source_filter {
        job.source_filter = cleared(f);
    }
    if let Some(l) = spec.lookback {
        job.lookback = cleared(l);
    }
    if let Some(zone) = spec.source_timezone {
        job.source_timezone = cleared(zone);
        if let Some(zone) = &job.source_timezone {
            check_timezone(&name, zone)?;
        }
    }
    if let Some(deletes) = spec.deletes {
        let deletes = deletes.trim().to_ascii_lowercase();
        if deletes != "ignore" && deletes != "verify" {
            return Err(error_with_hint(
                PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
                format!("sync job \"{name}\": deletes must be 'ignore' or 'verify', not \"{deletes}\""),
                "deletes => 'verify' makes incremental runs delete target rows whose key left the source (a key-only comparison of both tables on every run).",
            ));
        }
        job.deletes = deletes;
    }
    if let Some(schedule) = spec.schedule {
        job.schedule = cleared(schedule);
    }
    if let Some(after) = &spec.after {
        job.upstreams = crate::pipeline::resolve_upstreams(&name, job.job_id, after)?;
    }
    if let Some(n) = spec.backfill_batch {
        if n < 0 {
            return Err(error_with_hint(
                PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
                format!("sync job \"{name}\": backfill_batch must be a number of rows, not {n}"),
                "backfill_batch => 100000 loads the first rows in batches of 100,000 (CALL sync_backfill); 0 loads them in one run.",
            ));
        }
        job.backfill_batch = (n > 0).then_some(n);
    }
    if let Some(c) = spec.columns {
        job.columns = if c.is_empty() { None } else { Some(c) };
    }
    if let Some(l) = spec.lookups {
        job.lookups = parse_lookups(&name, &l)?;
    }
    Ok(())
}

/// A zone name Postgres knows (`Europe/Paris`, `UTC`, `+02`), tried on a timestamp.
fn check_timezone(job: &str, zone: &str) -> SyncResult<()> {
    let zone_owned = zone.to_string();
    let known = in_subtransaction(move || {
        Spi::get_one_with_args::<bool>(
            "SELECT (TIMESTAMP '2000-01-01' AT TIME ZONE $1) IS NOT NULL",
            &[zone_owned.into()],
        )
    });
    match known {
        Ok(Ok(Some(true))) => Ok(()),
        _ => Err(error_with_hint(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("source_timezone '{zone}' of sync job \"{job}\" is not a time zone"),
            "Give a zone name as in pg_timezone_names, e.g. source_timezone => 'America/New_York'.",
        )),
    }
}

/// One entry of the `lookups` argument, as the user writes it. Unknown keys are refused (a
/// typo such as `curent_by` must not be ignored).
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct LookupSpec {
    column: String,
    dimension: String,
    join_on: Vec<String>,
    value: String,
    #[serde(default)]
    current_by: Option<String>,
    #[serde(default)]
    current_flag: Option<String>,
}

/// `[{"column": "store_org_id", "dimension": "dw.dim_store", "join_on": ["store_id"],
///    "value": "org_id", "current_by": "valid_from"}]`; `[]` clears the lookups.
fn parse_lookups(job: &str, spec: &serde_json::Value) -> SyncResult<Option<Vec<LookupDef>>> {
    let invalid = |what: String| {
        error_with_hint(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("lookups of sync job \"{job}\": {what}"),
            "Example: lookups => '[{\"column\": \"store_org_id\", \"dimension\": \"dw.dim_store\", \
             \"join_on\": [\"store_id\"], \"value\": \"org_id\", \"current_by\": \"valid_from\"}]'.",
        )
    };
    let items = spec
        .as_array()
        .ok_or_else(|| invalid("must be a JSON array".into()))?;
    let mut out = Vec::new();
    for (n, item) in items.iter().enumerate() {
        let spec: LookupSpec = serde_json::from_value(item.clone())
            .map_err(|e| invalid(format!("entry {}: {e}", n + 1)))?;
        if spec.join_on.is_empty() {
            return Err(invalid(format!(
                "lookup of \"{}\" needs \"join_on\", a list of columns",
                spec.column
            )));
        }
        if spec.current_by.is_some() && spec.current_flag.is_some() {
            return Err(invalid(format!(
                "lookup of \"{}\": give \"current_by\" or \"current_flag\", not both",
                spec.column
            )));
        }
        let join = spec
            .join_on
            .iter()
            .map(|p| {
                crate::plan::column_pair(p)
                    .map(|(source, dimension)| LookupJoin { source, dimension })
                    .ok_or_else(|| {
                        invalid(format!(
                            "join_on entry \"{p}\" must be column or source_column=dimension_column"
                        ))
                    })
            })
            .collect::<SyncResult<Vec<_>>>()?;
        let dimension = lookup_relation(&spec.dimension, "dimension", job)?
            .oid
            .to_u32();
        out.push(LookupDef {
            column: spec.column,
            dimension,
            join,
            value: spec.value,
            current_by: spec.current_by,
            current_flag: spec.current_flag,
        });
    }
    Ok(if out.is_empty() { None } else { Some(out) })
}

/// `{order_id}` (same name on both sides) or `{line_order_id=order_id}` (source=related).
fn parse_join(job: &str, pairs: &[String]) -> SyncResult<Vec<JoinPair>> {
    pairs
        .iter()
        .map(|p| {
            crate::plan::column_pair(p)
                .map(|(source, related)| JoinPair { source, related })
                .ok_or_else(|| error(
                    PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
                    format!("watermark_join entry \"{p}\" of sync job \"{job}\" must be column or source_column=related_column"),
                ))
        })
        .collect()
}

/// An integer watermark is safe from late commits when a local sequence hands out its values
/// (runs wait for the transactions holding them). Otherwise say so now, and return the risk
/// job_status shows.
fn warn_unguarded_integer_watermark(
    job: &Job,
    resolved: &resolve::Resolved,
) -> SyncResult<Option<String>> {
    let Some(wm) = &resolved.plan.watermark else {
        return Ok(None);
    };
    if wm.kind != crate::plan::WatermarkKind::Integer || job.lookback.is_some() {
        return Ok(None);
    }
    let guarded = match &resolved.watermark_table {
        Some(table) => !crate::window::feeding_sequences(table.oid, &wm.column)?.is_empty(),
        None => false,
    };
    if guarded {
        return Ok(None);
    }
    crate::error::error_with_hint(
        PgSqlErrorCode::ERRCODE_WARNING,
        format!(
            "sync job \"{}\": integer watermark \"{}\" is not filled from a sequence default of a local table, so a value an open transaction holds and commits below a later run's bound is skipped",
            job.name, wm.column
        ),
        "Give the job a lookback (e.g. lookback => '1000') to re-read that many values on every run.",
    )
    .report(pgrx::PgLogLevel::NOTICE);
    Ok(Some(format!(
        "integer watermark \"{}\" is not filled from a local sequence, so values committed late are skipped (set a lookback)",
        wm.column
    )))
}

/// A time watermark read through another server is safe from late commits only when the
/// mapped remote role sees every session's transaction start there: warn when it does not,
/// and return the risk job_status shows.
fn warn_exposed_remote_watermark(
    job: &Job,
    resolved: &resolve::Resolved,
) -> SyncResult<Option<String>> {
    let (Some(wm), Some(rel)) = (&resolved.plan.watermark, &resolved.watermark_relation) else {
        return Ok(None);
    };
    if wm.kind == crate::plan::WatermarkKind::Integer || rel.kind != 'f' {
        return Ok(None);
    }
    let Some(server) = crate::remote::server_of(rel.oid)? else {
        return Ok(None);
    };
    if !server.postgres_fdw {
        return Ok(job
            .lookback
            .is_none()
            .then(|| crate::remote::unknown_server_risk(&server)));
    }
    let reader = server.clone();
    let sees_all = match in_subtransaction(move || crate::remote::probe_at_definition(&reader)) {
        Ok(sees_all) => sees_all?,
        Err(caught) => {
            return Err(reworded(
                &caught,
                format!(
                    "sync job \"{}\" is invalid: reading server \"{}\": {}",
                    job.name,
                    server.name,
                    report_of(&caught).message()
                ),
            ))
        }
    };
    if sees_all != Some(false) || job.lookback.is_some() {
        return Ok(None);
    }
    error_with_hint(
        PgSqlErrorCode::ERRCODE_WARNING,
        format!(
            "sync job \"{}\": the role mapped on server \"{}\" cannot see other sessions' transactions there, so a row committed late on the source (stamped before a run, committed after it) would be skipped",
            job.name, server.name
        ),
        "On the source, GRANT pg_read_all_stats to the mapped role; or give the job a lookback that covers your longest transactions (e.g. lookback => '10 minutes').",
    )
    .report(pgrx::PgLogLevel::WARNING);
    Ok(Some(crate::remote::hidden_sessions_risk(&server)))
}

/// Validates the job as its owner, exactly as its runs will see it: the owner's privileges,
/// in a security-restricted operation, under insync's pinned search_path (so a filter naming
/// an unqualified function of the owner's is refused now rather than at the first run).
fn validate_as_owner(job: &mut Job) -> SyncResult<JobSummary> {
    if let Some(filter) = &job.source_filter {
        check_single_expression(&job.name, filter)?;
    }
    let owner = job.owner;
    crate::security::as_role(owner, || validate(job))
}

/// Resolves the job, checks privileges, settings and that its statements plan.
fn validate(job: &mut Job) -> SyncResult<JobSummary> {
    let name = job.name.clone();
    let resolved = resolve::resolve(job)?;
    job.watermark_type = resolve::watermark_type_oid(job)?;
    check_privilege(&resolved.source, "SELECT", &name, "read")?;
    check_privilege(&resolved.target, "INSERT", &name, "write")?;

    if let Some(lookback) = &job.lookback {
        let wm = resolved.plan.watermark.as_ref().ok_or_else(|| {
            error(
                PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
                format!("sync job \"{name}\" has a lookback but no watermark"),
            )
            .set_hint("A lookback re-reads before the watermark; give the job a watermark, or clear the lookback with lookback => ''.")
        })?;
        check_lookback(&name, lookback, wm.kind)?;
    }
    let integer_risk = warn_unguarded_integer_watermark(job, &resolved)?;
    // First, before a planning estimate opens the remote transaction on its own.
    let remote_risk = warn_exposed_remote_watermark(job, &resolved)?;
    let statements: &[(RunKind, Window)] = match job.mode {
        RunKind::Full => &[(RunKind::Full, Window::Everything)],
        RunKind::Append => &[
            (RunKind::Append, Window::Range),
            (RunKind::Full, Window::Everything),
        ],
        RunKind::Incremental => &[
            (RunKind::Incremental, Window::Range),
            (RunKind::Full, Window::Everything),
        ],
    };
    for &(kind, window) in statements {
        // One writer per statement (Greenplum-family engines): a run stages its window, so the
        // window's read is what can be planned before the run creates the staging table.
        let statement = if resolved.plan.dialect.writers_per_with {
            resolved.plan.merge_statement(kind, window)
        } else {
            resolved.plan.source_rows(window)
        };
        let explain = format!("EXPLAIN (COSTS OFF) {statement}");
        let args = match (&resolved.plan.watermark, window) {
            (Some(wm), Window::Range | Window::UpTo) => WindowBounds::unbound(wm.kind).args(),
            _ => vec![],
        };
        probe(&name, "its statements", move || {
            Spi::connect_mut(|client| client.update(explain.as_str(), None, &args).map(|_| ()))
        })?;
    }
    // EXPLAIN never connects to a foreign server: read it now, so an unreachable server or a
    // missing user mapping is found at definition, not by the first scheduled run.
    if let Some(foreign) = resolved.foreign_relation() {
        let read_one = format!("SELECT FROM {} LIMIT 1", foreign.relation.sql());
        probe(&name, "reading its foreign table", move || {
            Spi::connect(|client| client.select(read_one.as_str(), None, &[]).map(|_| ()))
        })?;
    }
    Ok(JobSummary {
        late_commit_risk: integer_risk.or(remote_risk),
        job_name: name,
        source: resolved.source.display(),
        target: resolved.target.display(),
        key_columns: job.keys.clone(),
        mode: job.mode.to_string(),
        merge_strategy: match resolved.plan.strategy {
            crate::plan::MergeStrategy::Upsert => "upsert".into(),
            crate::plan::MergeStrategy::DeleteInsert => "delete+insert".into(),
        },
        columns: resolved
            .plan
            .columns
            .iter()
            .map(|c| c.name.clone())
            .collect(),
    })
}

fn check_privilege(
    rel: &resolve::RelationInfo,
    privilege: &str,
    job: &str,
    verb: &str,
) -> SyncResult<()> {
    let ok = resolve::has_table_privilege(rel.oid, privilege)?;
    if ok {
        Ok(())
    } else {
        Err(error(
            PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
            format!(
                "permission denied to {verb} {} for sync job \"{job}\" (needs {privilege})",
                rel.display()
            ),
        ))
    }
}

/// Runs a validation statement in a subtransaction; its error is reworded to name the job.
fn probe(
    job: &str,
    what: &str,
    f: impl FnOnce() -> Result<(), pgrx::spi::Error> + std::panic::UnwindSafe,
) -> SyncResult<()> {
    match in_subtransaction(f) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(error(
            PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
            format!("sync job \"{job}\": {what}: {e}"),
        )),
        Err(caught) => {
            let report = report_of(&caught);
            let message = format!(
                "sync job \"{job}\" is invalid: {what}: {}",
                report.message()
            );
            let unresolved = [
                PgSqlErrorCode::ERRCODE_UNDEFINED_FUNCTION,
                PgSqlErrorCode::ERRCODE_UNDEFINED_TABLE,
            ]
            .contains(&report.sql_error_code());
            let mut error = reworded(&caught, message);
            if unresolved {
                // The one surprise of running under a pinned search_path: say so.
                error = error.set_hint(
                    "Jobs run with search_path = pg_catalog, pg_temp: schema-qualify the functions and tables a source_filter names, e.g. ods.is_active(id).",
                );
            }
            Err(error)
        }
    }
}

/// The longest lookback a job may declare: re-reading more than this on every run is a full
/// sync in disguise (and far larger values overflow the window's bounds).
const MAX_LOOKBACK_INTERVAL: &str = "10 years";
const MAX_LOOKBACK_NUMBER: i64 = 1_000_000_000_000;

/// A lookback is an interval (time watermarks) or a number (integer ones), from zero up to a
/// sane maximum: a negative one would silently skip changes.
fn check_lookback(job: &str, lookback: &str, kind: WatermarkKind) -> SyncResult<()> {
    let (sql, range) = match kind {
        WatermarkKind::Integer => (
            format!("SELECT $1::pg_catalog.int8 >= 0 AND $1::pg_catalog.int8 <= {MAX_LOOKBACK_NUMBER}"),
            format!("a number from 0 to {MAX_LOOKBACK_NUMBER}"),
        ),
        _ => (
            format!(
                "SELECT $1::pg_catalog.interval >= interval '0' AND $1::pg_catalog.interval <= interval '{MAX_LOOKBACK_INTERVAL}'"
            ),
            format!("an interval from '0' to '{MAX_LOOKBACK_INTERVAL}'"),
        ),
    };
    let owned = lookback.to_string();
    let in_range = in_subtransaction(move || {
        Spi::get_one_with_args::<bool>(&sql, &[owned.into()])
            .ok()
            .flatten()
    })
    .ok()
    .flatten();
    match in_range {
        Some(true) => Ok(()),
        _ => Err(error_with_hint(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("lookback '{lookback}' of sync job \"{job}\" is not valid: it must be {range}"),
            "The lookback re-reads that much before the watermark on every run, e.g. lookback => '15 minutes'.",
        )),
    }
}

/// A filter is exactly one boolean expression: parsed as the WHERE clause of a one-table
/// SELECT, that SELECT must have nothing but its WHERE clause. Closing the parenthesis to add
/// a UNION, an ORDER BY, a LIMIT, a locking clause or another statement changes the
/// statement's shape and is refused. (Subqueries inside the expression stay allowed; they run
/// as the job owner like the rest of the run.)
fn check_single_expression(job: &str, filter: &str) -> SyncResult<()> {
    let probe_sql = format!("SELECT 1 FROM insync_source WHERE (\n{filter}\n)");
    let cstr = std::ffi::CString::new(probe_sql).map_err(|_| {
        error(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("source_filter of sync job \"{job}\" contains a NUL byte"),
        )
    })?;
    // SAFETY: raw parsing only (no catalog access); the lists are read while still valid.
    let shape_ok = in_subtransaction(move || unsafe {
        #[cfg(feature = "pg13")]
        let list = pg_sys::raw_parser(cstr.as_ptr());
        #[cfg(not(feature = "pg13"))]
        let list = pg_sys::raw_parser(cstr.as_ptr(), pg_sys::RawParseMode::RAW_PARSE_DEFAULT);
        let statements = pgrx::PgList::<pg_sys::RawStmt>::from_pg(list);
        if statements.len() != 1 {
            return false;
        }
        let Some(raw) = statements.get_ptr(0) else {
            return false;
        };
        let node = (*raw).stmt;
        if !pgrx::is_a(node, pg_sys::NodeTag::T_SelectStmt) {
            return false;
        }
        let select = &*(node as *const pg_sys::SelectStmt);
        let len = |l: *mut pg_sys::List| if l.is_null() { 0 } else { (*l).length };
        select.op == pg_sys::SetOperation::SETOP_NONE
            && select.distinctClause.is_null()
            && select.intoClause.is_null()
            && len(select.targetList) == 1
            && len(select.fromClause) == 1
            && !select.whereClause.is_null()
            && select.groupClause.is_null()
            && !select.groupDistinct
            && select.havingClause.is_null()
            && select.windowClause.is_null()
            && select.valuesLists.is_null()
            && select.sortClause.is_null()
            && select.limitOffset.is_null()
            && select.limitCount.is_null()
            && select.lockingClause.is_null()
            && select.withClause.is_null()
    });
    match shape_ok {
        Ok(true) => Ok(()),
        Ok(false) => Err(error_with_hint(
            PgSqlErrorCode::ERRCODE_SYNTAX_ERROR,
            format!("source_filter of sync job \"{job}\" must be a single boolean expression"),
            "Write a WHERE-clause condition such as data_source = 'crm'; it cannot close its parentheses to add clauses or statements.",
        )),
        Err(caught) => Err(error(
            report_of(&caught).sql_error_code(),
            format!(
                "source_filter of sync job \"{job}\" is invalid: {}",
                report_of(&caught).message()
            ),
        )),
    }
}
