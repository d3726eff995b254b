//! The catalog: reading jobs and state, writing jobs, state and runs.
//!
//! Users only have SELECT on the catalog (under row-level security). Writes go through
//! [`as_catalog_owner`], which switches to the extension's owner for the one statement, with
//! a pinned search_path, exactly as a SECURITY DEFINER function with `SET search_path` would.

use crate::error::{error, error_with_hint, SpiContext, SyncResult};
use crate::plan::RunKind;
use pgrx::prelude::*;
use pgrx::{pg_sys, PgSqlErrorCode};
use serde::{Deserialize, Serialize};

/// Runs `f` as the extension owner (see [`crate::security::as_role`]): the only identity that
/// writes the catalog. No user expression is evaluated inside.
pub fn as_catalog_owner<R>(f: impl FnOnce() -> SyncResult<R>) -> SyncResult<R> {
    let owner = extension_owner()?;
    crate::security::as_role(owner, f)
}

thread_local! {
    /// The extension owner as read in one transaction (its start timestamp): a run asks for it
    /// at every catalog write, and it cannot change under a running transaction's feet
    /// without ALTER EXTENSION, which insync's own calls never do.
    static OWNER_THIS_TRANSACTION: std::cell::Cell<Option<(i64, pg_sys::Oid)>> =
        const { std::cell::Cell::new(None) };
}

/// The role that owns the extension, and with it the catalog.
pub fn extension_owner() -> SyncResult<pg_sys::Oid> {
    // SAFETY: reads the current transaction's start timestamp, a plain backend global.
    let xact = unsafe { pg_sys::GetCurrentTransactionStartTimestamp() };
    if let Some((seen_in, owner)) = OWNER_THIS_TRANSACTION.with(|c| c.get()) {
        if seen_in == xact {
            return Ok(owner);
        }
    }
    let owner = extension_owner_from_catalog().ok_or_else(|| {
        error(
            PgSqlErrorCode::ERRCODE_UNDEFINED_OBJECT,
            "extension \"insync\" is not installed",
        )
    })?;
    OWNER_THIS_TRANSACTION.with(|c| c.set(Some((xact, owner))));
    Ok(owner)
}

