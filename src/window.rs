//! A run's window and why it is safe: the lower bound (the watermark minus the lookback) and
//! the safe upper bound no still-running transaction can fall behind (for time watermarks,
//! the earliest open transaction's start; for integer ones, after waiting for the writers of
//! the table and of the column's sequence).

use crate::catalog::{self, Job};
use crate::error::{SpiContext, SyncResult};
use crate::plan::{RunKind, SyncPlan, WatermarkKind, Window};
use crate::resolve;
use pgrx::datum::DatumWithOid;
use pgrx::pg_sys;
use pgrx::prelude::*;

/// A run's window bounds, bound to its statements as parameters of the bound's own type.
/// Text cast inside the statement (`$1::timestamptz`) would be a function call postgres_fdw
/// keeps local, so a foreign source would be read whole on every run.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct WindowBounds {
    pub kind: WatermarkKind,
    pub low: Option<String>,
    pub high: Option<String>,
}

impl WindowBounds {
    /// `$1` (low) and `$2` (high); NULL where a bound is absent, still typed.
    pub fn args(&self) -> Vec<DatumWithOid<'static>> {
        vec![
            typed_bound(self.kind, self.low.as_deref()),
            typed_bound(self.kind, self.high.as_deref()),
        ]
    }

    /// Typed NULLs: for statements that are only planned (EXPLAIN at definition).
    pub fn unbound(kind: WatermarkKind) -> Self {
        Self {
            kind,
            low: None,
            high: None,
        }
    }
}

/// The bounds of `window` (none when the run reads everything).
pub fn for_window(
    plan: &SyncPlan,
    window: Window,
    low: &Option<String>,
    high: &Option<String>,
) -> Option<WindowBounds> {
    let kind = plan.watermark.as_ref()?.kind;
    (window != Window::Everything).then(|| WindowBounds {
        kind,
        low: low.clone(),
        high: high.clone(),
    })
}

/// A statement's arguments for these bounds (none for a run that reads everything).
pub fn args_of(bounds: &Option<WindowBounds>) -> Vec<DatumWithOid<'static>> {
    bounds.as_ref().map(WindowBounds::args).unwrap_or_default()
}

fn bound_type_oid(kind: WatermarkKind) -> pg_sys::Oid {
    match kind {
        WatermarkKind::Timestamptz => pg_sys::TIMESTAMPTZOID,
        WatermarkKind::Timestamp => pg_sys::TIMESTAMPOID,
        WatermarkKind::Date => pg_sys::DATEOID,
        WatermarkKind::Integer => pg_sys::INT8OID,
    }
}

/// A bound's text (ISO, as `to_text_sql` wrote it) read by its type's input function.
fn typed_bound(kind: WatermarkKind, text: Option<&str>) -> DatumWithOid<'static> {
    let oid = bound_type_oid(kind);
    let Some(text) = text else {
        return DatumWithOid::null_oid(oid);
    };
    let text = std::ffi::CString::new(text).expect("a bound has no NUL byte");
    // SAFETY: a built-in type's input function on a NUL-terminated string; every bound type
    // is passed by value, so the datum outlives nothing it points to.
    unsafe {
        let mut input = pg_sys::InvalidOid;
        let mut io_param = pg_sys::InvalidOid;
        pg_sys::getTypeInputInfo(oid, &mut input, &mut io_param);
        let datum = pg_sys::OidInputFunctionCall(input, text.as_ptr() as *mut _, io_param, -1);
        DatumWithOid::new(datum, oid)
    }
}

/// Time-based watermarks stop this far before the moment a run starts, so a transaction that
/// began just before the run but had not yet reported its start time cannot fall behind.
pub(crate) const START_MARGIN: &str = "1 second";
const START_MARGIN_MICROS: i64 = 1_000_000;

/// `last watermark - lookback`, as text of the watermark's type; NULL on the first run.
pub fn lower_bound(job: &Job, kind: WatermarkKind) -> SyncResult<Option<String>> {
    let Some(watermark) = catalog::load_watermark(job)? else {
        return Ok(None);
    };
    // The usual case needs no statement: the stored instant, in insync's form.
    if kind == WatermarkKind::Timestamptz && job.lookback.is_none() {
        if let Some(micros) = crate::backend::timestamptz_micros(&watermark) {
            return Ok(Some(crate::plan::instant::utc_text(micros)));
        }
    }
    let sql = format!("SELECT {}", kind.to_text_sql(&kind.lower_bound_sql()));
    Spi::get_one_with_args::<String>(&sql, &[watermark.into(), job.lookback.clone().into()])
        .context("computing the window's lower bound")
}

