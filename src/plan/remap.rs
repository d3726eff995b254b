//! Pure planning for `remap_dimension`: point a denormalized column of a fact or aggregate
//! table at the dimension's current value, keeping every before-image in the quarantine.

use super::dialect::Dialect;
use super::{quote_ident, quote_literal, text_array, Relation};

/// How the dimension's current row per key is chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Current {
    /// The dimension has one row per key (checked before planning).
    Unique,
    /// The latest row by this column (`updated_at`, `valid_from`).
    LatestBy(String),
    /// The row whose boolean column is true.
    Flag(String),
}

/// How a measure combines when rows collide on the target's unique key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Combine {
    Sum,
    Min,
    Max,
    /// The value of the row merged in last (remapped rows after existing ones, then by TID).
    Last,
}

impl Combine {
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "sum" => Some(Self::Sum),
            "min" => Some(Self::Min),
            "max" => Some(Self::Max),
            "last" => Some(Self::Last),
            _ => None,
        }
    }
    fn aggregate(self, expr: &str) -> String {
        match self {
            Self::Sum => format!("pg_catalog.sum({expr})"),
            Self::Min => format!("pg_catalog.min({expr})"),
            Self::Max => format!("pg_catalog.max({expr})"),
            Self::Last => format!(
                "(pg_catalog.array_agg({expr} ORDER BY m.insync_moved, m.insync_rid))[pg_catalog.count(*)]"
            ),
        }
    }
}

/// A dimension's current value per key: `dimension.value` over `join` pairs (fact-side column,
/// dimension column). Used by remap_dimension and by sync jobs' lookups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DimensionValue {
    pub dimension: Relation,
    pub join: Vec<(String, String)>,
    pub value: String,
    pub current: Current,
}

impl DimensionValue {
    /// The dimension's current value per join key.
    pub fn current_rows(&self) -> String {
        let dim_keys = self
            .join
            .iter()
            .map(|(_, d)| format!("d.{}", quote_ident(d)))
            .collect::<Vec<_>>()
            .join(", ");
        let value = format!("d.{} AS insync_value", quote_ident(&self.value));
        let from = self.dimension.sql();
        match &self.current {
            Current::Unique => format!("SELECT {dim_keys}, {value} FROM {from} d"),
            Current::Flag(flag) => format!("SELECT {dim_keys}, {value} FROM {from} d WHERE d.{}", quote_ident(flag)),
            Current::LatestBy(order) => format!(
                "SELECT DISTINCT ON ({dim_keys}) {dim_keys}, {value} FROM {from} d ORDER BY {dim_keys}, d.{} DESC NULLS LAST",
                quote_ident(order)
            ),
        }
    }

    /// Join keys with more than one current row (a dimension that cannot say which is current).
    pub fn ambiguous_keys(&self) -> String {
        let keys = self
            .join
            .iter()
            .map(|(_, d)| quote_ident(d))
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            "SELECT count(*) FROM (SELECT 1 FROM ({}) c GROUP BY {keys} HAVING count(*) > 1) x",
            self.current_rows()
        )
    }

    /// A correlated subquery: the current value for the fact row `alias`.
    pub fn lookup(&self, alias: &str) -> String {
        let on = self
            .join
            .iter()
            .map(|(f, d)| format!("d.{} = {alias}.{}", quote_ident(d), quote_ident(f)))
            .collect::<Vec<_>>()
            .join(" AND ");
        let (filter, order) = match &self.current {
            Current::Unique => (String::new(), String::new()),
            Current::Flag(f) => (format!(" AND d.{}", quote_ident(f)), String::new()),
            Current::LatestBy(c) => (
                String::new(),
                format!(" ORDER BY d.{} DESC NULLS LAST", quote_ident(c)),
            ),
        };
        format!(
            "(SELECT d.{} FROM {} d WHERE {on}{filter}{order} LIMIT 1)",
            quote_ident(&self.value),
            self.dimension.sql()
        )
    }
}

/// A remap of `target.column` from a dimension's current value.
#[derive(Debug, Clone)]
pub struct RemapPlan {
    pub target: Relation,
    pub column: String,
    pub source: DimensionValue,
    /// The target's unique key when it includes `column` (rows can collide after a remap).
    pub unique_key: Option<Vec<String>>,
    /// Measures combined when rows collide, with how.
    pub merge: Vec<(String, Combine)>,
    /// Restrict the remap to this range of heap blocks `[from, to)` (one batch of a procedure).
    pub blocks: Option<(i64, i64)>,
    /// Rows of a partitioned target are told apart by (tableoid, ctid).
    pub partitioned: bool,
    /// A unique key of NOT NULL columns without `column`: a plain remap then quarantines each
    /// row by this key and the old value, not by its whole before-image.
    pub row_key: Option<Vec<String>>,
    /// `column`'s type, schema-qualified: an old value read back from its text (exact: a
    /// type's text form reads back as the same value).
    pub column_type: String,
    /// The engine the SQL is for.
    pub dialect: Dialect,
}

/// Rows per slim quarantine entry: bounds one entry's json (and the memory building it).
const ROWS_PER_ENTRY: u32 = 10_000;

/// Pieces of a slim remap's SQL (see [`RemapPlan::slim_pieces`]).
struct SlimPieces {
    /// The dimension's side of the join key of each changed row (`insync_kN`).
    changed_keys: String,
    /// Those columns, as a list over `changed ch`.
    pair_keys: String,
    /// A pair (`g`) joined to the dimension's current row (`c`).
    pair_to_current: String,
    /// The dimension's join key as json text, per column (`insync_djN`).
    dim_json: String,
    /// A target row (`t`) matched to its pair (`m`) by the join key.
    row_to_pair: String,
    /// A target row's key (`insync_rN`).
    returned: String,
    /// An entry's row keys, aggregated over rows `u`.
    row_keys: String,
    /// An entry's key object, from its pair `m`.
    key: String,
}