/// `SELECT extowner FROM pg_extension WHERE extname = 'insync'`, by an index scan of the
/// catalog rather than a statement (every run needs it; a statement is parsed and planned from
/// cold caches on each session's first run).
fn extension_owner_from_catalog() -> Option<pg_sys::Oid> {
    // SAFETY: the same scan get_extension_oid makes; the tuple is read before the scan ends.
    unsafe {
        let catalog = pg_sys::table_open(
            pg_sys::ExtensionRelationId,
            pg_sys::AccessShareLock as pg_sys::LOCKMODE,
        );
        let mut key: pg_sys::ScanKeyData = std::mem::zeroed();
        pg_sys::ScanKeyInit(
            &mut key,
            pg_sys::Anum_pg_extension_extname as pg_sys::AttrNumber,
            pg_sys::BTEqualStrategyNumber as pg_sys::StrategyNumber,
            pg_sys::Oid::from(pg_sys::F_NAMEEQ),
            pg_sys::Datum::from(c"insync".as_ptr()),
        );
        let scan = pg_sys::systable_beginscan(
            catalog,
            pg_sys::Oid::from(pg_sys::ExtensionNameIndexId),
            true,
            std::ptr::null_mut(),
            1,
            &mut key,
        );
        let tuple = pg_sys::systable_getnext(scan);
        let owner = (!tuple.is_null()).then(|| {
            (*pg_sys::heap_tuple_get_struct::<pg_sys::FormData_pg_extension>(tuple)).extowner
        });
        pg_sys::systable_endscan(scan);
        pg_sys::table_close(catalog, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
        owner
    }
}

/// A job as stored in `insync.jobs`.
#[derive(Debug, Clone, Default)]
pub struct Job {
    pub job_id: i64,
    pub name: String,
    pub owner: pg_sys::Oid,
    pub owner_name: String,
    pub source: pg_sys::Oid,
    pub target: pg_sys::Oid,
    pub keys: Vec<String>,
    pub mode: RunKind,
    pub watermark_column: Option<String>,
    pub watermark_type: Option<pg_sys::Oid>,
    pub watermark_relation: Option<pg_sys::Oid>,
    pub watermark_join: Option<Vec<JoinPair>>,
    pub source_filter: Option<String>,
    pub lookback: Option<String>,
    pub columns: Option<Vec<String>>,
    pub lookups: Option<Vec<LookupDef>>,
    /// Segments per run: "auto", or a number (1 = serial).
    pub parallel: String,
    /// The zone a `timestamp without time zone` watermark is written in on the source.
    pub source_timezone: Option<String>,
    /// What incremental runs do about keys that left the source: "ignore", or "verify"
    /// (a key-only bucket comparison after the merge deletes them, quarantined).
    pub deletes: String,
    /// pg_cron schedule text (`*/5 * * * *`); the job then has the pg_cron entry
    /// `insync:<job>` (see `crate::schedule`).
    pub schedule: Option<String>,
    /// The jobs (by job_id, so renames keep the link) this job runs after.
    pub upstreams: Option<Vec<i64>>,
    /// Rows per batch of the job's first load (`CALL sync_backfill`); `None`: the first load is
    /// one run, as any other.
    pub backfill_batch: Option<i32>,
    /// The state of the job's backfill (`insync.backfills.state`), read with the job.
    pub backfill_state: Option<String>,
}

/// A dimension lookup as stored in `insync.jobs.lookups`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LookupDef {
    pub column: String,
    pub dimension: u32,
    pub join: Vec<LookupJoin>,
    pub value: String,
    #[serde(default)]
    pub current_by: Option<String>,
    #[serde(default)]
    pub current_flag: Option<String>,
}

/// One `source = dimension` column pair of a lookup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LookupJoin {
    pub source: String,
    pub dimension: String,
}

/// One `source = related` column pair of a related-table watermark.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinPair {
    pub source: String,
    pub related: String,
}

fn unknown_job(name: &str) -> pgrx::pg_sys::panic::ErrorReport {
    error_with_hint(
        PgSqlErrorCode::ERRCODE_UNDEFINED_OBJECT,
        format!("sync job \"{name}\" does not exist"),
        "SELECT job_name FROM insync.jobs lists the jobs you can see; sync_define creates one.",
    )
}

/// Loads a job the caller may act on: a job owned by a role the caller is not a member of
/// answers exactly like a job that does not exist, so its existence does not leak.
pub fn load_job(name: &str) -> SyncResult<Job> {
    let job = load_job_unchecked(name)?;
    if crate::security::is_member_of(job.owner)? {
        Ok(job)
    } else {
        Err(unknown_job(name))
    }
}

/// A job as one row of `insync.jobs`, field for column (reg* columns as OIDs): read and
/// written whole through JSON, so a new job setting is a column here and in the DDL only.
#[derive(Debug, Serialize, Deserialize)]
struct JobRow {
    #[serde(default, skip_serializing)]
    job_id: i64,
    job_name: String,
    owner: u32,
    source: u32,
    target: u32,
    key_columns: Vec<String>,
    mode: RunKind,
    watermark_column: Option<String>,
    watermark_type: Option<u32>,
    watermark_relation: Option<u32>,
    watermark_join: Option<Vec<JoinPair>>,
    source_filter: Option<String>,
    lookback: Option<String>,
    columns: Option<Vec<String>>,
    lookups: Option<Vec<LookupDef>>,
    parallel: String,
    source_timezone: Option<String>,
    #[serde(default = "ignore_deletes")]
    deletes: String,
    schedule: Option<String>,
    upstreams: Option<Vec<i64>>,
    #[serde(default)]
    backfill_batch: Option<i32>,
    /// Not a column of insync.jobs: read along (see `load_job_unchecked`), never written.
    #[serde(default, skip_serializing)]
    backfill_state: Option<String>,
}

