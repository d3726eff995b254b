//! Resolving a job against the live catalog: relations, columns, types and indexes, turned
//! into a [`SyncPlan`]. Used at define time (to validate) and at every run (the tables may
//! have changed since).

use crate::catalog::Job;
use crate::error::{error, error_with_hint, SpiContext, SyncResult};
use crate::plan::remap::Current;
use crate::plan::remap::DimensionValue;
use crate::plan::segment::Dialect;
use crate::plan::RunKind;
use crate::plan::{
    Column, MergeStrategy, RelatedWatermark, Relation, SyncPlan, Watermark, WatermarkKind,
};
use pgrx::prelude::*;
use pgrx::{pg_sys, PgSqlErrorCode};

/// A relation's identity and kind (`r`, `p`, `v`, `m`, `f`, ...).
#[derive(Debug, Clone)]
pub struct RelationInfo {
    pub oid: pg_sys::Oid,
    pub relation: Relation,
    pub kind: char,
    /// `schema.name` quoted as Postgres quotes identifiers: what a user can paste back.
    pub quoted: String,
}

impl RelationInfo {
    pub fn display(&self) -> String {
        self.quoted.clone()
    }
    pub fn is_table(&self) -> bool {
        matches!(self.kind, 'r' | 'p')
    }
}

#[derive(Debug, Clone)]
pub struct ColumnInfo {
    pub name: String,
    pub type_oid: pg_sys::Oid,
    pub type_name: String,
    pub generated: bool,
}

/// Resolves a relation name as typed by a user (`ods.customer`, `ods."Order Lines"`).
pub fn lookup_relation(name: &str, role: &str, job: &str) -> SyncResult<RelationInfo> {
    let oid = crate::security::with_caller_search_path(|| {
        Spi::get_one_with_args::<pg_sys::Oid>(
            "SELECT pg_catalog.to_regclass($1)::oid",
            &[name.into()],
        )
    })
    .map_err(|_| {
        error(
            PgSqlErrorCode::ERRCODE_INVALID_NAME,
            format!("{role} \"{name}\" of sync job \"{job}\" is not a valid relation name"),
        )
    })?;
    match oid {
        Some(oid) => relation_info(oid, role, job),
        None => Err(error_with_hint(
            PgSqlErrorCode::ERRCODE_UNDEFINED_TABLE,
            format!("{role} relation \"{name}\" of sync job \"{job}\" does not exist"),
            "Schema-qualify the name and double-quote parts with capitals or spaces, e.g. 'ods.\"Order Lines\"'.",
        )),
    }
}

/// Resolves a table name given to a maintenance function (dedup_table, remap_dimension...).
pub fn lookup_table(name: &str, function: &str) -> SyncResult<RelationInfo> {
    let oid = crate::security::with_caller_search_path(|| {
        Spi::get_one_with_args::<pg_sys::Oid>("SELECT pg_catalog.to_regclass($1)::oid", &[name.into()])
    })
        .map_err(|_| error(PgSqlErrorCode::ERRCODE_INVALID_NAME, format!("{function}: \"{name}\" is not a valid relation name")))?
        .ok_or_else(|| {
            error_with_hint(
                PgSqlErrorCode::ERRCODE_UNDEFINED_TABLE,
                format!("{function}: relation \"{name}\" does not exist"),
                "Schema-qualify the name and double-quote parts with capitals or spaces, e.g. 'dw.\"Order Lines\"'.",
            )
        })?;
    relation_info_named(oid, function)
}

/// Identity and kind of a relation by OID, for a maintenance function's messages.
pub fn relation_info_named(oid: pg_sys::Oid, function: &str) -> SyncResult<RelationInfo> {
    relation_info(oid, "", "").map_err(|_| {
        error(
            PgSqlErrorCode::ERRCODE_UNDEFINED_TABLE,
            format!(
                "{function}: relation with OID {} no longer exists",
                oid.to_u32()
            ),
        )
    })
}

