//! The merge of one slice of a run (a whole serial window, or one segment): one statement
//! from `plan`, run through SPI, and the counts it reports. A leaf: serial runs, segment
//! workers and resumes all call it, and it calls nothing of theirs.

use pgrx::datum::DatumWithOid;
use pgrx::prelude::*;

/// What a merge (or a set of merges) did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Source rows in the window after picking the latest row per key.
    pub read: i64,
    /// Rows among them with a NULL key (the run must fail).
    pub null_keys: i64,
    pub inserted: i64,
    pub updated: i64,
    pub deleted: i64,
}

impl std::ops::AddAssign for Counts {
    fn add_assign(&mut self, other: Counts) {
        self.read += other.read;
        self.null_keys += other.null_keys;
        self.inserted += other.inserted;
        self.updated += other.updated;
        self.deleted += other.deleted;
    }
}

impl Counts {
    /// Writes the counts into a run record.
    pub fn record(self, record: &mut crate::catalog::RunRecord) {
        record.rows_read = self.read;
        record.rows_inserted = self.inserted;
        record.rows_updated = self.updated;
        record.rows_deleted = self.deleted;
    }
}

/// Runs a merge statement (see `plan::SyncPlan::merge_statement`); its one row is
/// rows_read, null_key_rows, deleted, inserted, updated.
pub fn run_merge(statement: &str, args: &[DatumWithOid]) -> Result<Counts, pgrx::spi::Error> {
    Spi::connect_mut(|client| {
        let row = client.update(statement, None, args)?.first();
        Ok(Counts {
            read: row.get::<i64>(1)?.unwrap_or(0),
            null_keys: row.get::<i64>(2)?.unwrap_or(0),
            deleted: row.get::<i64>(3)?.unwrap_or(0),
            inserted: row.get::<i64>(4)?.unwrap_or(0),
            updated: row.get::<i64>(5)?.unwrap_or(0),
        })
    })
}

/// The error for source rows in the window with a NULL key (counted again without the
/// latest-row selection, which keeps one of them).
pub fn null_key_error(
    job: &crate::catalog::Job,
    resolved: &crate::resolve::Resolved,
    window: crate::plan::Window,
    args: &[DatumWithOid],
    at_least: i64,
) -> pgrx::pg_sys::panic::ErrorReport {
    let plan = &resolved.plan;
    let count = match Spi::get_one_with_args::<i64>(&plan.null_key_count(window), args) {
        Ok(Some(n)) => n,
        _ => at_least,
    };
    let keys = crate::plan::ident_list(&plan.keys, None);
    crate::error::error_with_hint(
        pgrx::PgSqlErrorCode::ERRCODE_NOT_NULL_VIOLATION,
        format!(
            "sync job \"{}\": {count} source {} in the window {} a NULL key ({keys}); nothing was synced",
            job.name,
            if count == 1 { "row" } else { "rows" },
            if count == 1 { "has" } else { "have" },
        ),
        "Fix those rows in the source, or exclude them with sync_alter(job, source_filter => '... IS NOT NULL').",
    )
}

/// Runs a statement-per-step merge (see `plan::steps`): stages the window, refuses NULL keys
/// before any write, then runs each write as its own statement and counts its processed rows.
/// All in the caller's (sub)transaction: an error anywhere rolls every step back, the staged
/// window included. The staging table is created outside the security-restricted operation
/// (PostgreSQL refuses temporary tables inside one, as `REFRESH MATERIALIZED VIEW
/// CONCURRENTLY` does for its diff table): insync's own DDL, column types only.
pub fn run_steps(
    steps: &crate::plan::steps::StepPlan,
    args: &[DatumWithOid],
) -> Result<Counts, pgrx::spi::Error> {
    crate::security::without_restriction(|| Spi::run(&steps.create))?;
    let mut counts = Counts::default();
    let mut written = crate::plan::steps::StepCounts::default();
    Spi::connect_mut(|client| {
        counts.read = client.update(&steps.fill, None, args)?.len() as i64;
        client.update(&steps.analyze, None, &[])?;
        counts.null_keys = client
            .select(&steps.null_keys, None, &[])?
            .first()
            .get::<i64>(1)?
            .unwrap_or(0);
        if counts.null_keys > 0 {
            return Ok(());
        }
        written.read = counts.read;
        for step in &steps.writes {
            let result = client.update(&step.sql, None, &[])?;
            let processed = if step.counts == crate::plan::steps::Counter::Existing {
                result.first().get::<i64>(1)?.unwrap_or(0)
            } else {
                result.len() as i64
            };
            written.add(step.counts, processed);
        }
        client.update(&steps.drop, None, &[])?;
        Ok::<_, pgrx::spi::Error>(())
    })?;
    counts.inserted = written.inserted;
    counts.updated = written.updated;
    counts.deleted = written.deleted;
    Ok(counts)
}