fn ignore_deletes() -> String {
    "ignore".into()
}

impl JobRow {
    fn of(job: &Job) -> JobRow {
        JobRow {
            job_id: job.job_id,
            job_name: job.name.clone(),
            owner: job.owner.to_u32(),
            source: job.source.to_u32(),
            target: job.target.to_u32(),
            key_columns: job.keys.clone(),
            mode: job.mode,
            watermark_column: job.watermark_column.clone(),
            watermark_type: job.watermark_type.map(|o| o.to_u32()),
            watermark_relation: job.watermark_relation.map(|o| o.to_u32()),
            watermark_join: job.watermark_join.clone(),
            source_filter: job.source_filter.clone(),
            lookback: job.lookback.clone(),
            columns: job.columns.clone(),
            lookups: job.lookups.clone(),
            parallel: job.parallel.clone(),
            source_timezone: job.source_timezone.clone(),
            deletes: job.deletes.clone(),
            schedule: job.schedule.clone(),
            upstreams: job.upstreams.clone(),
            backfill_batch: job.backfill_batch,
            backfill_state: None,
        }
    }

    fn into_job(self, owner_name: String) -> Job {
        Job {
            job_id: self.job_id,
            name: self.job_name,
            owner: pg_sys::Oid::from(self.owner),
            owner_name,
            source: pg_sys::Oid::from(self.source),
            target: pg_sys::Oid::from(self.target),
            keys: self.key_columns,
            mode: self.mode,
            watermark_column: self.watermark_column,
            watermark_type: self.watermark_type.map(pg_sys::Oid::from),
            watermark_relation: self.watermark_relation.map(pg_sys::Oid::from),
            watermark_join: self.watermark_join,
            source_filter: self.source_filter,
            lookback: self.lookback,
            columns: self.columns,
            lookups: self.lookups,
            parallel: self.parallel,
            source_timezone: self.source_timezone,
            deletes: self.deletes,
            schedule: self.schedule,
            upstreams: self.upstreams,
            backfill_batch: self.backfill_batch,
            backfill_state: self.backfill_state,
        }
    }

    /// The row as JSON, and its columns (quoted) in the same order.
    fn to_json(&self) -> (String, Vec<String>) {
        let value = serde_json::to_value(self).expect("job row serializes");
        let columns = value
            .as_object()
            .map(|o| o.keys().map(|k| crate::plan::quote_ident(k)).collect())
            .unwrap_or_default();
        (value.to_string(), columns)
    }
}

/// Loads a job whoever owns it (insync's own bookkeeping, never a caller's request).
fn load_job_unchecked(name: &str) -> SyncResult<Job> {
    let found = as_catalog_owner(|| {
        Spi::connect(|client| {
            let rows = client.select(
                "SELECT pg_catalog.to_jsonb(j) OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object( \
                        'owner', j.owner::oid::int8, 'source', j.source::oid::int8, 'target', j.target::oid::int8, \
                        'watermark_type', j.watermark_type::oid::int8, \
                        'watermark_relation', j.watermark_relation::oid::int8, \
                        'backfill_state', (SELECT b.state FROM insync.backfills b WHERE b.job_name OPERATOR(pg_catalog.=) j.job_name)), \
                        j.owner::text \
                   FROM insync.jobs j WHERE j.job_name OPERATOR(pg_catalog.=) $1",
                None,
                &[name.into()],
            )?;
            let Some(row) = rows.into_iter().next() else {
                return Ok(None);
            };
            Ok(Some((row.get::<pgrx::JsonB>(1)?, row.get::<String>(2)?)))
        })
        .context("reading insync.jobs")
    })?;
    let Some((Some(row), owner_name)) = found else {
        return Err(unknown_job(name));
    };
    let row: JobRow = serde_json::from_value(row.0).map_err(|e| {
        error(
            PgSqlErrorCode::ERRCODE_DATA_CORRUPTED,
            format!("sync job \"{name}\" in insync.jobs cannot be read: {e}"),
        )
    })?;
    Ok(row.into_job(owner_name.unwrap_or_default()))
}

