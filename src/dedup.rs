//! find_duplicates, dedup_table and restore_quarantine: diagnose why a table has several
//! rows per key, remove the extra copies into the quarantine, and put them back on demand.
//! The caller's privileges are checked; the table is then read and changed as its owner (its
//! triggers run as the role that wrote them, never as a superuser calling dedup_table).

use crate::catalog::as_catalog_owner;
use crate::error::{error, error_with_hint, SpiContext, SyncResult};
use crate::plan::dedup::{DedupPlan, Keep};
use crate::plan::{quote_ident, Column};
use crate::quarantine::open_batch;
use crate::resolve::{self, columns_of, Asker, ColumnInfo, RelationInfo};
use crate::security::{as_role, is_member_of, refuse_row_security, relation_owner};
use pgrx::prelude::*;
use pgrx::{pg_sys, PgSqlErrorCode};

/// Column names that only describe a load, treated as metadata unless told otherwise.
const LOAD_METADATA: &[&str] = &[
    "loaded_at",
    "load_time",
    "load_ts",
    "load_date",
    "load_batch_id",
    "batch_id",
    "etl_loaded_at",
    "etl_batch_id",
    "ingested_at",
    "extracted_at",
    "_loaded_at",
    "_etl_loaded_at",
];
/// Column names that usually hold a row's change time.
const CHANGE_COLUMNS: &[&str] = &[
    "updated_at",
    "modified_at",
    "last_modified",
    "changed_at",
    "update_time",
    "last_update",
];
/// Column names that usually name the source system.
const SOURCE_COLUMNS: &[&str] = &["data_source", "source_system"];

/// How the caller wants the analysis and the repair done.
#[derive(Debug, Clone, Default)]
pub struct DedupOptions {
    pub keep: Option<String>,
    pub order_by: Option<String>,
    pub source_column: Option<String>,
    pub source_order: Option<Vec<String>>,
    pub ignore_columns: Option<Vec<String>>,
    pub dry_run: bool,
    pub allow_distinct_rows: bool,
    pub add_unique_index: bool,
}

/// One line of dedup_table's report.
pub struct DedupLine {
    pub batch_id: i64,
    pub cause: String,
    pub keys: i64,
    pub rows: i64,
    pub removed: i64,
    pub action: String,
}

struct Target {
    info: RelationInfo,
    columns: Vec<ColumnInfo>,
    /// The table's owner: the removal (and its triggers) runs as this role.
    owner: pg_sys::Oid,
}

fn table_for(name: &str, function: &str) -> SyncResult<Target> {
    let info = resolve::lookup_table(name, function)?;
    if !info.is_table() {
        return Err(error(
            PgSqlErrorCode::ERRCODE_WRONG_OBJECT_TYPE,
            format!("{function}: \"{}\" is not a table", info.display()),
        ));
    }
    refuse_row_security(info.oid, &info.display(), function)?;
    let columns = columns_of(info.oid)?;
    let owner = relation_owner(info.oid)?;
    Ok(Target {
        info,
        columns,
        owner,
    })
}

fn require_column(t: &Target, column: &str, role: &str, function: &str) -> SyncResult<()> {
    resolve::require_column(&t.columns, column, Asker::Function(function), role, &t.info)
        .map(|_| ())
}

/// Whether the type has built-in min/max aggregates, so copies can be compared as values.
fn has_min_max(type_name: &str) -> bool {
    Spi::get_one_with_args::<bool>(
        "SELECT pg_catalog.to_regprocedure(pg_catalog.format('pg_catalog.min(%s)', $1)) IS NOT NULL",
        &[type_name.into()],
    )
    .ok()
    .flatten()
    .unwrap_or(false)
}

/// The watermark column of a job whose target is this table, when the table has it.
fn job_watermark_for(t: &Target) -> SyncResult<Option<String>> {
    let column = as_catalog_owner(|| {
        Spi::get_one_with_args::<String>(
            "SELECT (SELECT watermark_column FROM insync.jobs WHERE target = $1::oid::regclass \
              AND watermark_column IS NOT NULL ORDER BY job_id LIMIT 1)",
            &[t.info.oid.into()],
        )
        .context("reading insync.jobs")
    })?;
    Ok(column.filter(|c| t.columns.iter().any(|tc| &tc.name == c)))
}

