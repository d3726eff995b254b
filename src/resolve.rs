//! Resolving a job against the live catalog: relations, columns, types and indexes, turned
//! into a [`SyncPlan`]. Used at define time (to validate) and at every run (the tables may
//! have changed since).

use crate::catalog::Job;
use crate::error::{error, error_with_hint, SpiContext, SyncResult};
use crate::plan::dialect::{co_location_problem, Distribution, Storage};
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
    /// The type with its typmod, schema-qualified unless built in (`character varying(20)`,
    /// `"app"."money_t"`): what a staged window declares.
    pub sql_type: String,
    pub generated: bool,
}

/// A type's name as SQL, always schema-qualified (`pg_catalog.int4`, `app."Money"`), so no
/// search_path decides which type it names.
pub fn qualified_type_name(type_oid: pg_sys::Oid) -> String {
    // SAFETY: format_type_extended reads the syscache and returns a palloc'd string.
    unsafe {
        let name = pg_sys::format_type_extended(
            type_oid,
            -1,
            pg_sys::FORMAT_TYPE_FORCE_QUALIFY as pg_sys::bits16,
        );
        std::ffi::CStr::from_ptr(name)
            .to_string_lossy()
            .into_owned()
    }
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
/// Read from the system caches: every run resolves its relations, and a statement would be
/// parsed and planned from cold caches on each session's first run.
pub fn relation_info(oid: pg_sys::Oid, role: &str, job: &str) -> SyncResult<RelationInfo> {
    // SAFETY: lsyscache lookups inside a transaction; each returns NULL (or 0) for a relation
    // that does not exist, and palloc'd copies otherwise.
    let found = unsafe {
        let name = pg_sys::get_rel_name(oid);
        let schema = if name.is_null() {
            std::ptr::null_mut()
        } else {
            pg_sys::get_namespace_name(pg_sys::get_rel_namespace(oid))
        };
        (!name.is_null() && !schema.is_null()).then(|| {
            let text = |p: *const std::ffi::c_char| {
                std::ffi::CStr::from_ptr(p).to_string_lossy().into_owned()
            };
            (
                text(schema),
                text(name),
                pg_sys::get_rel_relkind(oid) as u8 as char,
                format!(
                    "{}.{}",
                    text(pg_sys::quote_identifier(schema)),
                    text(pg_sys::quote_identifier(name))
                ),
            )
        })
    };
    match found {
        Some((schema, name, kind, quoted)) => Ok(RelationInfo {
            oid,
            relation: Relation::new(&schema, &name),
            kind,
            quoted,
        }),
        None => Err(error_with_hint(
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

/// A relation's columns in order (dropped ones left out), from the system caches (see
/// [`relation_info`]).
pub fn columns_of(oid: pg_sys::Oid) -> SyncResult<Vec<ColumnInfo>> {
    // SAFETY: syscache lookups inside a transaction; every tuple found is released before the
    // next lookup, after its fields were copied.
    unsafe {
        let class = pg_sys::SearchSysCache1(
            pg_sys::SysCacheIdentifier::RELOID as i32,
            pg_sys::Datum::from(oid),
        );
        if class.is_null() {
            return Ok(Vec::new());
        }
        let count = (*pg_sys::heap_tuple_get_struct::<pg_sys::FormData_pg_class>(class)).relnatts;
        pg_sys::ReleaseSysCache(class);
        let mut columns = Vec::with_capacity(count.max(0) as usize);
        for number in 1..=count {
            let tuple = pg_sys::SearchSysCache2(
                pg_sys::SysCacheIdentifier::ATTNUM as i32,
                pg_sys::Datum::from(oid),
                pg_sys::Datum::from(number),
            );
            if tuple.is_null() {
                continue;
            }
            let att = &*pg_sys::heap_tuple_get_struct::<pg_sys::FormData_pg_attribute>(tuple);
            if !att.attisdropped {
                let type_name = pg_sys::format_type_extended(
                    att.atttypid,
                    -1,
                    pg_sys::FORMAT_TYPE_ALLOW_INVALID as pg_sys::bits16,
                );
                let sql_type = pg_sys::format_type_extended(
                    att.atttypid,
                    att.atttypmod,
                    (pg_sys::FORMAT_TYPE_TYPEMOD_GIVEN | pg_sys::FORMAT_TYPE_FORCE_QUALIFY)
                        as pg_sys::bits16,
                );
                columns.push(ColumnInfo {
                    name: std::ffi::CStr::from_ptr(att.attname.data.as_ptr())
                        .to_string_lossy()
                        .into_owned(),
                    type_oid: att.atttypid,
                    type_name: std::ffi::CStr::from_ptr(type_name)
                        .to_string_lossy()
                        .into_owned(),
                    sql_type: std::ffi::CStr::from_ptr(sql_type)
                        .to_string_lossy()
                        .into_owned(),
                    generated: att.attgenerated != 0,
                });
            }
            pg_sys::ReleaseSysCache(tuple);
        }
        Ok(columns)
    }
}

/// Whether a type has a default equality operator (json, point, xml do not).
pub fn has_equality(type_oid: pg_sys::Oid) -> bool {
    // SAFETY: lookup_type_cache returns a valid cache entry or raises an error.
    unsafe {
        let entry = pg_sys::lookup_type_cache(type_oid, pg_sys::TYPECACHE_EQ_OPR as i32);
        (*entry).eq_opr != pg_sys::Oid::INVALID
    }
}

/// What the key lookups need to know of one index of a relation.
#[derive(Debug, Clone)]
struct IndexShape {
    unique: bool,
    valid: bool,
    partial: bool,
    expressions: bool,
    /// btree or hash: finds the rows of one key.
    finds_keys: bool,
    /// The key columns in order (`None` for an expression column).
    columns: Vec<Option<String>>,
}

impl IndexShape {
    /// The first `n` key columns' names, sorted, if all of them are plain columns.
    fn leading_names(&self, n: usize) -> Option<Vec<&str>> {
        let mut names = self
            .columns
            .iter()
            .take(n)
            .map(|c| c.as_deref())
            .collect::<Option<Vec<&str>>>()?;
        names.sort_unstable();
        Some(names)
    }

    fn plain_unique(&self) -> bool {
        self.unique && self.valid && !self.partial && !self.expressions
    }

    /// Its key columns are all among `keys`.
    fn within(&self, keys: &[String]) -> bool {
        self.columns
            .iter()
            .all(|c| c.as_ref().is_some_and(|c| keys.contains(c)))
    }
}

fn sorted(keys: &[String]) -> Vec<&str> {
    let mut names: Vec<&str> = keys.iter().map(String::as_str).collect();
    names.sort_unstable();
    names
}

/// The indexes of `rel`, from the relation cache and the system caches (see [`relation_info`]).
fn indexes_of(rel: pg_sys::Oid) -> Vec<IndexShape> {
    let mut shapes = Vec::new();
    // SAFETY: the relation is opened (and locked, as the run's statements will) for the
    // length of the lookups; every syscache tuple is released after its fields were copied.
    unsafe {
        let relation = pg_sys::relation_open(rel, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
        let list = pg_sys::RelationGetIndexList(relation);
        let indexes: Vec<pg_sys::Oid> = if list.is_null() {
            Vec::new()
        } else {
            (0..(*list).length)
                .map(|i| (*(*list).elements.add(i as usize)).oid_value)
                .collect()
        };
        for index in indexes {
            let tuple = pg_sys::SearchSysCache1(
                pg_sys::SysCacheIdentifier::INDEXRELID as i32,
                pg_sys::Datum::from(index),
            );
            if tuple.is_null() {
                continue;
            }
            let form = &*pg_sys::heap_tuple_get_struct::<pg_sys::FormData_pg_index>(tuple);
            let key_count = form.indnkeyatts.max(0) as usize;
            let attnums = form.indkey.values.as_slice(key_count);
            let columns = attnums
                .iter()
                .map(|&n| {
                    (n > 0).then(|| {
                        let name = pg_sys::get_attname(rel, n, false);
                        std::ffi::CStr::from_ptr(name)
                            .to_string_lossy()
                            .into_owned()
                    })
                })
                .collect();
            let class = pg_sys::SearchSysCache1(
                pg_sys::SysCacheIdentifier::RELOID as i32,
                pg_sys::Datum::from(index),
            );
            let am = if class.is_null() {
                pg_sys::Oid::INVALID
            } else {
                let am = (*pg_sys::heap_tuple_get_struct::<pg_sys::FormData_pg_class>(class)).relam;
                pg_sys::ReleaseSysCache(class);
                am
            };
            shapes.push(IndexShape {
                unique: form.indisunique,
                valid: form.indisvalid,
                partial: !pg_sys::heap_attisnull(
                    tuple,
                    pg_sys::Anum_pg_index_indpred as i32,
                    std::ptr::null_mut(),
                ),
                expressions: !pg_sys::heap_attisnull(
                    tuple,
                    pg_sys::Anum_pg_index_indexprs as i32,
                    std::ptr::null_mut(),
                ),
                finds_keys: am == pg_sys::BTREE_AM_OID || am == pg_sys::HASH_AM_OID,
                columns,
            });
            pg_sys::ReleaseSysCache(tuple);
        }
        pg_sys::relation_close(relation, pg_sys::NoLock as pg_sys::LOCKMODE);
    }
    shapes
}

/// Whether `rel` has a valid, non-partial unique index on plain columns: on exactly the key
/// columns (`exact`), or on some of them.
fn has_unique_index(rel: pg_sys::Oid, keys: &[String], exact: bool) -> SyncResult<bool> {
    let want = sorted(keys);
    Ok(indexes_of(rel).iter().any(|i| {
        i.plain_unique()
            && if exact {
                i.leading_names(i.columns.len()).as_ref() == Some(&want)
            } else {
                i.within(keys)
            }
    }))
}

/// Whether `rel` has an index that finds the rows of one key: a valid, non-partial btree or hash
/// index whose leading columns are the key columns (in any order), or a unique one on some of
/// them. Delete+insert merges look keys up in it; without one they hash (see `plan`).
fn has_key_index(rel: pg_sys::Oid, keys: &[String]) -> SyncResult<bool> {
    let want = sorted(keys);
    Ok(indexes_of(rel).iter().any(|i| {
        i.valid
            && !i.partial
            && i.finds_keys
            && (i.leading_names(keys.len()).as_ref() == Some(&want)
                || (i.unique && !i.expressions && i.within(keys)))
    }))
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
    /// MPP engines: why source, target and job key are not co-located (each run then moves
    /// rows between segments), said in a NOTICE when a run starts.
    pub co_location: Option<String>,
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

    let mut columns = apply_lookups(job, &source, &source_cols, &target, &target_cols, columns)?;
    // A staged window holds what the target will: each column in the target's type.
    for c in &mut columns {
        c.sql_type = find(&target_cols, &c.name).map(|t| t.sql_type.clone());
    }

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
    let target_storage = table_storage(&dialect, &target)?;
    let upsert_allowed = crate::plan::dialect::upsert_allowed(&dialect, &target_storage, &job.keys);
    let co_location = if dialect.mpp() {
        let source_storage = table_storage(&dialect, &source)?;
        co_location_problem(
            &source_storage.distribution,
            &target_storage.distribution,
            &job.keys,
        )
    } else {
        None
    };
    let strategy = if upsert_allowed && has_unique_index(target.oid, &job.keys, true)? {
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
            counts_from_table_stats: false,
            target_partitioned: target.kind == 'p',
            source_foreign: source.kind == 'f',
            target_key_indexed,
            dialect,
            target_storage,
        },
        source,
        target,
        watermark_table,
        watermark_relation,
        co_location,
    })
}

thread_local! {
    /// The engine never changes under a running backend: detected on its first run.
    static DIALECT: std::cell::OnceCell<Dialect> = const { std::cell::OnceCell::new() };
}

/// The engine this database runs on, from its catalog: the kernel's `server_version_num` and
/// whether `pg_catalog.gp_segment_configuration` exists (Greenplum-family engines only; then
/// their number of primary segments). Detected once per backend.
pub fn detect_dialect() -> SyncResult<Dialect> {
    if let Some(d) = DIALECT.with(|d| d.get().cloned()) {
        return Ok(d);
    }
    // Read from the backend, not by a statement (this runs on a session's first call): the
    // kernel this module was built for (a module loads only into its own major version), and
    // whether the catalog has the segment table.
    let number = pg_sys::PG_VERSION_NUM;
    // SAFETY: a catalog cache lookup by name inside a transaction.
    let mpp = unsafe {
        pg_sys::get_relname_relid(
            c"gp_segment_configuration".as_ptr(),
            pg_sys::Oid::from(pg_sys::PG_CATALOG_NAMESPACE),
        ) != pg_sys::InvalidOid
    };
    let segments = if mpp {
        Spi::get_one::<i64>(Dialect::segment_count_query())
            .context("reading gp_segment_configuration")?
            .unwrap_or(0)
    } else {
        0
    };
    let dialect = Dialect::from_catalog(number, mpp, segments as u32);
    DIALECT.with(|d| {
        let _ = d.set(dialect.clone());
    });
    Ok(dialect)
}

/// A table's access method and, on MPP engines, its distribution. On PostgreSQL the access
/// method comes from the relation cache (no statement per run); elsewhere from the engine's
/// catalog (see [`Dialect::table_storage_query`]).
pub fn table_storage(dialect: &Dialect, rel: &RelationInfo) -> SyncResult<Storage> {
    if !dialect.mpp() {
        // SAFETY: syscache lookups inside a transaction; NULL (or no tuple) for a relation
        // without an access method (views, partitioned tables, foreign tables).
        let access_method = unsafe {
            let class = pg_sys::SearchSysCache1(
                pg_sys::SysCacheIdentifier::RELOID as i32,
                pg_sys::Datum::from(rel.oid),
            );
            if class.is_null() {
                String::new()
            } else {
                let am = (*pg_sys::heap_tuple_get_struct::<pg_sys::FormData_pg_class>(class)).relam;
                pg_sys::ReleaseSysCache(class);
                let name = if am == pg_sys::Oid::INVALID {
                    std::ptr::null_mut()
                } else {
                    pg_sys::get_am_name(am)
                };
                if name.is_null() {
                    String::new()
                } else {
                    std::ffi::CStr::from_ptr(name)
                        .to_string_lossy()
                        .into_owned()
                }
            }
        };
        return Ok(Storage {
            access_method,
            distribution: Distribution::Single,
        });
    }
    let row = Spi::connect(|client| {
        let row = client
            .select(&dialect.table_storage_query(), None, &[rel.oid.into()])?
            .first();
        Ok::<_, pgrx::spi::Error>((
            row.get::<String>(1)?,
            row.get::<i8>(2)?,
            row.get::<Vec<String>>(3)?,
        ))
    })
    .context("reading the table's storage")?;
    Ok(Storage {
        access_method: row.0.unwrap_or_default(),
        distribution: Distribution::from_policy(
            row.1.map(|c| c as u8 as char),
            row.2.unwrap_or_default(),
        ),
    })
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