/// Identity and kind of a relation by OID; a dropped relation is reported against the job.
pub fn relation_info(oid: pg_sys::Oid, role: &str, job: &str) -> SyncResult<RelationInfo> {
    let row = Spi::connect(|client| {
        let rows = client.select(
            "SELECT n.nspname::text, c.relname::text, c.relkind::text, \
                    pg_catalog.quote_ident(n.nspname) OPERATOR(pg_catalog.||) '.' \
                        OPERATOR(pg_catalog.||) pg_catalog.quote_ident(c.relname) \
               FROM pg_catalog.pg_class c \
               JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace \
              WHERE c.oid OPERATOR(pg_catalog.=) $1",
            None,
            &[oid.into()],
        )?;
        let Some(row) = rows.into_iter().next() else {
            return Ok(None);
        };
        Ok::<_, pgrx::spi::Error>(Some((
            row.get::<String>(1)?.unwrap_or_default(),
            row.get::<String>(2)?.unwrap_or_default(),
            row.get::<String>(3)?.unwrap_or_default(),
            row.get::<String>(4)?.unwrap_or_default(),
        )))
    });
    match row {
        Ok(Some((schema, name, kind, quoted))) => Ok(RelationInfo {
            oid,
            relation: Relation::new(&schema, &name),
            kind: kind.chars().next().unwrap_or('?'),
            quoted,
        }),
        _ => Err(error_with_hint(
            PgSqlErrorCode::ERRCODE_UNDEFINED_TABLE,
            format!(
                "{role} relation (oid {}) of sync job \"{job}\" no longer exists",
                oid.to_u32()
            ),
            format!(
                "Point the job at an existing relation with sync_alter('{job}', {role} => ...)."
            ),
        )),
    }
}

/// Whether the current role holds `privilege` (SELECT, INSERT, UPDATE, DELETE) on a relation.
pub fn has_table_privilege(rel: pg_sys::Oid, privilege: &str) -> SyncResult<bool> {
    Ok(Spi::get_one_with_args::<bool>(
        "SELECT pg_catalog.has_table_privilege($1, $2)",
        &[rel.into(), privilege.into()],
    )
    .context("checking table privileges")?
    .unwrap_or(false))
}

pub fn columns_of(oid: pg_sys::Oid) -> SyncResult<Vec<ColumnInfo>> {
    Spi::connect(|client| {
        let rows = client
            .select(
                "SELECT a.attname::text, a.atttypid, pg_catalog.format_type(a.atttypid, NULL), a.attgenerated <> '' \
                   FROM pg_catalog.pg_attribute a \
                  WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
                None,
                &[oid.into()],
            )
            .context("reading pg_attribute")?;
        rows.into_iter()
            .map(|r| {
                Ok(ColumnInfo {
                    name: r.get(1).context("attname")?.unwrap_or_default(),
                    type_oid: r
                        .get(2)
                        .context("atttypid")?
                        .unwrap_or(pg_sys::Oid::INVALID),
                    type_name: r.get(3).context("format_type")?.unwrap_or_default(),
                    generated: r.get(4).context("attgenerated")?.unwrap_or(false),
                })
            })
            .collect()
    })
}

/// Whether a type has a default equality operator (json, point, xml do not).
pub fn has_equality(type_oid: pg_sys::Oid) -> bool {
    // SAFETY: lookup_type_cache returns a valid cache entry or raises an error.
    unsafe {
        let entry = pg_sys::lookup_type_cache(type_oid, pg_sys::TYPECACHE_EQ_OPR as i32);
        (*entry).eq_opr != pg_sys::Oid::INVALID
    }
}

/// Whether `rel` has a valid, non-partial unique index on plain columns that satisfies `covers`
/// given the index's key column names.
fn has_unique_index(rel: pg_sys::Oid, keys: &[String], exact: bool) -> SyncResult<bool> {
    let sql = if exact {
        "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = $1 AND i.indisunique AND i.indisvalid \
            AND i.indpred IS NULL AND i.indexprs IS NULL \
            AND (SELECT array_agg(a.attname::text ORDER BY a.attname) FROM pg_catalog.pg_attribute a \
                  WHERE a.attrelid = i.indrelid AND a.attnum = ANY ((i.indkey::int2[])[0:i.indnkeyatts - 1])) \
              = (SELECT array_agg(k ORDER BY k) FROM unnest($2::text[]) k))"
    } else {
        "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = $1 AND i.indisunique AND i.indisvalid \
            AND i.indpred IS NULL AND i.indexprs IS NULL \
            AND (SELECT array_agg(a.attname::text) FROM pg_catalog.pg_attribute a \
                  WHERE a.attrelid = i.indrelid AND a.attnum = ANY ((i.indkey::int2[])[0:i.indnkeyatts - 1])) \
              <@ $2::text[])"
    };
    Ok(
        Spi::get_one_with_args::<bool>(sql, &[rel.into(), keys.to_vec().into()])
            .context("reading pg_index")?
            .unwrap_or(false),
    )
}