/// Inserts or replaces a job definition. `reset_state` forgets the watermark.
pub fn save_job(job: &Job, is_new: bool, reset_state: bool) -> SyncResult<()> {
    let (row, columns) = JobRow::of(job).to_json();
    as_catalog_owner(|| {
        if is_new {
            Spi::run_with_args(
                "INSERT INTO insync.jobs OVERRIDING USER VALUE \
                 SELECT * FROM pg_catalog.jsonb_populate_record(NULL::insync.jobs, \
                        pg_catalog.jsonb_build_object('created_at', pg_catalog.now(), 'updated_at', pg_catalog.now()) \
                        OPERATOR(pg_catalog.||) $1::jsonb)",
                &[row.clone().into()],
            )
            .context("inserting into insync.jobs")?;
            Spi::run_with_args(
                "INSERT INTO insync.job_state (job_name) VALUES ($1)",
                &[job.name.clone().into()],
            )
            .context("inserting into insync.job_state")?;
        } else {
            // A rename carries the run history along (job_state follows by ON UPDATE CASCADE).
            Spi::run_with_args(
                "UPDATE insync.runs SET job_name = $1 \
                  WHERE job_name = (SELECT job_name FROM insync.jobs WHERE job_id = $2) AND job_name <> $1",
                &[job.name.clone().into(), job.job_id.into()],
            )
            .context("renaming the job's runs")?;
            // Engines that do not enforce the reference's ON UPDATE CASCADE: insync's own.
            let cascades =
                crate::plan::catalog_ddl::cascades(&crate::resolve::detect_dialect()?).on_rename;
            if !cascades.is_empty() {
                let old = Spi::get_one_with_args::<String>(
                    "SELECT job_name FROM insync.jobs WHERE job_id = $1",
                    &[job.job_id.into()],
                )
                .context("reading the job's name")?;
                for statement in cascades
                    .iter()
                    .filter(|_| old.as_deref() != Some(&job.name))
                {
                    Spi::run_with_args(statement, &[old.clone().into(), job.name.clone().into()])
                        .context("renaming the job's state")?;
                }
            }
            let read = columns
                .iter()
                .map(|c| format!("r.{c}"))
                .collect::<Vec<_>>()
                .join(", ");
            Spi::run_with_args(
                &format!(
                    "UPDATE insync.jobs j SET ({}, updated_at) = \
                       (SELECT {read}, pg_catalog.now() FROM pg_catalog.jsonb_populate_record(NULL::insync.jobs, $1::jsonb) r) \
                      WHERE j.job_id = $2 AND j.owner = $3::oid::regrole",
                    columns.join(", ")
                ),
                &[row.clone().into(), job.job_id.into(), job.owner.into()],
            )
            .context("updating insync.jobs")?;
            if reset_state {
                Spi::run_with_args(
                    "UPDATE insync.job_state SET watermark = NULL, updated_at = now() WHERE job_name = $1",
                    &[job.name.clone().into()],
                )
                .context("resetting insync.job_state")?;
                // A backfill (done or in progress) belongs to the watermark it leads to.
                Spi::run_with_args(
                    "DELETE FROM insync.backfills WHERE job_name = $1",
                    &[job.name.clone().into()],
                )
                .context("resetting insync.backfills")?;
            }
        }
        Ok(())
    })
}

pub fn delete_job(job: &Job) -> SyncResult<()> {
    as_catalog_owner(|| {
        // Engines that do not enforce the reference's ON DELETE CASCADE: insync's own.
        for statement in
            crate::plan::catalog_ddl::cascades(&crate::resolve::detect_dialect()?).on_drop
        {
            Spi::run_with_args(&statement, &[job.name.clone().into()])
                .context("deleting the job's state")?;
        }
        Spi::run_with_args(
            "DELETE FROM insync.jobs WHERE job_id = $1",
            &[job.job_id.into()],
        )
        .context("deleting from insync.jobs")
    })
}