fn build_plan(
    t: &Target,
    keys: &[String],
    opts: &DedupOptions,
    function: &str,
) -> SyncResult<DedupPlan> {
    if keys.is_empty() {
        return Err(error(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            format!(
                "{function} needs at least one key column for {}",
                t.info.display()
            ),
        ));
    }
    for k in keys {
        require_column(t, k, "key", function)?;
    }
    let order_by = match &opts.order_by {
        Some(c) => {
            require_column(t, c, "order_by", function)?;
            Some(c.clone())
        }
        None => match job_watermark_for(t)? {
            Some(c) => Some(c),
            None => CHANGE_COLUMNS
                .iter()
                .find(|n| t.columns.iter().any(|c| c.name == **n))
                .map(|n| n.to_string()),
        },
    };
    let source_column = match &opts.source_column {
        Some(c) => {
            require_column(t, c, "source", function)?;
            Some(c.clone())
        }
        None => SOURCE_COLUMNS
            .iter()
            .find(|n| t.columns.iter().any(|c| c.name == **n))
            .map(|n| n.to_string()),
    };
    let metadata = match &opts.ignore_columns {
        Some(list) => {
            for c in list {
                require_column(t, c, "ignored", function)?;
            }
            list.clone()
        }
        None => t
            .columns
            .iter()
            .filter(|c| LOAD_METADATA.contains(&c.name.as_str()))
            .map(|c| c.name.clone())
            .collect(),
    };
    let keep = match opts.keep.as_deref().unwrap_or("latest") {
        "latest" => match (order_by.clone(), opts.allow_distinct_rows) {
            (Some(column), _) => Keep::Latest(column),
            // Without a change-time column only identical copies are removed (copies that
            // differ are kept as distinct rows), and which of identical copies stays does not
            // matter.
            (None, false) => Keep::First(None),
            (None, true) => {
                return Err(error_with_hint(
                    PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
                    format!("{function}: keep => 'latest' on {} needs a column to order copies by", t.info.display()),
                    "Pass order_by => 'updated_at' (or whichever column says which copy is newest), or keep => 'first'.",
                ))
            }
        },
        "first" => Keep::First(order_by.clone()),
        "source_order" => {
            let column = source_column.clone().ok_or_else(|| {
                error(
                    PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
                    format!("{function}: keep => 'source_order' needs source_column => 'column naming the source system'"),
                )
            })?;
            let order = opts.source_order.clone().filter(|o| !o.is_empty()).ok_or_else(|| {
                error_with_hint(
                    PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
                    format!("{function}: keep => 'source_order' needs source_order, the preferred sources first"),
                    "For example source_order => '{oracle,mysql}'.",
                )
            })?;
            Keep::SourceOrder { column, order, then_latest: order_by.clone() }
        }
        other => {
            return Err(error_with_hint(
                PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
                format!("{function}: keep => '{other}' is not a keep policy"),
                "Use latest, first or source_order.",
            ))
        }
    };
    Ok(DedupPlan {
        table: t.info.relation.clone(),
        keys: keys.to_vec(),
        columns: t
            .columns
            .iter()
            .map(|c| {
                if has_min_max(&c.type_name) {
                    Column::new(&c.name)
                } else {
                    Column::without_equality(&c.name)
                }
            })
            .collect(),
        metadata,
        change_column: order_by,
        source_column,
        keep,
        partitioned: t.info.kind == 'p',
        dialect: row_identity_dialect(t, function)?,
    })
}

