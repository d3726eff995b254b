//! remap_dimension: set a denormalized column of a fact or aggregate table to the dimension's
//! current value, merging rows that collide on a unique key, with every before-image kept.
//! The caller's privileges are checked; the target and the dimension are then read and
//! written as the target's owner, in a security-restricted operation.

use crate::error::{error, error_with_hint, SpiContext, SyncResult};
use crate::plan::remap::{Combine, Current, DimensionValue, RemapPlan};
use crate::quarantine::open_batch;
use crate::resolve::{self, columns_of, Asker, ColumnInfo, RelationInfo};
use crate::security::{as_role, refuse_row_security, relation_owner};
use crate::settings::{bulk, with_settings};
use pgrx::prelude::*;
use pgrx::{pg_sys, PgSqlErrorCode};
use std::ffi::CStr;

const FUNCTION: &str = "remap_dimension";

/// How the caller wants the remap done.
#[derive(Debug, Clone, Default)]
pub struct RemapOptions {
    pub current_by: Option<String>,
    pub current_flag: Option<String>,
    pub merge: Option<serde_json::Value>,
    pub dry_run: bool,
    pub blocks: Option<(i64, i64)>,
    pub batch_id: Option<i64>,
}

/// One line of the result: one (old value, new value) pair.
pub struct RemapLine {
    pub old_value: Option<String>,
    pub new_value: Option<String>,
    pub rows_changed: i64,
    pub rows_merged: i64,
    pub rows_examined: Option<i64>,
    pub batch_id: Option<i64>,
}

fn column<'a>(
    cols: &'a [ColumnInfo],
    name: &str,
    what: &str,
    rel: &RelationInfo,
) -> SyncResult<&'a ColumnInfo> {
    resolve::require_column(cols, name, Asker::Function(FUNCTION), what, rel)
}

/// The target's first valid, non-partial unique index on plain columns that includes `column`.
fn unique_key_with(target: pg_sys::Oid, column: &str) -> SyncResult<Option<Vec<String>>> {
    Spi::get_one_with_args::<Vec<String>>(
        "SELECT (SELECT (SELECT array_agg(a.attname::text ORDER BY k.ord) \
                   FROM unnest((i.indkey::int2[])[0:i.indnkeyatts - 1]) WITH ORDINALITY k(attnum, ord) \
                   JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum) \
           FROM pg_catalog.pg_index i \
          WHERE i.indrelid = $1 AND i.indisunique AND i.indisvalid AND i.indpred IS NULL AND i.indexprs IS NULL \
            AND EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a WHERE a.attrelid = i.indrelid \
                         AND a.attname = $2 AND a.attnum = ANY (i.indkey::int2[])) \
          ORDER BY i.indisprimary DESC, i.indexrelid LIMIT 1)",
        &[target.into(), column.into()],
    )
    .context("reading pg_index")
}

/// The target's first valid, non-partial unique index on plain NOT NULL columns without
/// `column` (the primary key first, then the narrowest): each row's identity across a remap.
fn row_key_without(target: pg_sys::Oid, column: &str) -> SyncResult<Option<Vec<String>>> {
    Spi::get_one_with_args::<Vec<String>>(
        "SELECT (SELECT (SELECT array_agg(a.attname::text ORDER BY k.ord) \
                   FROM unnest((i.indkey::int2[])[0:i.indnkeyatts - 1]) WITH ORDINALITY k(attnum, ord) \
                   JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum) \
           FROM pg_catalog.pg_index i \
          WHERE i.indrelid = $1 AND i.indisunique AND i.indisvalid AND i.indpred IS NULL AND i.indexprs IS NULL \
            AND NOT EXISTS (SELECT FROM pg_catalog.pg_attribute a WHERE a.attrelid = i.indrelid \
                             AND a.attnum = ANY ((i.indkey::int2[])[0:i.indnkeyatts - 1]) \
                             AND (a.attname = $2 OR NOT a.attnotnull)) \
          ORDER BY i.indisprimary DESC, i.indnkeyatts, i.indexrelid LIMIT 1)",
        &[target.into(), column.into()],
    )
    .context("reading pg_index")
}

fn privilege(rel: &RelationInfo, privilege: &str) -> SyncResult<()> {
    let ok = resolve::has_table_privilege(rel.oid, privilege)?;
    if ok {
        Ok(())
    } else {
        Err(error_with_hint(
            PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
            format!(
                "permission denied to remap {} ({FUNCTION} needs {privilege})",
                rel.display()
            ),
            "dry_run => true shows what would change with SELECT alone.",
        ))
    }
}