/// One job as the upstream graph sees it.
#[derive(Debug, Clone)]
pub struct GraphNode {
    pub job_id: i64,
    pub name: String,
    pub owner: pg_sys::Oid,
    pub scheduled: bool,
    pub upstreams: Vec<i64>,
}

/// Every job (visible or not: insync's own bookkeeping) with its upstreams, by name.
pub fn job_graph() -> SyncResult<Vec<GraphNode>> {
    as_catalog_owner(|| {
        Spi::connect(|client| {
            let rows = client.select(
                "SELECT job_id, job_name, owner::oid, schedule IS NOT NULL, coalesce(upstreams, '{}') \
                   FROM insync.jobs ORDER BY job_name",
                None,
                &[],
            )?;
            let mut nodes = Vec::new();
            for row in rows {
                nodes.push(GraphNode {
                    job_id: row.get::<i64>(1)?.unwrap_or_default(),
                    name: row.get::<String>(2)?.unwrap_or_default(),
                    owner: row.get::<pg_sys::Oid>(3)?.unwrap_or(pg_sys::Oid::INVALID),
                    scheduled: row.get::<bool>(4)?.unwrap_or(false),
                    upstreams: row.get::<Vec<i64>>(5)?.unwrap_or_default(),
                });
            }
            Ok(nodes)
        })
        .context("reading insync.jobs")
    })
}

/// The status and id of a job's latest run (`None`: it never ran).
pub fn latest_run(job_name: &str) -> SyncResult<Option<(String, i64)>> {
    as_catalog_owner(|| {
        Spi::get_two_with_args::<String, i64>(
            "SELECT r.status, r.run_id FROM (SELECT) one LEFT JOIN LATERAL ( \
                SELECT x.status, x.run_id FROM insync.runs x WHERE x.job_name = $1 ORDER BY x.run_id DESC LIMIT 1) r ON true",
            &[job_name.into()],
        )
        .context("reading insync.runs")
        .map(|(status, id)| status.zip(id))
    })
}

/// Whether a job of this name exists (visible or not).
pub fn job_exists(name: &str) -> SyncResult<bool> {
    as_catalog_owner(|| {
        Spi::get_one_with_args::<bool>(
            "SELECT EXISTS (SELECT 1 FROM insync.jobs WHERE job_name = $1)",
            &[name.into()],
        )
        .context("reading insync.jobs")
        .map(|b| b.unwrap_or(false))
    })
}

/// The job's watermark (ISO text of its type), NULL before the first successful run.
pub fn load_watermark(job: &Job) -> SyncResult<Option<String>> {
    as_catalog_owner(|| {
        Spi::get_one_with_args::<String>(
            "SELECT watermark FROM insync.job_state WHERE job_name = $1",
            &[job.name.clone().into()],
        )
        .context("reading insync.job_state")
    })
}

/// Draws a run id; sequences are not transactional, so a failed run keeps its id.
pub fn next_run_id() -> SyncResult<i64> {
    as_catalog_owner(|| {
        Spi::get_one::<i64>("SELECT nextval('insync.runs_run_id_seq')")
            .context("drawing a run id")?
            .ok_or_else(|| {
                error(
                    PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
                    "nextval returned NULL",
                )
            })
    })
}

/// Status of a run, as `insync.runs.status` spells it (its CHECK constraint lists the same).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    #[default]
    Running,
    Succeeded,
    Failed,
    Skipped,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Skipped => "skipped",
        }
    }
}

/// State of a segment of a parallel run, as `insync.run_segments.status` spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SegmentState {
    Pending,
    Running,
    Done,
    Failed,
}

impl SegmentState {
    pub fn parse(name: &str) -> Option<SegmentState> {
        serde_json::from_value(serde_json::Value::String(name.to_string())).ok()
    }
}