/// The engine, for telling rows apart: refused where rows have no physical identity that
/// insync can find them by again (append-optimized tables on Greenplum-family engines).
fn row_identity_dialect(t: &Target, function: &str) -> SyncResult<crate::plan::dialect::Dialect> {
    let dialect = resolve::detect_dialect()?;
    if dialect.mpp() && resolve::table_storage(&dialect, &t.info)?.append_optimized() {
        return Err(error_with_hint(
            PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
            format!(
                "{function}: {} is append-optimized: its copies of a key cannot be told apart (no TID scans on {})",
                t.info.display(),
                dialect.engine.name()
            ),
            "Copy the table into a heap table (CREATE TABLE ... WITH (appendoptimized = false) AS ...), repair that, and swap it in.",
        ));
    }
    Ok(dialect)
}

/// A plan for reading only (find_duplicates, duplicate_summary): the keep policy is moot.
/// Returns it with the table's owner, whom the caller (holding SELECT) reads the table as.
fn analysis_plan(
    table: &str,
    keys: &[String],
    opts: &DedupOptions,
    function: &str,
) -> SyncResult<(DedupPlan, pg_sys::Oid)> {
    let t = table_for(table, function)?;
    require_privilege(&t, "SELECT", function, None)?;
    let opts = DedupOptions {
        keep: Some("first".into()),
        ..opts.clone()
    };
    let plan = build_plan(&t, keys, &opts, function)?;
    Ok((plan, t.owner))
}

/// The caller's own privilege on the table, checked before anything runs as its owner.
fn require_privilege(
    t: &Target,
    privilege: &str,
    function: &str,
    hint: Option<&str>,
) -> SyncResult<()> {
    if resolve::has_table_privilege(t.info.oid, privilege)? {
        return Ok(());
    }
    let message = format!(
        "permission denied for table {} ({function} needs {privilege})",
        t.info.display()
    );
    Err(match hint {
        Some(hint) => error_with_hint(
            PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
            message,
            hint,
        ),
        None => error(PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE, message),
    })
}

/// Rows of `find_duplicates`: key, copies, differing columns, cause.
pub fn find_duplicates(
    table: &str,
    keys: &[String],
    opts: &DedupOptions,
) -> SyncResult<Vec<(pgrx::JsonB, i64, Vec<String>, String)>> {
    let (plan, owner) = analysis_plan(table, keys, opts, "find_duplicates")?;
    as_role(owner, || {
        crate::settings::bulk(|| {
            Spi::connect(|client| {
                let rows = client.select(plan.find_duplicates().as_str(), None, &[])?;
                rows.into_iter()
                    .map(|r| {
                        Ok((
                            r.get::<pgrx::JsonB>(1)?
                                .unwrap_or(pgrx::JsonB(serde_json::Value::Null)),
                            r.get::<i64>(2)?.unwrap_or(0),
                            r.get::<Vec<String>>(3)?.unwrap_or_default(),
                            r.get::<String>(4)?.unwrap_or_default(),
                        ))
                    })
                    .collect::<Result<Vec<_>, pgrx::spi::Error>>()
            })
        })
    })
    .context("finding duplicates")
}

/// Rows of `duplicate_summary`: cause, keys, rows, extra rows.
pub fn summary(
    table: &str,
    keys: &[String],
    opts: &DedupOptions,
) -> SyncResult<Vec<(String, i64, i64, i64)>> {
    let (plan, owner) = analysis_plan(table, keys, opts, "duplicate_summary")?;
    as_role(owner, || {
        crate::settings::bulk(|| {
            Spi::connect(|client| {
                let rows = client.select(plan.summary().as_str(), None, &[])?;
                rows.into_iter()
                    .map(|r| {
                        Ok((
                            r.get::<String>(1)?.unwrap_or_default(),
                            r.get::<i64>(2)?.unwrap_or(0),
                            r.get::<i64>(3)?.unwrap_or(0),
                            r.get::<i64>(4)?.unwrap_or(0),
                        ))
                    })
                    .collect::<Result<Vec<_>, pgrx::spi::Error>>()
            })
        })
    })
    .context("summarizing duplicates")
}