/// Whether `rel` has an index that finds the rows of one key: a valid, non-partial btree or hash
/// index whose leading columns are the key columns (in any order), or a unique one on some of
/// them. Delete+insert merges look keys up in it; without one they hash (see `plan`).
fn has_key_index(rel: pg_sys::Oid, keys: &[String]) -> SyncResult<bool> {
    let sql = "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_index i \
            JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid JOIN pg_catalog.pg_am am ON am.oid = c.relam \
          WHERE i.indrelid = $1 AND i.indisvalid AND i.indpred IS NULL AND am.amname IN ('btree', 'hash') \
            AND ((SELECT array_agg(a.attname::text ORDER BY a.attname) FROM pg_catalog.pg_attribute a \
                   WHERE a.attrelid = i.indrelid \
                     AND a.attnum = ANY ((i.indkey::int2[])[0:least(i.indnkeyatts, cardinality($2::text[])) - 1])) \
                  = (SELECT array_agg(k ORDER BY k) FROM unnest($2::text[]) k) \
              OR (i.indisunique AND i.indexprs IS NULL \
                  AND (SELECT array_agg(a.attname::text) FROM pg_catalog.pg_attribute a \
                        WHERE a.attrelid = i.indrelid AND a.attnum = ANY ((i.indkey::int2[])[0:i.indnkeyatts - 1])) \
                      <@ $2::text[])))";
    Ok(
        Spi::get_one_with_args::<bool>(sql, &[rel.into(), keys.to_vec().into()])
            .context("reading pg_index")?
            .unwrap_or(false),
    )
}

fn find<'a>(cols: &'a [ColumnInfo], name: &str) -> Option<&'a ColumnInfo> {
    cols.iter().find(|c| c.name == name)
}

/// Who names a column in an error: a sync job, or a function such as dedup_table.
#[derive(Clone, Copy)]
pub enum Asker<'a> {
    Job(&'a str),
    Function(&'a str),
}

/// The one error for a column that is not there: names the asker, the column's role
/// (key, watermark, ...) and the relation, with the usual cause as the hint.
pub fn missing_column(
    asker: Asker,
    what: &str,
    column: &str,
    rel: &RelationInfo,
) -> pgrx::pg_sys::panic::ErrorReport {
    let message = match asker {
        Asker::Job(job) => format!(
            "{what} column \"{column}\" of sync job \"{job}\" does not exist in {}",
            rel.display()
        ),
        Asker::Function(function) => format!(
            "{function}: {what} column \"{column}\" does not exist in {}",
            rel.display()
        ),
    };
    error_with_hint(
        PgSqlErrorCode::ERRCODE_UNDEFINED_COLUMN,
        message,
        "Column names are case-sensitive: give them exactly as stored, without quotes.",
    )
}

/// The column named `name` of `rel`, or the missing-column error.
pub fn require_column<'a>(
    cols: &'a [ColumnInfo],
    name: &str,
    asker: Asker,
    what: &str,
    rel: &RelationInfo,
) -> SyncResult<&'a ColumnInfo> {
    find(cols, name).ok_or_else(|| missing_column(asker, what, name, rel))
}

/// Everything a run needs, resolved from a job against the current catalog.
pub struct Resolved {
    pub plan: SyncPlan,
    pub source: RelationInfo,
    pub target: RelationInfo,
    /// Relation whose writers must be waited for before an integer watermark is trusted.
    pub watermark_table: Option<RelationInfo>,
    /// The relation holding the watermark column (the source, or the related table).
    pub watermark_relation: Option<RelationInfo>,
}

impl Resolved {
    /// The foreign table a run reads through another server, if any (source or watermark table).
    pub fn foreign_relation(&self) -> Option<&RelationInfo> {
        std::iter::once(&self.source)
            .chain(self.watermark_relation.as_ref())
            .find(|r| r.kind == 'f')
    }
}