/// The highest watermark value no still-running transaction can fall behind.
///
/// Time watermarks: every transaction still open started at some `xact_start`; any row it
/// writes with `now()` (or a later clock) is stamped at or after that. So the bound is just
/// below the earliest start among open transactions, and never later than this run's start.
/// Integer watermarks: the highest committed value, after waiting for the transactions that
/// are writing to the table, so none of them can commit a lower value afterwards.
pub fn safe_upper_bound(
    job: &Job,
    kind: WatermarkKind,
    resolved: &resolve::Resolved,
    run: RunKind,
) -> SyncResult<Option<String>> {
    let server = match &resolved.watermark_relation {
        Some(rel) if rel.kind == 'f' => crate::remote::server_of(rel.oid)?.map(|s| (s, rel)),
        _ => None,
    };
    // Another data wrapper cannot be asked about its sessions: the local clock bounds the
    // window, and job_status says the job is exposed.
    let remote = match server {
        Some((server, _)) if !server.postgres_fdw => {
            let risk = crate::remote::unknown_server_risk(&server);
            catalog::set_late_commit_risk(
                &job.name,
                job.lookback.is_none().then_some(risk.as_str()),
            )?;
            None
        }
        other => other,
    };
    match (kind.safe_bound_from_instant_sql(), remote) {
        // Read through the server: the source's own clock and open transactions.
        (Some(bound_sql), Some((server, rel))) => {
            let bound = crate::remote::safe_instant(&job.name, &server, &rel.display())?;
            if let Some(sees_all) = bound.sees_all {
                let risk = crate::remote::hidden_sessions_risk(&server);
                let exposed = !sees_all && job.lookback.is_none();
                catalog::set_late_commit_risk(&job.name, exposed.then_some(risk.as_str()))?;
            }
            // Only local times need the source's zone (a remote query): not timestamptz.
            let zone = match (&job.source_timezone, kind) {
                (Some(zone), _) => Some(zone.clone()),
                (None, WatermarkKind::Timestamptz) => None,
                (None, _) => Some(crate::remote::source_timezone(&server)?),
            };
            let sql = format!("SELECT {}", kind.to_text_sql(bound_sql));
            Spi::get_one_with_args::<String>(&sql, &[bound.instant.into(), zone.into()])
                .context("computing the window's upper bound")
        }
        (Some(bound_sql), None) => {
            // The clock is read first: a transaction starting after it stamps later rows.
            let mut instant = crate::backend::now_micros() - START_MARGIN_MICROS;
            if let Some((start, pid)) = crate::backend::earliest_other_transaction() {
                if start < instant {
                    pgrx::notice!(
                        "sync window held back to {} by an open transaction in backend {pid}; rows it writes will be read by a later run",
                        crate::plan::instant::utc_text(start)
                    );
                    instant = start;
                }
            }
            if kind == WatermarkKind::Timestamptz {
                // What `safe_bound_from_instant_sql` computes, without a statement.
                return Ok(Some(crate::plan::instant::utc_text(instant - 1)));
            }
            let instant = crate::plan::instant::utc_text(instant);
            // Local times are read in the job's zone, else this session's (as writers here would).
            let zone = job.source_timezone.clone();
            let sql = format!("SELECT {}", kind.to_text_sql(bound_sql));
            Spi::get_one_with_args::<String>(&sql, &[instant.into(), zone.into()])
                .context("computing the window's upper bound")
        }
        (None, _) => {
            let plan = &resolved.plan;
            let high = Spi::get_one::<String>(&plan.max_watermark())
                .context("reading the highest watermark")?;
            if let Some(table) = &resolved.watermark_table {
                if run != RunKind::Full {
                    let column = plan.watermark.as_ref().map(|w| w.column.as_str());
                    // A transaction holding a value drawn from the column's sequence commits
                    // it later, perhaps before it ever touches the table: wait for those too.
                    for sequence in feeding_sequences(table.oid, column.unwrap_or_default())? {
                        wait_for_lockers(sequence);
                    }
                    wait_for_lockers(table.oid);
                }
            }
            Ok(high)
        }
    }
}

/// The sequences that hand out values of `column` of `table`: its identity or serial
/// sequence, and any sequence its default calls `nextval` on.
pub fn feeding_sequences(table: pg_sys::Oid, column: &str) -> SyncResult<Vec<pg_sys::Oid>> {
    Spi::get_one_with_args::<Vec<pg_sys::Oid>>(
        "SELECT coalesce(pg_catalog.array_agg(DISTINCT q.seq), '{}') FROM ( \
            SELECT d.refobjid AS seq FROM pg_catalog.pg_attrdef ad \
              JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) ad.adrelid \
                                            AND a.attnum OPERATOR(pg_catalog.=) ad.adnum \
              JOIN pg_catalog.pg_depend d ON d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_attrdef'::pg_catalog.regclass \
                                         AND d.objid OPERATOR(pg_catalog.=) ad.oid \
                                         AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass \
             WHERE ad.adrelid OPERATOR(pg_catalog.=) $1 AND a.attname::text OPERATOR(pg_catalog.=) $2 \
            UNION ALL \
            SELECT d.objid FROM pg_catalog.pg_attribute a \
              JOIN pg_catalog.pg_depend d ON d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass \
                                         AND d.refobjid OPERATOR(pg_catalog.=) a.attrelid \
                                         AND d.refobjsubid OPERATOR(pg_catalog.=) a.attnum \
                                         AND d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass \
                                         AND d.deptype OPERATOR(pg_catalog.=) ANY ('{a,i}'::\"char\"[]) \
             WHERE a.attrelid OPERATOR(pg_catalog.=) $1 AND a.attname::text OPERATOR(pg_catalog.=) $2) q \
          JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) q.seq AND c.relkind OPERATOR(pg_catalog.=) 'S'",
        &[table.into(), column.into()],
    )
    .context("reading the watermark column's sequences")
    .map(Option::unwrap_or_default)
}

/// Waits until every transaction now holding a write lock on `relation` (a table, or a
/// sequence: `nextval` holds one to the end of its transaction) has ended, as CREATE INDEX
/// CONCURRENTLY does. Cancellable; bounded by statement_timeout.
fn wait_for_lockers(relation: pg_sys::Oid) {
    // SAFETY: a LOCKTAG for a relation, filled as SET_LOCKTAG_RELATION does.
    unsafe {
        let mut tag: pg_sys::LOCKTAG = std::mem::zeroed();
        tag.locktag_field1 = pg_sys::MyDatabaseId.to_u32();
        tag.locktag_field2 = relation.to_u32();
        tag.locktag_type = pg_sys::LockTagType::LOCKTAG_RELATION as u8;
        tag.locktag_lockmethodid = pg_sys::DEFAULT_LOCKMETHOD as u8;
        pg_sys::WaitForLockers(tag, pg_sys::ShareLock as pg_sys::LOCKMODE, false);
    }
}