/// Rows read from the target in this transaction so far (all its partitions).
fn rows_read(target: pg_sys::Oid) -> SyncResult<Option<i64>> {
    Spi::get_one_with_args::<i64>(
        "SELECT CASE WHEN pg_catalog.current_setting('track_counts')::bool THEN \
                coalesce((SELECT sum(pg_catalog.pg_stat_get_xact_tuples_returned(p.relid))::bigint \
                            FROM pg_catalog.pg_partition_tree($1) p WHERE p.isleaf), \
                         pg_catalog.pg_stat_get_xact_tuples_returned($1)) END",
        &[target.into()],
    )
    .context("reading table statistics")
}

/// Validates everything and builds the plan; nothing is written.
fn build(
    target: &str,
    column_name: &str,
    dimension: &str,
    join_on: &[String],
    value: &str,
    opts: &RemapOptions,
) -> SyncResult<(RemapPlan, RelationInfo, pg_sys::Oid)> {
    let t = resolve::lookup_table(target, FUNCTION)?;
    if !t.is_table() {
        return Err(error(
            PgSqlErrorCode::ERRCODE_WRONG_OBJECT_TYPE,
            format!("{FUNCTION}: target \"{}\" is not a table", t.display()),
        ));
    }
    let d = resolve::lookup_table(dimension, FUNCTION)?;
    // The caller's own rights first: the target and the dimension are then read (and the
    // target changed) as the target's owner.
    privilege(&t, "SELECT")?;
    privilege(&d, "SELECT")?;
    refuse_row_security(t.oid, &t.display(), FUNCTION)?;
    refuse_row_security(d.oid, &d.display(), FUNCTION)?;
    let owner = relation_owner(t.oid)?;
    let tcols = columns_of(t.oid)?;
    let dcols = columns_of(d.oid)?;
    let target_col = column(&tcols, column_name, "target", &t)?;
    if join_on.is_empty() {
        return Err(error(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            format!(
                "{FUNCTION} needs join_on columns matching {} to {}",
                t.display(),
                d.display()
            ),
        ));
    }
    let mut join = Vec::new();
    for pair in join_on {
        let (tc, dc) = crate::plan::column_pair(pair).ok_or_else(|| {
            error(
                PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
                format!("{FUNCTION}: join_on entry \"{pair}\" must be column or target_column=dimension_column"),
            )
        })?;
        let (tc, dc) = (tc.as_str(), dc.as_str());
        let tcol = column(&tcols, tc, "join", &t)?;
        let dcol = column(&dcols, dc, "join", &d)?;
        if tcol.type_oid != dcol.type_oid {
            return Err(error(
                PgSqlErrorCode::ERRCODE_DATATYPE_MISMATCH,
                format!(
                    "{FUNCTION}: join columns differ in type: {}.{} is {}, {}.{} is {}",
                    t.relation.name,
                    tcol.name,
                    tcol.type_name,
                    d.relation.name,
                    dcol.name,
                    dcol.type_name
                ),
            ));
        }
        join.push((tc.to_string(), dc.to_string()));
    }
    let value_col = column(&dcols, value, "value", &d)?;
    let (from, to) = (value_col.type_oid, target_col.type_oid);
    // SAFETY: two valid type OIDs, one argument.
    let assignable = unsafe {
        pg_sys::can_coerce_type(1, &from, &to, pg_sys::CoercionContext::COERCION_ASSIGNMENT)
    };
    if !assignable {
        return Err(error(
            PgSqlErrorCode::ERRCODE_DATATYPE_MISMATCH,
            format!(
                "{FUNCTION}: value column \"{}\" of {} ({}) cannot be assigned to \"{}\" of {} ({})",
                value_col.name,
                d.display(),
                value_col.type_name,
                target_col.name,
                t.display(),
                target_col.type_name
            ),
        ));
    }
    let current = match (&opts.current_by, &opts.current_flag) {
        (Some(_), Some(_)) => {
            return Err(error(
                PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
                format!("{FUNCTION}: give current_by or current_flag, not both"),
            ))
        }
        (Some(by), None) => Current::LatestBy(column(&dcols, by, "current_by", &d)?.name.clone()),
        (None, Some(flag)) => {
            let c = column(&dcols, flag, "current_flag", &d)?;
            if c.type_name != "boolean" {
                return Err(error(
                    PgSqlErrorCode::ERRCODE_DATATYPE_MISMATCH,
                    format!(
                        "{FUNCTION}: current_flag column \"{flag}\" of {} is {}, not boolean",
                        d.display(),
                        c.type_name
                    ),
                ));
            }
            Current::Flag(flag.clone())
        }
        (None, None) => Current::Unique,
    };
    let unique_key = unique_key_with(t.oid, column_name)?;
    let mut merge = Vec::new();
    if let Some(spec) = &opts.merge {
        let object = spec.as_object().ok_or_else(|| {
            error_with_hint(
                PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
                format!("{FUNCTION}: merge must be a JSON object of measure columns"),
                "For example merge => '{\"amount\": \"sum\", \"orders\": \"sum\", \"max_ticket\": \"max\"}'.",
            )
        })?;
        for (measure, how) in object {
            column(&tcols, measure, "merge", &t)?;
            if measure == column_name || unique_key.as_ref().is_some_and(|k| k.contains(measure)) {
                return Err(error(
                    PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
                    format!("{FUNCTION}: merge column \"{measure}\" is part of the key and cannot be combined"),
                ));
            }
            let combine = how.as_str().and_then(Combine::parse).ok_or_else(|| {
                error_with_hint(
                    PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
                    format!("{FUNCTION}: merge of \"{measure}\" must be sum, min, max or last, not {how}"),
                    "For example merge => '{\"amount\": \"sum\"}'.",
                )
            })?;
            merge.push((measure.clone(), combine));
        }
    }
    let plan = RemapPlan {
        target: t.relation.clone(),
        column: column_name.to_string(),
        source: DimensionValue {
            dimension: d.relation.clone(),
            join,
            value: value.to_string(),
            current,
        },
        unique_key,
        merge,
        blocks: opts.blocks,
        partitioned: t.kind == 'p',
        row_key: row_key_without(t.oid, column_name)?,
        column_type: resolve::qualified_type_name(target_col.type_oid),
    };
    let ambiguous = as_role(owner, || Spi::get_one::<i64>(&plan.source.ambiguous_keys()))
        .context("checking the dimension")?
        .unwrap_or(0);
    if ambiguous > 0 {
        let keys = plan
            .source
            .join
            .iter()
            .map(|(_, d)| d.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        return Err(error_with_hint(
            PgSqlErrorCode::ERRCODE_CARDINALITY_VIOLATION,
            format!("{FUNCTION}: dimension {} has several current rows for {ambiguous} values of ({keys})", d.display()),
            "Say which row is current: current_by => 'valid_from' (latest wins) or current_flag => 'is_current'.",
        ));
    }
    Ok((plan, t, owner))
}

/// A NOT NULL column (a key column, say) cannot take a NULL current value: say which
/// remap, column and dimension, before anything changes (a dry run says it as a NOTICE).
fn refuse_null_values(
    plan: &RemapPlan,
    t: &RelationInfo,
    owner: pg_sys::Oid,
    dry_run: bool,
    dimension: &str,
) -> SyncResult<()> {
    let not_null = Spi::get_one_with_args::<bool>(
        "SELECT a.attnotnull FROM pg_catalog.pg_attribute a \
          WHERE a.attrelid OPERATOR(pg_catalog.=) $1 AND a.attname::text OPERATOR(pg_catalog.=) $2",
        &[t.oid.into(), plan.column.clone().into()],
    )
    .context("reading the column's NOT NULL constraint")?
    .unwrap_or(false);
    if !not_null {
        return Ok(());
    }
    let rows = as_role(owner, || {
        bulk(|| {
            let possible = Spi::get_one::<bool>(&plan.dimension_has_null_values())
                .context("checking the dimension for NULL values")?
                .unwrap_or(false);
            if !possible {
                return Ok(Some(0));
            }
            Spi::get_one::<i64>(&plan.null_values()).context("checking for NULL values")
        })
    })?
    .unwrap_or(0);
    if rows == 0 {
        return Ok(());
    }
    let message = format!(
        "{FUNCTION}: {rows} {} of {} would get a NULL \"{}\" (the current value in {dimension} is NULL for {} key), but the column is NOT NULL",
        if rows == 1 { "row" } else { "rows" },
        t.display(),
        plan.column,
        if rows == 1 { "its" } else { "their" },
    );
    if dry_run {
        pgrx::notice!("{message}");
        return Ok(());
    }
    Err(error_with_hint(
        PgSqlErrorCode::ERRCODE_NOT_NULL_VIOLATION,
        format!("{message}; nothing was changed"),
        "Fill the dimension's value for those keys, or mark which row is current with current_by / current_flag.",
    ))
}

/// Remaps (or, with dry_run, previews) `target.column` from the dimension's current value.
pub fn remap(
    target: &str,
    column_name: &str,
    dimension: &str,
    join_on: &[String],
    value: &str,
    opts: &RemapOptions,
) -> SyncResult<Vec<RemapLine>> {
    let (plan, t, owner) = build(target, column_name, dimension, join_on, value, opts)?;
    if !opts.dry_run {
        privilege(&t, "UPDATE")?;
        if !plan.merge.is_empty() {
            privilege(&t, "DELETE")?;
        }
    }
    refuse_null_values(&plan, &t, owner, opts.dry_run, dimension)?;
    let collisions = match &plan.unique_key {
        Some(key) => {
            let (count, example) = as_role(owner, || {
                bulk(|| Spi::get_two::<i64, String>(&plan.collisions()))
            })
            .context("checking for collisions")?;
            let count = count.unwrap_or(0);
            if count > 0 && plan.merge.is_empty() && !opts.dry_run {
                return Err(error_with_hint(
                    PgSqlErrorCode::ERRCODE_UNIQUE_VIOLATION,
                    format!(
                        "{FUNCTION}: after the remap {count} keys ({}) of {} would hold several rows, e.g. {}; nothing was changed",
                        key.join(", "),
                        t.display(),
                        example.unwrap_or_default()
                    ),
                    "Say how each measure combines, e.g. merge => '{\"amount\": \"sum\", \"orders\": \"sum\"}'.",
                ));
            }
            if count > 0 && opts.dry_run {
                pgrx::notice!(
                    "{FUNCTION}: {count} keys ({}) of {} would collide and need merge",
                    key.join(", "),
                    t.display()
                );
            }
            count
        }
        None => 0,
    };
    let batch_id = if opts.dry_run {
        None
    } else {
        Some(open_batch(opts.batch_id, t.oid, FUNCTION)?)
    };
    // Rows examined = target rows the remap statement itself reads (table statistics).
    let read_before = rows_read(t.oid)?;
    let (sql, args): (String, Vec<pgrx::datum::DatumWithOid>) = if opts.dry_run {
        if collisions > 0 && !plan.merge.is_empty() {
            (plan.merge_preview(), vec![])
        } else {
            (plan.preview(), vec![])
        }
    } else if collisions > 0 {
        (plan.merge_update(), vec![batch_id.into(), t.oid.into()])
    } else {
        (plan.update(), vec![batch_id.into(), t.oid.into()])
    };
    // A slim remap groups the changed rows' keys into entries in memory: enough work_mem
    // that the grouping does not spill (it did at 8 MB for 100,000 rows).
    let slim = !opts.dry_run && collisions == 0 && plan.row_key.is_some();
    let pairs = as_role(owner, || {
        bulk(|| {
            let settings: &[(&CStr, &CStr)] = if slim { &[(c"work_mem", c"64MB")] } else { &[] };
            with_settings(settings, || {
                Spi::connect_mut(|client| {
                    let rows = client.update(sql.as_str(), None, &args)?;
                    rows.into_iter()
                        .map(|r| {
                            Ok((
                                r.get::<String>(1)?,
                                r.get::<String>(2)?,
                                r.get::<i64>(3)?,
                                r.get::<i64>(4)?.unwrap_or(0),
                                r.get::<i64>(5)?.unwrap_or(0),
                            ))
                        })
                        .collect::<Result<Vec<_>, pgrx::spi::Error>>()
                })
            })
        })
    })
    .context("remapping")?;
    let examined = match (read_before, rows_read(t.oid)?) {
        (Some(before), Some(after)) => Some(after - before),
        _ => None,
    };
    let left = pairs.iter().map(|p| p.4).max().unwrap_or(0);
    if left > 0 {
        error_with_hint(
            PgSqlErrorCode::ERRCODE_WARNING,
            format!(
                "{FUNCTION}: {left} row(s) of {} were changed or deleted by another transaction during the remap and were left as they are",
                t.display()
            ),
            "Run remap_dimension again to remap what they hold now.",
        )
        .report(pgrx::PgLogLevel::WARNING);
    }
    let mut lines: Vec<RemapLine> = pairs
        .into_iter()
        .filter_map(|(old_value, new_value, rows_changed, rows_merged, _)| {
            Some(RemapLine {
                old_value,
                new_value,
                rows_changed: rows_changed?,
                rows_merged,
                rows_examined: examined,
                batch_id,
            })
        })
        .collect();
    if lines.is_empty() {
        lines.push(RemapLine {
            old_value: None,
            new_value: None,
            rows_changed: 0,
            rows_merged: 0,
            rows_examined: examined,
            batch_id,
        });
    }
    Ok(lines)
}