/// Validates a job against the live catalog and builds its plan. Every user-facing error
/// names the job and the offending relation or column.
pub fn resolve(job: &Job) -> SyncResult<Resolved> {
    let name = job.name.as_str();
    let source = relation_info(job.source, "source", name)?;
    let target = relation_info(job.target, "target", name)?;
    if !matches!(source.kind, 'r' | 'p' | 'v' | 'm' | 'f') {
        return Err(error(
            PgSqlErrorCode::ERRCODE_WRONG_OBJECT_TYPE,
            format!(
                "source \"{}\" of sync job \"{name}\" is not a table, view or foreign table",
                source.display()
            ),
        ));
    }
    if !target.is_table() {
        return Err(error(
            PgSqlErrorCode::ERRCODE_WRONG_OBJECT_TYPE,
            format!(
                "target \"{}\" of sync job \"{name}\" is not a table",
                target.display()
            ),
        ));
    }
    if source.oid == target.oid {
        return Err(error(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            format!(
                "sync job \"{name}\" has the same relation \"{}\" as source and target",
                source.display()
            ),
        ));
    }
    let source_cols = columns_of(source.oid)?;
    let target_cols = columns_of(target.oid)?;

    if job.keys.is_empty() {
        return Err(error(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("sync job \"{name}\" needs at least one key column"),
        ));
    }
    for (i, key) in job.keys.iter().enumerate() {
        if job.keys[..i].contains(key) {
            return Err(error(
                PgSqlErrorCode::ERRCODE_DUPLICATE_COLUMN,
                format!("key column \"{key}\" of sync job \"{name}\" is listed twice"),
            ));
        }
        let col = find(&source_cols, key)
            .ok_or_else(|| missing_column(Asker::Job(name), "key", key, &source))?;
        if find(&target_cols, key).is_none() {
            return Err(error_with_hint(
                PgSqlErrorCode::ERRCODE_UNDEFINED_COLUMN,
                format!(
                    "key column \"{key}\" of sync job \"{name}\" is absent from target {}",
                    target.display()
                ),
                "Add the column to the target table, or choose key columns that both tables have.",
            ));
        }
        if !has_equality(col.type_oid) {
            return Err(error(
                PgSqlErrorCode::ERRCODE_UNDEFINED_FUNCTION,
                format!("key column \"{key}\" of sync job \"{name}\" has type {} which has no equality operator", col.type_name),
            ));
        }
    }

    let columns: Vec<Column> = match &job.columns {
        Some(list) => {
            let mut out = Vec::new();
            for c in list {
                let sc = find(&source_cols, c)
                    .ok_or_else(|| missing_column(Asker::Job(name), "listed", c, &source))?;
                find(&target_cols, c)
                    .ok_or_else(|| missing_column(Asker::Job(name), "listed", c, &target))?;
                out.push(column_of(sc));
            }
            for key in &job.keys {
                if !list.contains(key) {
                    return Err(error(
                        PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
                        format!(
                            "column list of sync job \"{name}\" must include key column \"{key}\""
                        ),
                    ));
                }
            }
            out
        }
        None => target_cols
            .iter()
            .filter(|t| !t.generated)
            .filter_map(|t| find(&source_cols, &t.name))
            .map(column_of)
            .collect(),
    };

    let columns = apply_lookups(job, &source, &source_cols, &target, &target_cols, columns)?;

    let watermark = match &job.watermark_column {
        None => None,
        Some(wm_col) => {
            let (rel, cols, related) = match (job.watermark_relation, &job.watermark_join) {
                (Some(rel_oid), Some(pairs)) => {
                    let rel = relation_info(rel_oid, "watermark", name)?;
                    let rel_cols = columns_of(rel.oid)?;
                    if pairs.is_empty() {
                        return Err(error(
                            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
                            format!("sync job \"{name}\" reads its watermark from {} but names no join columns", rel.display()),
                        ));
                    }
                    for p in pairs {
                        let s = find(&source_cols, &p.source).ok_or_else(|| {
                            missing_column(Asker::Job(name), "join", &p.source, &source)
                        })?;
                        let r = find(&rel_cols, &p.related).ok_or_else(|| {
                            missing_column(Asker::Job(name), "join", &p.related, &rel)
                        })?;
                        if s.type_oid != r.type_oid {
                            return Err(error(
                                PgSqlErrorCode::ERRCODE_DATATYPE_MISMATCH,
                                format!(
                                    "join columns of sync job \"{name}\" differ in type: {}.{} is {}, {}.{} is {}",
                                    source.relation.name, s.name, s.type_name, rel.relation.name, r.name, r.type_name
                                ),
                            ));
                        }
                    }
                    let related = RelatedWatermark {
                        relation: rel.relation.clone(),
                        join: pairs
                            .iter()
                            .map(|p| (p.source.clone(), p.related.clone()))
                            .collect(),
                    };
                    (rel, rel_cols, Some(related))
                }
                _ => (source.clone(), source_cols.clone(), None),
            };
            let col = find(&cols, wm_col)
                .ok_or_else(|| missing_column(Asker::Job(name), "watermark", wm_col, &rel))?;
            let kind = WatermarkKind::from_type_name(&col.type_name).ok_or_else(|| {
                error_with_hint(
                    PgSqlErrorCode::ERRCODE_DATATYPE_MISMATCH,
                    format!("watermark column \"{wm_col}\" of sync job \"{name}\" has unsupported type {}", col.type_name),
                    "A watermark must be timestamptz, timestamp, date, smallint, integer or bigint.",
                )
            })?;
            Some((
                Watermark {
                    column: wm_col.clone(),
                    kind,
                    related,
                },
                rel,
            ))
        }
    };
    if job.mode != RunKind::Full && watermark.is_none() {
        return Err(error_with_hint(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            format!(
                "sync job \"{name}\" in mode {} needs a watermark column",
                job.mode
            ),
            "Name the change-time column with watermark => 'updated_at', or use mode => 'full'.",
        ));
    }

    let related = watermark.as_ref().is_some_and(|(w, _)| w.related.is_some());
    let source_key_unique =
        source.is_table() && !related && has_unique_index(source.oid, &job.keys, false)?;
    // The engine decides what SQL it accepts: detected once, for serial and parallel runs.
    let dialect = detect_dialect()?;
    let strategy = if dialect.on_conflict && has_unique_index(target.oid, &job.keys, true)? {
        MergeStrategy::Upsert
    } else {
        MergeStrategy::DeleteInsert
    };
    let target_key_indexed =
        strategy == MergeStrategy::DeleteInsert && has_key_index(target.oid, &job.keys)?;
    let (watermark, watermark_table, watermark_relation) = match watermark {
        Some((w, rel)) => {
            let table = rel.is_table().then(|| rel.clone());
            (Some(w), table, Some(rel))
        }
        None => (None, None, None),
    };
    Ok(Resolved {
        plan: SyncPlan {
            source: source.relation.clone(),
            target: target.relation.clone(),
            keys: job.keys.clone(),
            columns,
            watermark,
            filter: job.source_filter.clone(),
            source_key_unique,
            strategy,
            target_partitioned: target.kind == 'p',
            source_foreign: source.kind == 'f',
            target_key_indexed,
            dialect,
        },
        source,
        target,
        watermark_table,
        watermark_relation,
    })
}

