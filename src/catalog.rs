//! The catalog: reading jobs and state, writing jobs, state and runs.
//!
//! Users only have SELECT on the catalog (under row-level security). Writes go through
//! [`as_catalog_owner`], which switches to the extension's owner for the one statement, with
//! a pinned search_path, exactly as a SECURITY DEFINER function with `SET search_path` would.

use crate::error::{error, error_with_hint, SpiContext, SyncResult};
use crate::plan::RunKind;
use pgrx::datum::DatumWithOid;
use pgrx::prelude::*;
use pgrx::{pg_sys, PgSqlErrorCode};
use serde::{Deserialize, Serialize};

/// Runs `f` as the extension owner (see [`crate::security::as_role`]): the only identity that
/// writes the catalog. No user expression is evaluated inside.
pub fn as_catalog_owner<R>(f: impl FnOnce() -> SyncResult<R>) -> SyncResult<R> {
    let owner = extension_owner()?;
    crate::security::as_role(owner, f)
}

/// The role that owns the extension, and with it the catalog.
pub fn extension_owner() -> SyncResult<pg_sys::Oid> {
    Spi::get_one::<pg_sys::Oid>(
        "SELECT extowner FROM pg_catalog.pg_extension WHERE extname = 'insync'",
    )
    .context("looking up the extension owner")?
    .ok_or_else(|| {
        error(
            PgSqlErrorCode::ERRCODE_UNDEFINED_OBJECT,
            "extension \"insync\" is not installed",
        )
    })
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

/// Loads a job whoever owns it (insync's own bookkeeping, never a caller's request).
fn load_job_unchecked(name: &str) -> SyncResult<Job> {
    let job = as_catalog_owner(|| {
        Spi::connect(|client| {
            let rows = client
                .select(
                    "SELECT job_id, job_name, owner::oid, owner::text, source::oid, target::oid, key_columns, mode, \
                            watermark_column, watermark_type::oid, watermark_relation::oid, watermark_join::text, \
                            source_filter, lookback, columns, lookups::text, parallel \
                       FROM insync.jobs WHERE job_name = $1",
                    None,
                    &[name.into()],
                )
                .context("reading insync.jobs")?;
            let Some(row) = rows.into_iter().next() else {
                return Ok(None);
            };
            let join: Option<String> = row.get(12).context("watermark_join")?;
            Ok(Some(Job {
                job_id: row.get(1).context("job_id")?.unwrap_or_default(),
                name: row.get(2).context("job_name")?.unwrap_or_default(),
                owner: row.get(3).context("owner")?.unwrap_or(pg_sys::Oid::INVALID),
                owner_name: row.get(4).context("owner")?.unwrap_or_default(),
                source: row
                    .get(5)
                    .context("source")?
                    .unwrap_or(pg_sys::Oid::INVALID),
                target: row
                    .get(6)
                    .context("target")?
                    .unwrap_or(pg_sys::Oid::INVALID),
                keys: row.get(7).context("key_columns")?.unwrap_or_default(),
                mode: {
                    let mode: String = row.get(8).context("mode")?.unwrap_or_default();
                    RunKind::parse(&mode).ok_or_else(|| {
                        error(
                            PgSqlErrorCode::ERRCODE_DATA_CORRUPTED,
                            format!("sync job \"{name}\" has an unknown mode \"{mode}\""),
                        )
                    })?
                },
                watermark_column: row.get(9).context("watermark_column")?,
                watermark_type: row.get(10).context("watermark_type")?,
                watermark_relation: row.get(11).context("watermark_relation")?,
                watermark_join: join.map(|j| serde_json::from_str(&j)).transpose().map_err(
                    |e| {
                        error(
                            PgSqlErrorCode::ERRCODE_DATA_CORRUPTED,
                            format!("watermark_join of job \"{name}\": {e}"),
                        )
                    },
                )?,
                source_filter: row.get(13).context("source_filter")?,
                lookback: row.get(14).context("lookback")?,
                columns: row.get(15).context("columns")?,
                lookups: row
                    .get::<String>(16)
                    .context("lookups")?
                    .map(|l| serde_json::from_str(&l))
                    .transpose()
                    .map_err(|e| {
                        error(
                            PgSqlErrorCode::ERRCODE_DATA_CORRUPTED,
                            format!("lookups of job \"{name}\": {e}"),
                        )
                    })?,
                parallel: row
                    .get(17)
                    .context("parallel")?
                    .unwrap_or_else(|| "auto".into()),
            }))
        })
    })?;
    job.ok_or_else(|| unknown_job(name))
}

/// Inserts or replaces a job definition. `reset_state` forgets the watermark.
pub fn save_job(job: &Job, is_new: bool, reset_state: bool) -> SyncResult<()> {
    let join = job
        .watermark_join
        .as_ref()
        .map(|j| serde_json::to_string(j).expect("join pairs serialize"));
    let lookups = job
        .lookups
        .as_ref()
        .map(|l| serde_json::to_string(l).expect("lookups serialize"));
    let args: Vec<DatumWithOid> = vec![
        job.name.clone().into(),
        job.owner.into(),
        job.source.into(),
        job.target.into(),
        job.keys.clone().into(),
        job.mode.as_str().into(),
        job.watermark_column.clone().into(),
        job.watermark_type.into(),
        job.watermark_relation.into(),
        join.into(),
        job.source_filter.clone().into(),
        job.lookback.clone().into(),
        job.columns.clone().into(),
        job.job_id.into(),
        lookups.into(),
        job.parallel.clone().into(),
    ];
    as_catalog_owner(|| {
        if is_new {
            Spi::run_with_args(
                "INSERT INTO insync.jobs (job_name, owner, source, target, key_columns, mode, watermark_column, \
                        watermark_type, watermark_relation, watermark_join, source_filter, lookback, columns, lookups, parallel) \
                 VALUES ($1, $2::oid::regrole, $3::oid::regclass, $4::oid::regclass, $5, $6, $7, $8::oid::regtype, \
                        $9::oid::regclass, $10::jsonb, $11, $12, $13, $15::jsonb, $16)",
                &args,
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
            Spi::run_with_args(
                "UPDATE insync.jobs SET job_name = $1, source = $3::oid::regclass, target = $4::oid::regclass, \
                        key_columns = $5, mode = $6, watermark_column = $7, watermark_type = $8::oid::regtype, \
                        watermark_relation = $9::oid::regclass, watermark_join = $10::jsonb, source_filter = $11, \
                        lookback = $12, columns = $13, lookups = $15::jsonb, parallel = $16, updated_at = now() \
                  WHERE job_id = $14 AND owner = $2::oid::regrole",
                &args,
            )
            .context("updating insync.jobs")?;
            if reset_state {
                Spi::run_with_args(
                    "UPDATE insync.job_state SET watermark = NULL, updated_at = now() WHERE job_name = $1",
                    &[job.name.clone().into()],
                )
                .context("resetting insync.job_state")?;
            }
        }
        Ok(())
    })
}

pub fn delete_job(job: &Job) -> SyncResult<()> {
    as_catalog_owner(|| {
        Spi::run_with_args(
            "DELETE FROM insync.jobs WHERE job_id = $1",
            &[job.job_id.into()],
        )
        .context("deleting from insync.jobs")
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

/// Closes the job's interrupted runs (see [`CLOSE_INTERRUPTED_RUNS`]); called whenever a job
/// is run or resumed, so no run looks alive after its session is gone.
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
    Spi::get_one::<String>("SELECT pg_catalog.pg_current_xact_id()::text")
        .context("reading the transaction id")
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