/// A finished run, as written to `insync.runs` (and serialized for the failure recorder).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RunRecord {
    pub run_id: i64,
    pub job_name: String,
    pub owner: String,
    pub kind: RunKind,
    pub status: RunStatus,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub window_low: Option<String>,
    pub window_high: Option<String>,
    pub rows_read: i64,
    pub rows_inserted: i64,
    pub rows_updated: i64,
    pub rows_deleted: i64,
    pub error_message: Option<String>,
    pub run_by: String,
    /// Parallel runs: how many segments this run merged.
    pub segments: Option<i32>,
    /// The failed parallel run whose unfinished segments this run completed.
    pub resumes: Option<i64>,
    /// The caller's top-level transaction id (xid8 text): once it has ended, a run still
    /// recorded as `running` was interrupted.
    pub run_xact: Option<String>,
    /// Started by the job's pg_cron entry (`sync_run_scheduled`), not called directly.
    #[serde(default)]
    pub scheduled: bool,
    /// A backfill's batch: its number (`CALL sync_backfill`).
    #[serde(default)]
    pub backfill_batch: Option<i32>,
}

/// SQL that writes a [`RunRecord`] given as JSON in `$1` (shared with the failure recorder):
/// inserted, or replacing the `running` row a parallel run committed when it started.
pub const INSERT_RUN_FROM_JSON: &str = "INSERT INTO insync.runs \
     SELECT * FROM pg_catalog.jsonb_populate_record(NULL::insync.runs, $1::jsonb || pg_catalog.jsonb_build_object('finished_at', \
            CASE WHEN $1::jsonb ->> 'status' <> 'running' \
                 THEN coalesce($1::jsonb ->> 'finished_at', pg_catalog.clock_timestamp()::text) END)) \
     ON CONFLICT (run_id) DO UPDATE SET (status, finished_at, window_low, window_high, rows_read, rows_inserted, \
            rows_updated, rows_deleted, error_message, segments, resumes) \
          = (EXCLUDED.status, EXCLUDED.finished_at, EXCLUDED.window_low, EXCLUDED.window_high, EXCLUDED.rows_read, \
             EXCLUDED.rows_inserted, EXCLUDED.rows_updated, EXCLUDED.rows_deleted, EXCLUDED.error_message, \
             EXCLUDED.segments, EXCLUDED.resumes)";

/// SQL that makes a failed parallel run (`$1`) tell what it actually wrote: the rows of the
/// segments it committed before failing (they stay committed).
pub const COUNT_COMMITTED_SEGMENTS: &str = "UPDATE insync.runs r \
        SET (rows_read, rows_inserted, rows_updated, rows_deleted) = (SELECT \
                coalesce(pg_catalog.sum(s.rows_read), 0)::bigint, coalesce(pg_catalog.sum(s.rows_inserted), 0)::bigint, \
                coalesce(pg_catalog.sum(s.rows_updated), 0)::bigint, coalesce(pg_catalog.sum(s.rows_deleted), 0)::bigint \
               FROM insync.run_segments s WHERE s.finished_by = r.run_id AND s.status = 'done') \
      WHERE r.run_id = $1 AND r.status = 'failed' AND r.segments IS NOT NULL";

/// Closes the job's (`$1`) runs still recorded as `running` whose transaction has ended
/// (rolled back, session terminated, server crashed): failed, with `finished_at`, the rows
/// their committed segments wrote, and their unfinished segments failed too.
pub const CLOSE_INTERRUPTED_RUNS: &str = "WITH closed AS ( \
        UPDATE insync.runs r SET status = 'failed', finished_at = pg_catalog.clock_timestamp(), \
               error_message = coalesce(r.error_message, 'interrupted: the run''s transaction ended before it finished (rolled back, session terminated or server restarted)'), \
               (rows_read, rows_inserted, rows_updated, rows_deleted) = (SELECT \
                   coalesce(pg_catalog.sum(s.rows_read), 0)::bigint, coalesce(pg_catalog.sum(s.rows_inserted), 0)::bigint, \
                   coalesce(pg_catalog.sum(s.rows_updated), 0)::bigint, coalesce(pg_catalog.sum(s.rows_deleted), 0)::bigint \
                  FROM insync.run_segments s WHERE s.finished_by = r.run_id AND s.status = 'done') \
         WHERE r.job_name = $1 AND r.status = 'running' \
           AND pg_catalog.pg_xact_status(r.run_xact) IS DISTINCT FROM 'in progress' \
        RETURNING r.run_id, coalesce(r.resumes, r.run_id) AS planned_by, r.error_message) \
     UPDATE insync.run_segments s SET status = 'failed', finished_at = pg_catalog.clock_timestamp(), \
            error_message = coalesce(s.error_message, closed.error_message) \
       FROM closed WHERE s.run_id = closed.planned_by AND s.status IN ('pending', 'running')";