/// Removes duplicate copies, quarantining each removed row in the same statement.
pub fn dedup_table(
    table: &str,
    keys: &[String],
    opts: &DedupOptions,
) -> SyncResult<Vec<DedupLine>> {
    let t = table_for(table, "dedup_table")?;
    let plan = build_plan(&t, keys, opts, "dedup_table")?;
    require_privilege(&t, "SELECT", "dedup_table", None)?;
    if !opts.dry_run {
        require_privilege(
            &t,
            "DELETE",
            "dedup_table",
            Some("dry_run => true reports what would be removed without deleting."),
        )?;
    }
    if opts.add_unique_index && !opts.dry_run && !is_member_of(t.owner)? {
        return Err(error_with_hint(
            PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
            format!(
                "dedup_table: must be owner of table {} to add a unique index",
                t.info.display()
            ),
            "Leave add_unique_index false, or ask the table's owner to run it.",
        ));
    }
    let batch_id = if opts.dry_run {
        0
    } else {
        open_batch(None, t.info.oid, "dedup_table")?
    };
    let lines = as_role(t.owner, || {
        crate::settings::bulk(|| {
            Spi::connect_mut(|client| {
                let (statements, returning) = plan.dedup_statements(opts.dry_run);
                let args = [
                    batch_id.into(),
                    opts.allow_distinct_rows.into(),
                    opts.dry_run.into(),
                    t.info.oid.into(),
                ];
                // One statement on PostgreSQL; one writer per statement elsewhere.
                let mut result = Vec::new();
                for (i, statement) in statements.iter().enumerate() {
                    let rows = client.update(statement, None, &args)?;
                    if i == returning {
                        result = rows
                            .into_iter()
                            .map(|r| {
                                Ok::<_, pgrx::spi::Error>((
                                    r.get::<String>(1)?.unwrap_or_default(),
                                    r.get::<i64>(2)?.unwrap_or(0),
                                    r.get::<i64>(3)?.unwrap_or(0),
                                    r.get::<i64>(4)?.unwrap_or(0),
                                    r.get::<i64>(5)?.unwrap_or(0),
                                ))
                            })
                            .collect::<Result<Vec<_>, _>>()?;
                    }
                }
                result
                    .into_iter()
                    .map(|(cause, keys, rows, removable, removed)| {
                        let action = if opts.dry_run {
                            if cause == "distinct_rows" && !opts.allow_distinct_rows {
                                "kept: key too narrow"
                            } else {
                                "would remove"
                            }
                        } else if cause == "distinct_rows" && !opts.allow_distinct_rows {
                            "kept: key too narrow"
                        } else {
                            "removed"
                        };
                        Ok(DedupLine {
                            batch_id,
                            keys,
                            rows,
                            removed: if opts.dry_run { removable } else { removed },
                            action: action.into(),
                            cause,
                        })
                    })
                    .collect::<Result<Vec<_>, pgrx::spi::Error>>()
            })
        })
    })
    .context("removing duplicates")?;
    let narrow = lines
        .iter()
        .find(|l| l.cause == "distinct_rows" && !opts.allow_distinct_rows);
    if let Some(l) = narrow {
        pgrx::warning!(
            "dedup_table kept {} duplicated key(s) of {} whose copies differ in payload without a change-time column to order them: \
             they look like distinct rows under a key that is too narrow, and deleting them would lose data; \
             widen the key, or pass allow_distinct_rows => true",
            l.keys,
            t.info.display()
        );
    }
    if opts.add_unique_index && !opts.dry_run {
        if narrow.is_some() {
            return Err(error_with_hint(
                PgSqlErrorCode::ERRCODE_UNIQUE_VIOLATION,
                format!(
                    "cannot add a unique index on ({}) of {}: some keys still have several rows",
                    keys.join(", "),
                    t.info.display()
                ),
                "Those are distinct rows under a too-narrow key; widen the key first.",
            ));
        }
        let cols = keys
            .iter()
            .map(|k| quote_ident(k))
            .collect::<Vec<_>>()
            .join(", ");
        // Inside a function the index cannot be built CONCURRENTLY; it shares the repair's transaction.
        as_role(t.owner, || {
            Spi::run(&format!(
                "CREATE UNIQUE INDEX ON {} ({cols})",
                t.info.relation.sql()
            ))
        })
        .context("adding the unique index")?;
    }
    Ok(lines)
}