impl RemapPlan {
    fn join_condition(&self) -> String {
        self.source
            .join
            .iter()
            .map(|(t, d)| format!("t.{} = c.{}", quote_ident(t), quote_ident(d)))
            .collect::<Vec<_>>()
            .join(" AND ")
    }

    fn block_range(&self) -> String {
        match self.blocks {
            Some((from, to)) => {
                format!(" AND t.ctid >= '({from},0)'::tid AND t.ctid < '({to},0)'::tid")
            }
            None => String::new(),
        }
    }

    fn tableoid(&self) -> &'static str {
        if self.partitioned {
            "t.tableoid"
        } else {
            "0::oid"
        }
    }

    fn same_row(&self, tid: &str, oid: &str) -> String {
        if self.partitioned {
            format!("t.ctid = {tid} AND t.tableoid = {oid}")
        } else {
            format!("t.ctid = {tid}")
        }
    }

    /// Target rows whose column differs from the dimension's current value, with their
    /// before-image. Only rows of the batch's blocks when batched.
    fn changed(&self) -> String {
        let col = format!("t.{}", quote_ident(&self.column));
        // What is the same for every row of a dimension key is computed once per key: the
        // new value as text and as json, and the key as json (the slim quarantine's).
        let (dim_json, carried): (String, String) = self
            .source
            .join
            .iter()
            .enumerate()
            .map(|(i, (_, d))| {
                (
                    format!(
                        ", pg_catalog.to_json(c.{})::text AS insync_dj{i}",
                        quote_ident(d)
                    ),
                    format!(", c.insync_dj{i}"),
                )
            })
            .unzip();
        format!(
            "cur AS (SELECT c.*, c.insync_value::text AS insync_new, pg_catalog.to_json(c.insync_value)::text AS insync_after{dim_json} \
                 FROM ({cur}) c), \
             changed AS{materialized} (SELECT {tid}{oid} AS insync_roid, \
                 {col}::text AS insync_old, c.insync_new, c.insync_value, {col} AS insync_before_value, c.insync_after{carried} \
               FROM {target} t JOIN cur c ON {on} WHERE {col} IS DISTINCT FROM c.insync_value{blocks})",
            cur = self.source.current_rows(),
            oid = self.tableoid(),
            target = self.target.sql(),
            on = self.join_condition(),
            blocks = self.block_range(),
            materialized = self.dialect.materialized(true),
            // A TID finds the row again on PostgreSQL; on MPP engines (unique per segment
            // only) these rows are only counted.
            tid = if self.dialect.mpp() { "" } else { "t.ctid AS insync_rid, " },
        )
    }

    /// Whether the dimension has a NULL current value at all (cheap: the dimension only), so
    /// the target is only searched for such rows when there can be any.
    pub fn dimension_has_null_values(&self) -> String {
        format!(
            "WITH cur AS ({}) SELECT EXISTS (SELECT FROM cur c WHERE c.insync_value IS NULL)",
            self.source.current_rows()
        )
    }

    /// Rows the remap would set to NULL (the dimension's current value is NULL for their key).
    pub fn null_values(&self) -> String {
        format!(
            "WITH {} SELECT pg_catalog.count(*) FROM changed c WHERE c.insync_value IS NULL",
            self.changed()
        )
    }

    /// Per (old, new) pair, what would change: `old_value, new_value, rows, 0, 0` (a dry run).
    pub fn preview(&self) -> String {
        format!(
            "WITH {} SELECT c.insync_old, c.insync_new, pg_catalog.count(*), 0::bigint, 0::bigint FROM changed c GROUP BY 1, 2 ORDER BY 1, 2",
            self.changed()
        )
    }

    /// Remaps without collisions: `$1` = quarantine batch id, `$2` = the target's OID.
    /// Returns per (old, new) pair: `old_value, new_value, rows_changed, rows_merged (0),
    /// rows_left`, the last the same on every row: changed rows another transaction changed or
    /// deleted before the update reached them, left as they are (a row with NULL pair and
    /// counts when nothing was updated).
    pub fn update(&self) -> String {
        match &self.row_key {
            Some(key) => self.slim_update(key),
            None => self.imaged_update(),
        }
    }

    /// The same remap one writer per statement (Greenplum-family engines; on PostgreSQL with
    /// `insync.plan_style = statement_per_step`), and the index of the statement whose rows are
    /// the result. With the target locked against other writers, every statement finds the
    /// same changed rows by the same predicate, so no row is found again by a physical
    /// identity: the quarantine is written, the per-(old, new) counts read, then the plain
    /// `UPDATE ... FROM` the dimension runs. Same parameters and result as [`Self::update`]
    /// (nothing is ever left: no other writer runs meanwhile).
    pub fn update_steps(&self) -> (Vec<String>, usize) {
        let target = self.target.sql();
        let quarantine = match &self.row_key {
            Some(key) => self.slim_quarantine_step(key),
            None => self.imaged_quarantine_step(),
        };
        let statements = vec![
            format!("LOCK TABLE {target} IN EXCLUSIVE MODE"),
            quarantine,
            self.preview(),
            format!(
                "UPDATE {target} t SET {col} = c.insync_value FROM ({cur}) c \
                  WHERE {on} AND t.{col} IS DISTINCT FROM c.insync_value{blocks}",
                col = quote_ident(&self.column),
                cur = self.source.current_rows(),
                on = self.join_condition(),
                blocks = self.block_range(),
            ),
        ];
        (statements, 2)
    }

    /// Step form of the slim quarantine: entries grouped from the changed rows themselves.
    fn slim_quarantine_step(&self, row_key: &[String]) -> String {
        let col = quote_ident(&self.column);
        let SlimPieces {
            changed_keys,
            pair_keys,
            pair_to_current,
            dim_json,
            returned,
            row_keys,
            key,
            ..
        } = self.slim_pieces(row_key);
        let row_to_pair = (0..self.source.join.len())
            .map(|i| format!("u.insync_k{i} = m.insync_k{i}"))
            .collect::<Vec<_>>()
            .join(" AND ");
        format!(
            "WITH changed AS (SELECT {returned}, {changed_keys}, t.{col}::text AS insync_old \
               FROM {target} t JOIN ({cur}) c ON {on} WHERE t.{col} IS DISTINCT FROM c.insync_value{blocks}), \
             pairs AS (SELECT pg_catalog.row_number() OVER () AS insync_pair, g.*, \
                 pg_catalog.to_json(g.insync_old::{column_type})::text AS insync_before, \
                 pg_catalog.to_json(c.insync_value)::text AS insync_after{dim_json} \
               FROM (SELECT {pair_keys}, ch.insync_old FROM changed ch GROUP BY {pair_keys}, ch.insync_old) g \
               JOIN ({cur}) c ON {pair_to_current}), \
             entries AS (SELECT m.insync_pair, {row_keys} AS insync_row_keys \
               FROM (SELECT ch.*, (pg_catalog.row_number() OVER () - 1) / {per_entry} AS insync_part FROM changed ch) u \
               JOIN pairs m ON {row_to_pair} AND u.insync_old IS NOT DISTINCT FROM m.insync_old \
               GROUP BY m.insync_pair, u.insync_part) \
             {insert}",
            insert = self.slim_entries_insert(row_key, &key),
            cur = self.source.current_rows(),
            target = self.target.sql(),
            on = self.join_condition(),
            blocks = self.block_range(),
            per_entry = ROWS_PER_ENTRY,
            column_type = self.column_type,
        )
    }

    /// Step form of the whole-image quarantine: each changed row's image as it is read.
    fn imaged_quarantine_step(&self) -> String {
        let col = quote_ident(&self.column);
        format!(
            "WITH changed AS (SELECT pg_catalog.row_to_json(t) AS insync_before \
               FROM {target} t JOIN ({cur}) c ON {on} WHERE t.{col} IS DISTINCT FROM c.insync_value{blocks}) \
             INSERT INTO insync.quarantine (batch_id, table_oid, table_name, key, row_data, changed_column, reason, removed_by) \
             SELECT $1::bigint, $2::pg_catalog.oid::pg_catalog.regclass, {name}, {key}, u.insync_before, {col_literal}, 'remapped', {opener} \
               FROM changed u",
            cur = self.source.current_rows(),
            target = self.target.sql(),
            on = self.join_condition(),
            blocks = self.block_range(),
            col_literal = quote_literal(&self.column),
            name = quote_literal(&format!("{}.{}", self.target.schema, self.target.name)),
            opener = super::quarantine::batch_opener("$1", "$2"),
            key = self.key_json("u.insync_before"),
        )
    }

    /// A remap of a table with a row key: the rows changed only in `column`, so the quarantine
    /// keeps, per join key, old and new value, the changed rows' keys (at most
    /// [`ROWS_PER_ENTRY`] per entry) — no per-row before-image is built or written.
    ///
    /// One pass finds the changed rows (`changed`: TID, join key, old value); their distinct
    /// (join key, old value) pairs are few (`pairs`, numbered). The update reads the changed
    /// rows by TID and joins them to `pairs`, a small hash table, on the join key and the old
    /// value, so every updated row returns the pair whose old value it had. A row another
    /// transaction changed or deleted meanwhile is not updated (its new version is not among
    /// the TIDs): the statement returns how many were left.
    /// The parts of a slim remap's SQL shared by the one-statement and the step-by-step form.
    fn slim_pieces(&self, row_key: &[String]) -> SlimPieces {
        let join = &self.source.join;
        let k = |i: usize| format!("insync_k{i}");
        let list = |items: Vec<String>| items.join(", ");
        // The dimension's side of the join key: its type groups (the dimension is grouped by
        // it already) and joins the row's side with the job's own operator. The dimension's
        // current rows are read twice rather than shared as a CTE: inline, the planner hashes
        // the (small) dimension, not the target.
        let changed_keys = list(
            join.iter()
                .enumerate()
                .map(|(i, (_, d))| format!("c.{} AS {}", quote_ident(d), k(i)))
                .collect(),
        );
        let pair_keys = list((0..join.len()).map(|i| format!("ch.{}", k(i))).collect());
        let pair_to_current = join
            .iter()
            .enumerate()
            .map(|(i, (_, d))| format!("c.{} = g.{}", quote_ident(d), k(i)))
            .collect::<Vec<_>>()
            .join(" AND ");
        let dim_json = join
            .iter()
            .enumerate()
            .map(|(i, (_, d))| {
                format!(
                    ", pg_catalog.to_json(c.{})::text AS insync_dj{i}",
                    quote_ident(d)
                )
            })
            .collect::<String>();
        let row_to_pair = join
            .iter()
            .enumerate()
            .map(|(i, (f, _))| format!("t.{} = m.{}", quote_ident(f), k(i)))
            .collect::<Vec<_>>()
            .join(" AND ");
        let returned = list(
            row_key
                .iter()
                .enumerate()
                .map(|(i, r)| format!("t.{} AS insync_r{i}", quote_ident(r)))
                .collect(),
        );
        // A row's key: its value, or an array of its values for a key of several columns
        // (no per-row object: the names are in row_key_columns). One column: an array
        // aggregate turned into json once per entry, cheaper than json built row by row.
        let row_keys = if row_key.len() == 1 {
            "pg_catalog.to_json(pg_catalog.array_agg(u.insync_r0))".to_string()
        } else {
            format!(
                "pg_catalog.json_agg(pg_catalog.json_build_array({}))",
                list(
                    (0..row_key.len())
                        .map(|i| format!("u.insync_r{i}"))
                        .collect()
                )
            )
        };
        // The entry's key: the join key's json is the dimension's (equal to the row's), except
        // for a join column that is the remapped column (an org map): that is the old value.
        let key = list(
            join.iter()
                .enumerate()
                .map(|(i, (f, _))| {
                    let value = if *f == self.column {
                        "m.insync_before".to_string()
                    } else {
                        format!("m.insync_dj{i}")
                    };
                    format!("{}, {value}::json", quote_literal(f))
                })
                .collect(),
        );
        SlimPieces {
            changed_keys,
            pair_keys,
            pair_to_current,
            dim_json,
            row_to_pair,
            returned,
            row_keys,
            key,
        }
    }

    fn slim_update(&self, row_key: &[String]) -> String {
        let col = quote_ident(&self.column);
        let SlimPieces {
            changed_keys,
            pair_keys,
            pair_to_current,
            dim_json,
            row_to_pair,
            returned,
            row_keys,
            key,
        } = self.slim_pieces(row_key);
        format!(
            "WITH changed AS MATERIALIZED (SELECT t.ctid AS insync_rid, {changed_keys}, \
                 t.{col}::text AS insync_old \
               FROM {target} t JOIN ({cur}) c ON {on} WHERE t.{col} IS DISTINCT FROM c.insync_value{blocks}), \
             pairs AS MATERIALIZED (SELECT pg_catalog.row_number() OVER () AS insync_pair, g.*, \
                 pg_catalog.to_json(g.insync_old::{column_type})::text AS insync_before, c.insync_value, \
                 c.insync_value::text AS insync_new, pg_catalog.to_json(c.insync_value)::text AS insync_after{dim_json} \
               FROM (SELECT {pair_keys}, ch.insync_old, pg_catalog.count(*) AS insync_seen FROM changed ch \
                     GROUP BY {pair_keys}, ch.insync_old) g JOIN ({cur}) c ON {pair_to_current}), \
             updated AS (UPDATE {target} t SET {col} = m.insync_value FROM pairs m \
                 WHERE t.ctid = ANY (ARRAY(SELECT insync_rid FROM changed)) AND {row_to_pair} \
                   AND t.{col}::text IS NOT DISTINCT FROM m.insync_old \
                 RETURNING {returned}, m.insync_pair), \
             entries AS MATERIALIZED (SELECT u.insync_pair, pg_catalog.count(*) AS insync_rows, \
                 {row_keys} AS insync_row_keys \
               FROM (SELECT u.*, (pg_catalog.row_number() OVER () - 1) / {per_entry} AS insync_part FROM updated u) u \
               GROUP BY u.insync_pair, u.insync_part), \
             quarantined AS ({insert} RETURNING 1) \
             SELECT x.insync_old, x.insync_new, x.insync_rows, 0::bigint, l.insync_left \
               FROM (SELECT ((SELECT pg_catalog.sum(m.insync_seen) FROM pairs m) \
                             - coalesce((SELECT pg_catalog.sum(e.insync_rows) FROM entries e), 0))::bigint AS insync_left) l \
               LEFT JOIN (SELECT m.insync_old, m.insync_new, pg_catalog.sum(e.insync_rows)::bigint AS insync_rows \
                   FROM entries e JOIN pairs m ON m.insync_pair = e.insync_pair GROUP BY 1, 2) x ON true ORDER BY 1, 2",
            cur = self.source.current_rows(),
            target = self.target.sql(),
            on = self.join_condition(),
            blocks = self.block_range(),
            per_entry = ROWS_PER_ENTRY,
            column_type = self.column_type,
            insert = self.slim_entries_insert(row_key, &key),
        )
    }

    /// The quarantine rows of a slim remap: one per entry (`entries e`) with its pair
    /// (`pairs m`): the entry's key, old and new value, and its rows' keys.
    fn slim_entries_insert(&self, row_key: &[String], key: &str) -> String {
        let col_literal = quote_literal(&self.column);
        format!(
            "INSERT INTO insync.quarantine (batch_id, table_oid, table_name, key, row_data, after_data, changed_column, row_keys, row_key_columns, reason, removed_by) \
             SELECT $1::bigint, $2::pg_catalog.oid::pg_catalog.regclass, {name}, pg_catalog.json_build_object({key})::jsonb, \
                    pg_catalog.json_build_object({col_literal}, m.insync_before::json), \
                    pg_catalog.json_build_object({col_literal}, m.insync_after::json), {col_literal}, \
                    e.insync_row_keys, {key_columns}, 'remapped', {opener} \
               FROM entries e JOIN pairs m ON m.insync_pair = e.insync_pair",
            name = quote_literal(&format!("{}.{}", self.target.schema, self.target.name)),
            key_columns = text_array(row_key),
            opener = super::quarantine::batch_opener("$1", "$2"),
        )
    }

    /// Remaps a table without a row key: each changed row's whole before-image is kept.
    /// Only the changed rows' before-images are built (fetched by TID, in the statement's
    /// snapshot, i.e. before the update). A remapped row differs from its before-image only in
    /// the remapped column, which the quarantine records so an undo can find the row again.
    fn imaged_update(&self) -> String {
        format!(
            "WITH {changed}, \
             imaged AS MATERIALIZED (SELECT c.*, pg_catalog.row_to_json(x.t) AS insync_before \
               FROM changed c CROSS JOIN LATERAL (SELECT t FROM {target} t WHERE {same_before} OFFSET 0) x), \
             updated AS (UPDATE {target} t SET {col} = c.insync_value FROM imaged c \
                 WHERE t.ctid = ANY (ARRAY(SELECT insync_rid FROM changed)) AND {same} \
                 RETURNING c.insync_before, c.insync_old, c.insync_new), \
             quarantined AS (INSERT INTO insync.quarantine (batch_id, table_oid, table_name, key, row_data, changed_column, reason, removed_by) \
                 SELECT $1::bigint, $2::pg_catalog.oid::pg_catalog.regclass, {name}, {key}, u.insync_before, {col_literal}, 'remapped', {opener} \
                   FROM updated u RETURNING 1) \
             SELECT x.insync_old, x.insync_new, x.insync_rows, 0::bigint, l.insync_left \
               FROM (SELECT (SELECT pg_catalog.count(*) FROM changed) - (SELECT pg_catalog.count(*) FROM updated) AS insync_left) l \
               LEFT JOIN (SELECT u.insync_old, u.insync_new, pg_catalog.count(*) AS insync_rows FROM updated u GROUP BY 1, 2) x ON true \
              ORDER BY 1, 2",
            changed = self.changed(),
            target = self.target.sql(),
            col = quote_ident(&self.column),
            col_literal = quote_literal(&self.column),
            same = self.same_row("c.insync_rid", "c.insync_roid"),
            same_before = self.same_row("c.insync_rid", "c.insync_roid"),
            name = quote_literal(&format!("{}.{}", self.target.schema, self.target.name)),
            opener = super::quarantine::batch_opener("$1", "$2"),
            key = self.key_json("u.insync_before"),
        )
    }

    /// The quarantine key of a row: its join columns, read from its before-image.
    fn key_json(&self, before: &str) -> String {
        let pairs = self
            .source
            .join
            .iter()
            .map(|(t, _)| format!("{}, {before} -> {}", quote_literal(t), quote_literal(t)))
            .collect::<Vec<_>>()
            .join(", ");
        format!("pg_catalog.json_build_object({pairs})::jsonb")
    }

    /// The unique key of a row once remapped: `column` replaced by the new value.
    fn new_key_exprs(&self, key: &[String], row: &str, value: &str) -> Vec<String> {
        key.iter()
            .map(|k| {
                if *k == self.column {
                    value.to_string()
                } else {
                    format!("{row}.{}", quote_ident(k))
                }
            })
            .collect()
    }

    /// CTE `members`: every row that will hold a unique key touched by the remap — the remapped
    /// rows under their new key, and existing rows already holding such a key.
    fn members(&self, key: &[String]) -> String {
        let k_alias = |i: usize| quote_ident(&format!("insync_k{i}"));
        let moved_keys = self
            .new_key_exprs(key, "t", "c.insync_value")
            .into_iter()
            .enumerate()
            .map(|(i, e)| format!("{e} AS {}", k_alias(i)))
            .collect::<Vec<_>>()
            .join(", ");
        let staying_keys = key
            .iter()
            .enumerate()
            .map(|(i, k)| format!("t.{} AS {}", quote_ident(k), k_alias(i)))
            .collect::<Vec<_>>()
            .join(", ");
        let key_list = |alias: &str| {
            (0..key.len())
                .map(|i| format!("{alias}.{}", k_alias(i)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let measures = self
            .merge
            .iter()
            .map(|(m, _)| format!("t.{q} AS {q}", q = quote_ident(m)))
            .collect::<Vec<_>>();
        let measures = if measures.is_empty() {
            String::new()
        } else {
            format!(", {}", measures.join(", "))
        };
        let target_key = format!(
            "({})",
            key.iter()
                .map(|k| format!("t.{}", quote_ident(k)))
                .collect::<Vec<_>>()
                .join(", ")
        );
        format!(
            "cur AS ({cur}), \
             moved AS MATERIALIZED (SELECT t.ctid AS insync_rid, {oid} AS insync_roid, true AS insync_moved, \
                 pg_catalog.row_to_json(t) AS insync_before, t.{col}::text AS insync_old, c.insync_value::text AS insync_new, \
                 {moved_keys}{measures} \
               FROM {target} t JOIN cur c ON {on} WHERE t.{col} IS DISTINCT FROM c.insync_value{blocks}), \
             members AS MATERIALIZED (SELECT * FROM moved UNION ALL \
               SELECT t.ctid, {oid}, false, pg_catalog.row_to_json(t), NULL, NULL, {staying_keys}{measures} \
                 FROM {target} t WHERE {target_key} IN (SELECT {moved_tuple} FROM moved mv) \
                  AND NOT EXISTS (SELECT 1 FROM moved mv WHERE mv.insync_rid = t.ctid AND mv.insync_roid = {oid}))",
            cur = self.source.current_rows(),
            oid = self.tableoid(),
            col = quote_ident(&self.column),
            target = self.target.sql(),
            on = self.join_condition(),
            blocks = self.block_range(),
            moved_tuple = key_list("mv"),
        )
    }

    /// Unique keys that several rows would share after the remap: `$1` unused. Returns the
    /// number of such keys and the first one as text, for the error message.
    pub fn collisions(&self) -> String {
        let key = self
            .unique_key
            .as_ref()
            .expect("collisions need a unique key");
        let ks = (0..key.len())
            .map(|i| format!("m.{}", quote_ident(&format!("insync_k{i}"))))
            .collect::<Vec<_>>();
        format!(
            "WITH {} SELECT pg_catalog.count(*), min(g.k) FROM (SELECT ROW({})::text AS k FROM members m \
               GROUP BY {} HAVING pg_catalog.count(*) > 1) g",
            self.members(key),
            ks.join(", "),
            ks.join(", ")
        )
    }

    /// The rows a merging remap touches and their fate: `members` (moved rows and the rows
    /// they collide with), `groups` (one per unique key, with its survivor and combined
    /// measures) and `fate` (each member, and whether it is the survivor). Shared by the
    /// merge and its dry run, so both count the same rows.
    fn merge_fate(&self) -> String {
        let key = self.unique_key.as_ref().expect("merge needs a unique key");
        let k = |i: usize| quote_ident(&format!("insync_k{i}"));
        let group_keys = (0..key.len())
            .map(|i| format!("m.{}", k(i)))
            .collect::<Vec<_>>()
            .join(", ");
        let combined = self
            .merge
            .iter()
            .map(|(col, how)| {
                format!(
                    ", {} AS {}",
                    how.aggregate(&format!("m.{}", quote_ident(col))),
                    quote_ident(col)
                )
            })
            .collect::<String>();
        let same_group = (0..key.len())
            .map(|i| format!("m.{a} = g.{a}", a = k(i)))
            .collect::<Vec<_>>()
            .join(" AND ");
        format!(
            "{members}, \
             groups AS MATERIALIZED (SELECT {group_keys}, \
                 (pg_catalog.array_agg(m.insync_rid ORDER BY m.insync_moved, m.insync_rid))[1] AS insync_keep_rid, \
                 (pg_catalog.array_agg(m.insync_roid ORDER BY m.insync_moved, m.insync_rid))[1] AS insync_keep_roid{combined} \
               FROM members m GROUP BY {group_keys}), \
             fate AS MATERIALIZED (SELECT m.*, (m.insync_rid = g.insync_keep_rid AND m.insync_roid = g.insync_keep_roid) AS insync_keeps \
               FROM members m JOIN groups g ON {same_group})",
            members = self.members(key),
        )
    }

    /// Per (old, new) pair: rows changed and rows merged away, as [`RemapPlan::merge_update`]
    /// would report them, without changing anything (a dry run of a merging remap).
    pub fn merge_preview(&self) -> String {
        format!(
            "WITH {} SELECT f.insync_old, f.insync_new, pg_catalog.count(*), \
                    pg_catalog.count(*) FILTER (WHERE NOT f.insync_keeps), 0::bigint \
               FROM fate f WHERE f.insync_moved GROUP BY 1, 2 ORDER BY 1, 2",
            self.merge_fate()
        )
    }

    /// Remaps and merges colliding rows in one statement: each group of rows sharing a unique
    /// key keeps one survivor (an existing row if there is one), whose measures combine the
    /// group's; the others are deleted. `$1` = batch id, `$2` = the target's OID.
    /// Returns per (old, new) pair: `old_value, new_value, rows_changed, rows_merged`.
    pub fn merge_update(&self) -> String {
        let key = self.unique_key.as_ref().expect("merge needs a unique key");
        let k = |i: usize| quote_ident(&format!("insync_k{i}"));
        let set_keys = key
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{} = g.{}", quote_ident(c), k(i)))
            .collect::<Vec<_>>();
        let set_measures = self
            .merge
            .iter()
            .map(|(c, _)| format!("{q} = g.{q}", q = quote_ident(c)))
            .collect::<Vec<_>>();
        let sets = set_keys
            .into_iter()
            .chain(set_measures)
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            "WITH {fate}, \
             kept AS (UPDATE {target} t SET {sets} FROM groups g \
                 WHERE t.ctid = ANY (ARRAY(SELECT insync_keep_rid FROM groups)) AND {same_keep} \
                 RETURNING g.insync_keep_rid, g.insync_keep_roid, pg_catalog.row_to_json(t) AS insync_after), \
             dropped AS (DELETE FROM {target} t USING fate f \
                 WHERE t.ctid = ANY (ARRAY(SELECT insync_rid FROM fate WHERE NOT insync_keeps)) \
                   AND NOT f.insync_keeps AND {same_drop} RETURNING f.insync_rid), \
             quarantined AS (INSERT INTO insync.quarantine (batch_id, table_oid, table_name, key, row_data, after_data, reason, removed_by) \
                 SELECT $1::bigint, $2::pg_catalog.oid::pg_catalog.regclass, {name}, {key}, f.insync_before, \
                        CASE WHEN f.insync_keeps THEN k.insync_after END, \
                        CASE WHEN NOT f.insync_keeps THEN 'merged' WHEN f.insync_moved THEN 'remapped' ELSE 'merge_target' END, {opener} \
                   FROM fate f LEFT JOIN kept k ON k.insync_keep_rid = f.insync_rid AND k.insync_keep_roid = f.insync_roid \
                 RETURNING 1) \
             SELECT f.insync_old, f.insync_new, pg_catalog.count(*), \
                    pg_catalog.count(*) FILTER (WHERE NOT f.insync_keeps), 0::bigint \
               FROM fate f WHERE f.insync_moved GROUP BY 1, 2 ORDER BY 1, 2",
            fate = self.merge_fate(),
            target = self.target.sql(),
            same_keep = self.same_row("g.insync_keep_rid", "g.insync_keep_roid"),
            same_drop = self.same_row("f.insync_rid", "f.insync_roid"),
            name = quote_literal(&format!("{}.{}", self.target.schema, self.target.name)),
            opener = super::quarantine::batch_opener("$1", "$2"),
            key = self.key_json("f.insync_before"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sales() -> RemapPlan {
        RemapPlan {
            target: Relation::new("dw", "sales"),
            column: "store_org_id".into(),
            source: DimensionValue {
                dimension: Relation::new("dw", "dim_store"),
                join: vec![("store_id".into(), "store_id".into())],
                value: "org_id".into(),
                current: Current::Unique,
            },
            unique_key: None,
            merge: vec![],
            blocks: None,
            partitioned: false,
            row_key: None,
            column_type: "pg_catalog.int4".into(),
            dialect: Dialect::postgres(150000),
        }
    }

    #[test]
    fn current_rows_by_policy() {
        let mut plan = sales().source;
        assert_eq!(
            plan.current_rows(),
            "SELECT d.\"store_id\", d.\"org_id\" AS insync_value FROM \"dw\".\"dim_store\" d"
        );
        plan.current = Current::LatestBy("valid_from".into());
        assert_eq!(
            plan.current_rows(),
            "SELECT DISTINCT ON (d.\"store_id\") d.\"store_id\", d.\"org_id\" AS insync_value FROM \"dw\".\"dim_store\" d \
             ORDER BY d.\"store_id\", d.\"valid_from\" DESC NULLS LAST"
        );
        plan.current = Current::Flag("is_current".into());
        assert!(plan.current_rows().ends_with("WHERE d.\"is_current\""));
        assert!(plan
            .ambiguous_keys()
            .contains("GROUP BY \"store_id\" HAVING count(*) > 1"));
    }

    #[test]
    fn update_touches_only_differing_rows_and_quarantines_both_images() {
        let sql = sales().update();
        assert!(
            sql.contains("WHERE t.\"store_org_id\" IS DISTINCT FROM c.insync_value)"),
            "{sql}"
        );
        // A TID scan finds the rows to update: the target is read once.
        assert!(
            sql.contains(
                "UPDATE \"dw\".\"sales\" t SET \"store_org_id\" = c.insync_value FROM imaged c \
             WHERE t.ctid = ANY (ARRAY(SELECT insync_rid FROM changed)) AND t.ctid = c.insync_rid"
            ),
            "{sql}"
        );
        assert!(
            sql.contains("u.insync_before, 'store_org_id', 'remapped'"),
            "{sql}"
        );
        assert!(
            sql.contains("json_build_object('store_id', u.insync_before -> 'store_id')"),
            "{sql}"
        );
        // Before-images only for changed rows, by TID; no whole-row read of the full table.
        assert!(sql.contains("CROSS JOIN LATERAL (SELECT t FROM \"dw\".\"sales\" t WHERE t.ctid = c.insync_rid OFFSET 0) x"), "{sql}");
        assert!(!sql.contains("row_to_json(t)"), "{sql}");
    }

    #[test]
    fn a_table_with_a_row_key_quarantines_keys_and_old_values_not_images() {
        let mut plan = sales();
        plan.row_key = Some(vec!["sale_id".into()]);
        let sql = plan.update();
        // No whole-row image is built, per row only the key goes into an aggregate.
        assert!(!sql.contains("row_to_json"), "{sql}");
        assert!(
            sql.contains(
                "pg_catalog.to_json(pg_catalog.array_agg(u.insync_r0)) AS insync_row_keys"
            ),
            "{sql}"
        );
        // The changed rows are found once; their (join key, old value) pairs are numbered.
        assert!(
            sql.contains("changed AS MATERIALIZED (SELECT t.ctid AS insync_rid, c.\"store_id\" AS insync_k0, \
                 t.\"store_org_id\"::text AS insync_old FROM"),
            "{sql}"
        );
        // The old value's json is made once per pair, from its text read back as the type.
        assert!(
            sql.contains(
                "pg_catalog.to_json(g.insync_old::pg_catalog.int4)::text AS insync_before"
            ),
            "{sql}"
        );
        assert!(
            sql.contains("GROUP BY ch.insync_k0, ch.insync_old) g JOIN (SELECT d.\"store_id\", d.\"org_id\" AS insync_value FROM \"dw\".\"dim_store\" d) c ON c.\"store_id\" = g.insync_k0"),
            "{sql}"
        );
        // The update reads them by TID and re-checks the old value against the pair it returns.
        assert!(
            sql.contains(
                "UPDATE \"dw\".\"sales\" t SET \"store_org_id\" = m.insync_value FROM pairs m \
                 WHERE t.ctid = ANY (ARRAY(SELECT insync_rid FROM changed)) AND t.\"store_id\" = m.insync_k0 \
                   AND t.\"store_org_id\"::text IS NOT DISTINCT FROM m.insync_old \
                 RETURNING t.\"sale_id\" AS insync_r0, m.insync_pair"
            ),
            "{sql}"
        );
        // One entry per (join key, old value) pair and slice of 10,000 rows.
        assert!(
            sql.contains("(pg_catalog.row_number() OVER () - 1) / 10000 AS insync_part"),
            "{sql}"
        );
        assert!(
            sql.contains("GROUP BY u.insync_pair, u.insync_part"),
            "{sql}"
        );
        assert!(
            sql.contains("json_build_object('store_id', m.insync_dj0::json)::jsonb"),
            "{sql}"
        );
        assert!(sql.contains("'store_org_id', e.insync_row_keys, ARRAY['sale_id']::pg_catalog.text[], 'remapped'"), "{sql}");
        // A join column that is the remapped column is quarantined with its old value.
        plan.source.join = vec![("store_org_id".into(), "org_id".into())];
        assert!(plan
            .update()
            .contains("json_build_object('store_org_id', m.insync_before::json)::jsonb"));
    }

    #[test]
    fn batches_are_block_ranges() {
        let mut plan = sales();
        plan.blocks = Some((1000, 2000));
        assert!(plan
            .preview()
            .contains("AND t.ctid >= '(1000,0)'::tid AND t.ctid < '(2000,0)'::tid"));
    }

    #[test]
    fn collisions_group_remapped_and_existing_rows_by_the_new_key() {
        let mut plan = sales();
        plan.unique_key = Some(vec!["day".into(), "store_org_id".into()]);
        let sql = plan.collisions();
        assert!(
            sql.contains("t.\"day\" AS \"insync_k0\", c.insync_value AS \"insync_k1\""),
            "{sql}"
        );
        assert!(sql.contains("WHERE (t.\"day\", t.\"store_org_id\") IN (SELECT mv.\"insync_k0\", mv.\"insync_k1\" FROM moved mv)"), "{sql}");
        assert!(sql.contains("HAVING pg_catalog.count(*) > 1"), "{sql}");
    }

    #[test]
    fn merge_keeps_an_existing_row_and_combines_measures() {
        let mut plan = sales();
        plan.unique_key = Some(vec!["day".into(), "store_org_id".into()]);
        plan.merge = vec![
            ("amount".into(), Combine::Sum),
            ("last_sale".into(), Combine::Last),
        ];
        let sql = plan.merge_update();
        assert!(sql.contains("(pg_catalog.array_agg(m.insync_rid ORDER BY m.insync_moved, m.insync_rid))[1] AS insync_keep_rid"), "{sql}");
        assert!(
            sql.contains("pg_catalog.sum(m.\"amount\") AS \"amount\""),
            "{sql}"
        );
        assert!(sql.contains("(pg_catalog.array_agg(m.\"last_sale\" ORDER BY m.insync_moved, m.insync_rid))[pg_catalog.count(*)] AS \"last_sale\""), "{sql}");
        assert!(sql.contains("SET \"day\" = g.\"insync_k0\", \"store_org_id\" = g.\"insync_k1\", \"amount\" = g.\"amount\""), "{sql}");
        assert!(
            sql.contains("'merged' WHEN f.insync_moved THEN 'remapped' ELSE 'merge_target'"),
            "{sql}"
        );
        assert_eq!(Combine::parse("avg"), None);
    }

    #[test]
    fn null_value_check_reads_the_dimension_first() {
        let plan = sales();
        let cheap = plan.dimension_has_null_values();
        assert!(cheap.contains("\"dw\".\"dim_store\""), "{cheap}");
        assert!(!cheap.contains("\"dw\".\"sales\""), "{cheap}");
        assert!(plan.null_values().contains("\"dw\".\"sales\""));
    }

    #[test]
    fn merge_dry_run_counts_what_the_merge_would_merge_and_writes_nothing() {
        let mut plan = sales();
        plan.unique_key = Some(vec!["day".into(), "store_org_id".into()]);
        plan.merge = vec![("amount".into(), Combine::Sum)];
        let preview = plan.merge_preview();
        let update = plan.merge_update();
        let fate = plan.merge_fate();
        assert!(
            preview.contains(&fate) && update.contains(&fate),
            "{preview}"
        );
        assert!(
            preview.ends_with("FILTER (WHERE NOT f.insync_keeps), 0::bigint FROM fate f WHERE f.insync_moved GROUP BY 1, 2 ORDER BY 1, 2"),
            "{preview}"
        );
        for verb in ["UPDATE ", "DELETE ", "INSERT "] {
            assert!(!preview.contains(verb), "{verb} in {preview}");
        }
    }

    #[test]
    fn step_by_step_remaps_take_one_writer_per_statement_and_no_tids_on_every_engine() {
        use super::super::dialect::tests::engines;
        use super::super::steps::data_modifying_statements;
        for dialect in engines() {
            for row_key in [None, Some(vec!["sale_id".to_string()])] {
                let mut plan = sales();
                plan.dialect = dialect.clone();
                plan.row_key = row_key.clone();
                let (statements, result) = plan.update_steps();
                assert_eq!(result, 2);
                assert_eq!(
                    statements[0],
                    "LOCK TABLE \"dw\".\"sales\" IN EXCLUSIVE MODE"
                );
                assert!(statements[1].contains("INSERT INTO insync.quarantine"));
                assert!(statements[3].starts_with("UPDATE \"dw\".\"sales\" t SET"));
                for sql in &statements {
                    assert!(data_modifying_statements(sql) <= 1, "{dialect:?}: {sql}");
                    if dialect.mpp() {
                        assert!(!sql.contains("ctid"), "{dialect:?}: {sql}");
                    }
                    if !dialect.as_materialized {
                        assert!(!sql.contains("MATERIALIZED"), "{dialect:?}: {sql}");
                    }
                }
                // The result reads like a one-statement remap's: old, new, rows, 0, 0.
                assert!(statements[2].ends_with(
                    "pg_catalog.count(*), 0::bigint, 0::bigint FROM changed c GROUP BY 1, 2 ORDER BY 1, 2"
                ));
            }
        }
    }
}