/// What a run must look after before its own work: the job has runs recorded as running
/// (interrupted ones to close), or a parallel run that may have left segments unfinished.
#[derive(Debug, Clone, Copy, Default)]
pub struct Leftovers {
    pub running: bool,
    pub unfinished: bool,
}

/// Reads [`Leftovers`] in one cheap statement, so the usual run (none) skips the statements
/// that would look after them (planning those cost more than the probe, on every cold session).
pub fn leftovers(job_name: &str) -> SyncResult<Leftovers> {
    as_catalog_owner(|| {
        Spi::get_two_with_args::<bool, bool>(
            "SELECT coalesce(pg_catalog.bool_or(r.status = 'running'), false), \
                    coalesce(pg_catalog.bool_or(r.segments IS NOT NULL AND r.run_id > coalesce( \
                        (SELECT s.last_run_id FROM insync.job_state s WHERE s.job_name = $1), 0)), false) \
               FROM insync.runs r WHERE r.job_name = $1 AND r.status IN ('failed', 'running')",
            &[job_name.into()],
        )
        .context("reading insync.runs")
        .map(|(running, unfinished)| Leftovers {
            running: running.unwrap_or(false),
            unfinished: unfinished.unwrap_or(false),
        })
    })
}

/// Closes the job's interrupted runs (see [`CLOSE_INTERRUPTED_RUNS`]); called whenever a job
/// is run or resumed (when [`leftovers`] says it has runs recorded as running), so no run
/// looks alive after its session is gone.
pub fn close_interrupted_runs(job_name: &str) -> SyncResult<()> {
    as_catalog_owner(|| {
        Spi::run_with_args(CLOSE_INTERRUPTED_RUNS, &[job_name.into()])
            .context("closing interrupted runs")
    })
}

/// SQL that writes a [`RunRecord`] (JSON in `$1`) unless its run is already recorded.
pub const INSERT_RUN_IF_ABSENT: &str = "INSERT INTO insync.runs \
     SELECT * FROM pg_catalog.jsonb_populate_record(NULL::insync.runs, $1::jsonb) \
     ON CONFLICT (run_id) DO NOTHING";

/// The caller's top-level transaction id as text, assigned now if it has none yet.
pub fn current_xact() -> SyncResult<Option<String>> {
    Ok(Some(crate::backend::current_xact_text()))
}

/// SQL that marks the segments a failed parallel run left unfinished (`$1` = the run that
/// planned them, `$2` = why), so `insync.segments` says so.
pub const FAIL_UNFINISHED_SEGMENTS: &str = "UPDATE insync.run_segments \
        SET status = 'failed', finished_at = pg_catalog.clock_timestamp(), error_message = coalesce(error_message, $2) \
      WHERE run_id = $1 AND status IN ('pending', 'running')";

/// SQL that inserts planned segments given as a JSON array in `$1`.
pub const INSERT_SEGMENTS_FROM_JSON: &str = "INSERT INTO insync.run_segments (run_id, segment_no, job_name, owner, slice, plan) \
     SELECT x.run_id, x.segment_no, x.job_name, x.owner::regrole, x.slice, x.plan \
       FROM pg_catalog.jsonb_to_recordset($1::jsonb) AS x(run_id bigint, segment_no integer, job_name text, owner text, slice text, plan jsonb)";