/// The engine this database runs on.
pub fn detect_dialect() -> SyncResult<Dialect> {
    let (version, number) = Spi::get_two::<String, i32>(
        "SELECT pg_catalog.version(), pg_catalog.current_setting('server_version_num')::int",
    )
    .context("reading the server version")?;
    let version = version.unwrap_or_default();
    let number = number.unwrap_or(0) as u32;
    let probe = Dialect::detect(&version, number, 0);
    if probe.engine == crate::plan::segment::Engine::Postgres {
        return Ok(probe);
    }
    let segments = Spi::get_one::<i64>(
        "SELECT count(*) FROM pg_catalog.gp_segment_configuration WHERE role = 'p' AND content >= 0",
    )
    .context("reading gp_segment_configuration")?
    .unwrap_or(0);
    Ok(Dialect::detect(&version, number, segments as u32))
}

/// Adds (or replaces) the columns a job fills from a dimension's current value.
fn apply_lookups(
    job: &Job,
    source: &RelationInfo,
    source_cols: &[ColumnInfo],
    target: &RelationInfo,
    target_cols: &[ColumnInfo],
    mut columns: Vec<Column>,
) -> SyncResult<Vec<Column>> {
    let name = job.name.as_str();
    for def in job.lookups.iter().flatten() {
        let dim = relation_info(pg_sys::Oid::from(def.dimension), "dimension", name)?;
        let dim_cols = columns_of(dim.oid)?;
        let target_col = find(target_cols, &def.column)
            .ok_or_else(|| missing_column(Asker::Job(name), "lookup", &def.column, target))?;
        if job.keys.contains(&def.column) {
            return Err(error(
                PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
                format!(
                    "key column \"{}\" of sync job \"{name}\" cannot be filled by a lookup",
                    def.column
                ),
            ));
        }
        let mut join = Vec::new();
        for pair in &def.join {
            let s = find(source_cols, &pair.source).ok_or_else(|| {
                missing_column(Asker::Job(name), "lookup join", &pair.source, source)
            })?;
            let d = find(&dim_cols, &pair.dimension).ok_or_else(|| {
                missing_column(Asker::Job(name), "lookup join", &pair.dimension, &dim)
            })?;
            if s.type_oid != d.type_oid {
                return Err(error(
                    PgSqlErrorCode::ERRCODE_DATATYPE_MISMATCH,
                    format!(
                        "lookup join columns of sync job \"{name}\" differ in type: {}.{} is {}, {}.{} is {}",
                        source.relation.name, s.name, s.type_name, dim.relation.name, d.name, d.type_name
                    ),
                ));
            }
            join.push((pair.source.clone(), pair.dimension.clone()));
        }
        let value = find(&dim_cols, &def.value)
            .ok_or_else(|| missing_column(Asker::Job(name), "lookup value", &def.value, &dim))?;
        let (from, to) = (value.type_oid, target_col.type_oid);
        // SAFETY: two valid type OIDs, one argument.
        if !unsafe {
            pg_sys::can_coerce_type(1, &from, &to, pg_sys::CoercionContext::COERCION_ASSIGNMENT)
        } {
            return Err(error(
                PgSqlErrorCode::ERRCODE_DATATYPE_MISMATCH,
                format!(
                    "lookup of sync job \"{name}\": {}.{} ({}) cannot be assigned to {}.{} ({})",
                    dim.relation.name,
                    value.name,
                    value.type_name,
                    target.relation.name,
                    target_col.name,
                    target_col.type_name
                ),
            ));
        }
        let current = match (&def.current_by, &def.current_flag) {
            (Some(by), _) => {
                find(&dim_cols, by).ok_or_else(|| {
                    missing_column(Asker::Job(name), "lookup current_by", by, &dim)
                })?;
                Current::LatestBy(by.clone())
            }
            (None, Some(flag)) => {
                let c = find(&dim_cols, flag).ok_or_else(|| {
                    missing_column(Asker::Job(name), "lookup current_flag", flag, &dim)
                })?;
                if c.type_name != "boolean" {
                    return Err(error(
                        PgSqlErrorCode::ERRCODE_DATATYPE_MISMATCH,
                        format!(
                            "lookup of \"{}\" in sync job \"{name}\": current_flag column \"{flag}\" of {} is {}, not boolean",
                            def.column,
                            dim.display(),
                            c.type_name
                        ),
                    ));
                }
                Current::Flag(flag.clone())
            }
            (None, None) => Current::Unique,
        };
        let lookup = DimensionValue {
            dimension: dim.relation.clone(),
            join,
            value: def.value.clone(),
            current,
        };
        let ambiguous = Spi::get_one::<i64>(&lookup.ambiguous_keys())
            .context("checking the lookup dimension")?
            .unwrap_or(0);
        if ambiguous > 0 {
            return Err(error_with_hint(
                PgSqlErrorCode::ERRCODE_CARDINALITY_VIOLATION,
                format!(
                    "lookup of \"{}\" in sync job \"{name}\": dimension {} has several current rows for {ambiguous} keys",
                    def.column,
                    dim.display()
                ),
                "Say which row is current with \"current_by\" (latest wins) or \"current_flag\".",
            ));
        }
        columns.retain(|c| c.name != def.column);
        let mut column = column_of(target_col);
        column.lookup = Some(lookup);
        columns.push(column);
    }
    Ok(columns)
}

fn column_of(c: &ColumnInfo) -> Column {
    if has_equality(c.type_oid) {
        Column::new(&c.name)
    } else {
        Column::without_equality(&c.name)
    }
}

/// The watermark column's type OID (stored in the catalog at define time).
pub fn watermark_type_oid(job: &Job) -> SyncResult<Option<pg_sys::Oid>> {
    let Some(col) = &job.watermark_column else {
        return Ok(None);
    };
    let rel = job.watermark_relation.unwrap_or(job.source);
    Spi::get_one_with_args::<pg_sys::Oid>(
        "SELECT (SELECT atttypid FROM pg_catalog.pg_attribute WHERE attrelid = $1 AND attname = $2 AND NOT attisdropped)",
        &[rel.into(), col.clone().into()],
    )
    .context("reading the watermark type")
}