/// Writes a run record and, for a succeeded run with a window, advances the watermark: both in
/// the caller's transaction, so they commit or vanish together with the data.
/// Why rows committed late on the job's source could be skipped (`None`: they cannot),
/// as job_status shows it.
pub fn set_late_commit_risk(job_name: &str, risk: Option<&str>) -> SyncResult<()> {
    as_catalog_owner(|| {
        Spi::run_with_args(
            "UPDATE insync.job_state SET late_commit_risk = $2 \
              WHERE job_name = $1 AND late_commit_risk IS DISTINCT FROM $2",
            &[job_name.into(), risk.into()],
        )
        .context("updating insync.job_state")
    })
}

pub fn record_run(record: &RunRecord, new_watermark: Option<&str>) -> SyncResult<()> {
    let json = serde_json::to_string(record).expect("run record serializes");
    as_catalog_owner(|| {
        Spi::run_with_args(INSERT_RUN_FROM_JSON, &[json.into()])
            .context("inserting into insync.runs")?;
        if record.status == RunStatus::Succeeded {
            Spi::run_with_args(
                "UPDATE insync.job_state SET watermark = coalesce($2, watermark), last_run_id = $3, updated_at = now() \
                  WHERE job_name = $1",
                &[record.job_name.clone().into(), new_watermark.into(), record.run_id.into()],
            )
            .context("advancing the watermark")?;
        }
        Ok(())
    })
}

/// Outcome of a verification, as `insync.verifications.status` spells it (its CHECK lists the
/// same).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VerifyStatus {
    #[default]
    Equal,
    /// Differences found (and not repaired).
    Different,
    Repaired,
    /// Another run or verification of the job held it.
    Skipped,
    Failed,
}

impl VerifyStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            VerifyStatus::Equal => "equal",
            VerifyStatus::Different => "different",
            VerifyStatus::Repaired => "repaired",
            VerifyStatus::Skipped => "skipped",
            VerifyStatus::Failed => "failed",
        }
    }
}

/// A verification, as written to `insync.verifications`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct VerificationRecord {
    pub verification_id: i64,
    pub job_name: String,
    pub owner: String,
    pub run_by: String,
    pub status: VerifyStatus,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub source_rows: i64,
    pub target_rows: i64,
    pub buckets: i32,
    pub differing_buckets: i32,
    pub missing: i64,
    pub extra: i64,
    pub changed: i64,
    pub rows_deleted: i64,
    pub rows_inserted: i64,
    pub quarantine_batch: Option<i64>,
    pub error_message: Option<String>,
}

impl VerificationRecord {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("verification record serializes")
    }
}

/// SQL that writes a [`VerificationRecord`] given as JSON in `$1` (shared with the catalog
/// writer worker).
pub const INSERT_VERIFICATION_FROM_JSON: &str = "INSERT INTO insync.verifications \
     SELECT * FROM pg_catalog.jsonb_populate_record(NULL::insync.verifications, $1::jsonb \
            || pg_catalog.jsonb_build_object('finished_at', coalesce($1::jsonb ->> 'finished_at', pg_catalog.clock_timestamp()::text)))";

/// Draws a verification id (kept by a verification that fails).
pub fn next_verification_id() -> SyncResult<i64> {
    as_catalog_owner(|| {
        Spi::get_one::<i64>("SELECT nextval('insync.verifications_id_seq')")
            .context("drawing a verification id")?
            .ok_or_else(|| {
                error(
                    PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
                    "nextval returned NULL",
                )
            })
    })
}

/// Writes a verification in the caller's transaction.
pub fn record_verification(record: &VerificationRecord) -> SyncResult<()> {
    as_catalog_owner(|| {
        Spi::run_with_args(INSERT_VERIFICATION_FROM_JSON, &[record.to_json().into()])
            .context("inserting into insync.verifications")
    })
}
