//! Pure planning: turns a resolved job (relations, columns, keys, watermark) into SQL text.
//!
//! Nothing here touches Postgres, so `cargo test` covers it. Every identifier is emitted
//! through [`quote_ident`]; every value (window bounds) is a `$n` parameter passed as text
//! and cast to the watermark's type inside the statement.

pub mod backfill;
pub mod catalog_ddl;
pub mod dedup;
pub mod dialect;
#[cfg(test)]
mod engines;
pub mod instant;
pub mod pipeline;
pub mod quarantine;
pub mod remap;
pub mod schedule;
pub mod segment;
pub mod steps;
pub mod verify;

use segment::{Segment, Slice};

use std::fmt::Write;

/// Quotes an identifier the way Postgres' delimited identifiers work: always wrapped in
/// double quotes, inner quotes doubled. Always quoting is never wrong, keeps capitals,
/// spaces and semicolons inert, and makes the generated SQL independent of the keyword list.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `a."x", a."y"` (or `"x", "y"` without an alias): a quoted, comma-separated column list.
pub fn ident_list<'a>(names: impl IntoIterator<Item = &'a String>, alias: Option<&str>) -> String {
    names
        .into_iter()
        .map(|n| match alias {
            Some(a) => format!("{a}.{}", quote_ident(n)),
            None => quote_ident(n),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Quotes a string as a SQL literal exactly as Postgres' own `quote_literal()` does: quotes
/// doubled, and a text holding a backslash becomes an `E'...'` string with the backslashes
/// doubled. Such a literal reads the same whatever `standard_conforming_strings` says (a plain
/// `'...'` would not: with it off, a backslash escapes the quote after it).
/// A text[] literal of names, each quoted as a string (never as SQL).
pub fn text_array(names: &[String]) -> String {
    format!(
        "ARRAY[{}]::pg_catalog.text[]",
        names
            .iter()
            .map(|n| quote_literal(n))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

pub fn quote_literal(text: &str) -> String {
    let body = text.replace('\'', "''");
    if text.contains('\\') {
        format!("E'{}'", body.replace('\\', "\\\\"))
    } else {
        format!("'{body}'")
    }
}

/// A relation already resolved through `regclass`: schema and name as Postgres stores them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relation {
    pub schema: String,
    pub name: String,
}

impl Relation {
    pub fn new(schema: &str, name: &str) -> Self {
        Relation {
            schema: schema.into(),
            name: name.into(),
        }
    }
    pub fn sql(&self) -> String {
        format!("{}.{}", quote_ident(&self.schema), quote_ident(&self.name))
    }
}

/// A copied column. `comparable` is false for types without an equality operator
/// (json, point, xml...): those are compared through their text form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub comparable: bool,
    /// Filled from a dimension's current value while loading (a job's lookup) instead of the
    /// source column of the same name, e.g. a fact's `store_org_id` from `dim_store.org_id`.
    pub lookup: Option<remap::DimensionValue>,
    /// The target column's type as SQL (`format_type` with its typmod, schema-qualified where
    /// needed): what a statement-per-step run's staged window declares (see `steps`).
    pub sql_type: Option<String>,
}

impl Column {
    pub fn new(name: &str) -> Self {
        Column {
            name: name.into(),
            comparable: true,
            lookup: None,
            sql_type: None,
        }
    }
    pub fn without_equality(name: &str) -> Self {
        Column {
            name: name.into(),
            comparable: false,
            lookup: None,
            sql_type: None,
        }
    }
    /// The column with its target type (see [`Column::sql_type`]).
    pub fn typed(mut self, sql_type: &str) -> Self {
        self.sql_type = Some(sql_type.into());
        self
    }
    /// The column as an expression that can be compared with IS DISTINCT FROM.
    fn comparable_expr(&self, alias: &str) -> String {
        let expr = format!("{alias}.{}", quote_ident(&self.name));
        if self.comparable {
            expr
        } else {
            format!("{expr}::text")
        }
    }
}

/// The kinds of watermark column insync knows how to bound safely.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum WatermarkKind {
    Timestamptz,
    Timestamp,
    Date,
    Integer,
}

impl WatermarkKind {
    /// Maps a Postgres type name (`format_type` output) to a kind.
    pub fn from_type_name(type_name: &str) -> Option<Self> {
        match type_name {
            "timestamp with time zone" => Some(Self::Timestamptz),
            "timestamp without time zone" => Some(Self::Timestamp),
            "date" => Some(Self::Date),
            "smallint" | "integer" | "bigint" => Some(Self::Integer),
            _ => None,
        }
    }

    /// The type of window bounds (the statement's `$1`, `$2` are bound with it).
    pub fn bound_type(self) -> &'static str {
        match self {
            Self::Timestamptz => "pg_catalog.timestamptz",
            Self::Timestamp => "pg_catalog.timestamp",
            Self::Date => "pg_catalog.date",
            Self::Integer => "pg_catalog.int8",
        }
    }

    /// The type a lookback is written in for this kind.
    pub fn lookback_type(self) -> &'static str {
        match self {
            Self::Integer => "pg_catalog.int8",
            _ => "pg_catalog.interval",
        }
    }

    /// SQL turning a bound of this kind (expression `expr`) into its canonical ISO text, which
    /// Postgres reads back identically whatever the session's DateStyle.
    pub fn to_text_sql(self, expr: &str) -> String {
        match self {
            Self::Timestamptz => format!(
                "pg_catalog.to_char(({expr}) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"+00\"')"
            ),
            Self::Timestamp => {
                format!("pg_catalog.to_char({expr}, 'YYYY-MM-DD\"T\"HH24:MI:SS.US')")
            }
            Self::Date => format!("pg_catalog.to_char({expr}, 'YYYY-MM-DD')"),
            Self::Integer => format!("({expr})::pg_catalog.text"),
        }
    }

    /// SQL for the safe upper bound, given `$1` = the instant (timestamptz) before which every
    /// transaction that could still commit has started, and `$2` = the zone the source writes
    /// local times in (NULL: the session's). Time kinds stop one microsecond short of it; a date watermark only
    /// covers days that have fully elapsed there.
    pub fn safe_bound_from_instant_sql(self) -> Option<&'static str> {
        match self {
            Self::Timestamptz => Some("$1::pg_catalog.timestamptz - interval '1 microsecond'"),
            Self::Timestamp => Some(
                "($1::pg_catalog.timestamptz - interval '1 microsecond') AT TIME ZONE coalesce($2::pg_catalog.text, pg_catalog.current_setting('TimeZone'))",
            ),
            Self::Date => Some(
                "($1::pg_catalog.timestamptz AT TIME ZONE coalesce($2::pg_catalog.text, pg_catalog.current_setting('TimeZone')))::pg_catalog.date - 1",
            ),
            Self::Integer => None,
        }
    }

    /// SQL computing the lower bound from `$1` (last watermark text) and `$2` (lookback text).
    pub fn lower_bound_sql(self) -> String {
        match self {
            Self::Integer => {
                "$1::pg_catalog.int8 - coalesce($2::pg_catalog.int8, 0)".to_string()
            }
            Self::Date => "($1::pg_catalog.date - coalesce($2::pg_catalog.interval, interval '0'))::pg_catalog.date"
                .to_string(),
            _ => format!(
                "$1::{t} - coalesce($2::pg_catalog.interval, interval '0')",
                t = self.bound_type()
            ),
        }
    }
}

/// Where the watermark lives: a source column, or a column of a related table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watermark {
    pub column: String,
    pub kind: WatermarkKind,
    pub related: Option<RelatedWatermark>,
}

/// A watermark reached through a join, e.g. order lines → orders.updated_at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelatedWatermark {
    pub relation: Relation,
    /// (source column, related column) pairs joined with `=`.
    pub join: Vec<(String, String)>,
}

impl Watermark {
    /// The watermark expression inside a window query (`s` = source, `w` = related table).
    fn expr(&self) -> String {
        let alias = if self.related.is_some() { "w" } else { "s" };
        format!("{alias}.{}", quote_ident(&self.column))
    }
}

/// How rows are written into the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MergeStrategy {
    /// `INSERT ... ON CONFLICT (key) DO UPDATE`: the target has a unique index on the key.
    Upsert,
    /// `DELETE` changed rows then `INSERT` absent ones: no unique index to lean on.
    DeleteInsert,
}

/// What a run does with the rows it reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunKind {
    #[default]
    /// Window of changed rows: insert new keys, update changed rows.
    Incremental,
    /// Every source row; also delete target rows whose key left the source.
    Full,
    /// Window of changed rows, but existing keys are left untouched.
    Append,
}

impl RunKind {
    /// The name used in the catalog (`insync.jobs.mode`, `insync.runs.kind`).
    pub fn as_str(self) -> &'static str {
        match self {
            RunKind::Incremental => "incremental",
            RunKind::Full => "full",
            RunKind::Append => "append",
        }
    }

    pub fn parse(name: &str) -> Option<RunKind> {
        [RunKind::Incremental, RunKind::Full, RunKind::Append]
            .into_iter()
            .find(|k| k.as_str() == name)
    }
}

impl std::fmt::Display for RunKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A job resolved against the catalog, ready to be turned into SQL.
#[derive(Debug, Clone)]
pub struct SyncPlan {
    pub source: Relation,
    pub target: Relation,
    pub keys: Vec<String>,
    /// Copied columns (keys included), in target order.
    pub columns: Vec<Column>,
    pub watermark: Option<Watermark>,
    pub filter: Option<String>,
    /// The source has a unique index on the key (and no join can multiply rows), so each key
    /// appears at most once and the latest-row-per-key step can be skipped.
    pub source_key_unique: bool,
    pub strategy: MergeStrategy,
    /// Partitioned targets cannot return `xmax`; inserts are told apart by a key lookup.
    pub target_partitioned: bool,
    /// A serial upsert counts its inserted and updated rows with the target's transaction
    /// statistics (read before and after the statement) instead of returning one row per
    /// written row: that `RETURNING` and the CTE holding it cost ~4% of a 200,000-row run.
    /// Set by the run when the server counts them (`track_counts`) and the target is one table.
    pub counts_from_table_stats: bool,
    /// The source is a foreign table: its window is fetched over the network, once.
    pub source_foreign: bool,
    /// The target has an index that finds the rows of one key (see `resolve`). Delete+insert
    /// then looks the window's keys up in it; without one it compares the window with the
    /// target through a FULL JOIN, which no plan can turn into a target scan per window row.
    pub target_key_indexed: bool,
    /// The engine the SQL is for (detected once per backend, see `resolve`).
    pub dialect: segment::Dialect,
    /// The target's access method and, on MPP engines, distribution.
    pub target_storage: dialect::Storage,
}

/// Which rows a run reads. Window bounds travel as parameters of the bound's own type (see
/// `window::WindowBounds`): `$1` = exclusive low, `$2` = inclusive high. Each shape gets its
/// own predicate so that the common one stays a plain range that an index on the watermark
/// can serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// `low < wm <= high`: every run after the first.
    Range,
    /// `wm <= high`, plus rows with no watermark at all: the initial load.
    UpTo,
    /// Every row: full runs.
    Everything,
}

impl SyncPlan {
    fn key_list(&self, alias: Option<&str>) -> String {
        ident_list(&self.keys, alias)
    }

    fn column_list(&self, alias: Option<&str>) -> String {
        ident_list(self.columns.iter().map(|c| &c.name), alias)
    }

    /// The select list of a source read: source columns, or their dimension lookups.
    fn source_select_list(&self) -> String {
        self.columns
            .iter()
            .map(|c| match &c.lookup {
                Some(l) => format!("{} AS {}", l.lookup("s"), quote_ident(&c.name)),
                None => format!("s.{}", quote_ident(&c.name)),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn non_key_columns(&self) -> impl Iterator<Item = &Column> {
        self.columns.iter().filter(|c| !self.keys.contains(&c.name))
    }

    /// `(a.c1, a.c2) IS DISTINCT FROM (b.c1, b.c2)` over the non-key columns, or `false` when
    /// every column is a key column (nothing can differ).
    fn payload_differs(&self, a: &str, b: &str) -> String {
        let cols: Vec<&Column> = self.non_key_columns().collect();
        if cols.is_empty() {
            return "false".into();
        }
        let side = |alias: &str| {
            cols.iter()
                .map(|c| c.comparable_expr(alias))
                .collect::<Vec<_>>()
                .join(", ")
        };
        // A one-element row constructor needs ROW() to stay a row.
        format!("ROW({}) IS DISTINCT FROM ROW({})", side(a), side(b))
    }

    fn keys_match(&self, a: &str, b: &str) -> String {
        self.keys
            .iter()
            .map(|k| format!("{a}.{q} = {b}.{q}", q = quote_ident(k)))
            .collect::<Vec<_>>()
            .join(" AND ")
    }

    fn any_key_null(&self, alias: &str) -> String {
        self.keys
            .iter()
            .map(|k| format!("{alias}.{} IS NULL", quote_ident(k)))
            .collect::<Vec<_>>()
            .join(" OR ")
    }

    /// `FROM` clause of a source read: the filter (and a segment's slice) apply to the source
    /// alone (a subquery, so its column names cannot collide with the related table's), then
    /// the related join.
    fn source_from(&self, slice: Option<&Slice>) -> String {
        let (relation, slice_predicate) = match slice {
            Some(slice) => self.slice_source(slice),
            None => (self.source.clone(), None),
        };
        let conditions: Vec<String> = slice_predicate
            .into_iter()
            .chain(self.filter.iter().map(|f| format!("(\n{f}\n)")))
            .collect();
        let source = if conditions.is_empty() {
            format!("{} s", relation.sql())
        } else {
            format!(
                "(SELECT * FROM {} WHERE {}) s",
                relation.sql(),
                conditions.join(" AND ")
            )
        };
        match self.watermark.as_ref().and_then(|w| w.related.as_ref()) {
            Some(rel) => {
                let on = rel
                    .join
                    .iter()
                    .map(|(s, r)| format!("w.{} = s.{}", quote_ident(r), quote_ident(s)))
                    .collect::<Vec<_>>()
                    .join(" AND ");
                format!("{source} JOIN {} w ON {on}", rel.relation.sql())
            }
            None => source,
        }
    }

    /// The rows a run reads: inside the window for incremental/append runs, everything for
    /// full runs; the latest row per key, ties broken by the whole row's text so the choice
    /// is the same every time.
    pub fn source_rows(&self, window: Window) -> String {
        self.source_rows_of(window, None)
    }

    /// [`SyncPlan::source_rows`] restricted to a segment's slice.
    fn source_rows_of(&self, window: Window, slice: Option<&Slice>) -> String {
        let mut sql = String::new();
        let needs_latest = self.needs_latest();
        if needs_latest {
            write!(sql, "SELECT DISTINCT ON ({}) ", self.key_list(Some("s"))).unwrap();
        } else {
            sql.push_str("SELECT ");
        }
        write!(
            sql,
            "{} FROM {}",
            self.source_select_list(),
            self.source_from(slice)
        )
        .unwrap();
        if let Some(predicate) = self.window_predicate(window) {
            write!(sql, " WHERE {predicate}").unwrap();
        }
        if needs_latest {
            let mut order = self.key_list(Some("s"));
            if let Some(wm) = &self.watermark {
                write!(order, ", {} DESC NULLS LAST", wm.expr()).unwrap();
            }
            order.push_str(", s::text DESC");
            write!(sql, " ORDER BY {order}").unwrap();
        }
        sql
    }

    /// The window as a predicate over the source read (`None`: everything).
    fn window_predicate(&self, window: Window) -> Option<String> {
        if window == Window::Everything {
            return None;
        }
        let wm = self
            .watermark
            .as_ref()
            .expect("window runs need a watermark");
        // `$1`, `$2` are bound with the bound's own type (see window::WindowBounds): a cast
        // here would be a function postgres_fdw does not send to the source.
        let e = wm.expr();
        Some(match window {
            Window::Range => format!("{e} > $1 AND {e} <= $2"),
            // The initial load also takes rows that have no watermark value (once).
            _ => format!("({e} <= $2 OR {e} IS NULL)"),
        })
    }

    /// Whether a key can appear more than once among the rows read.
    pub(crate) fn needs_latest(&self) -> bool {
        !self.source_key_unique || self.related_watermark()
    }

    fn related_watermark(&self) -> bool {
        self.watermark.as_ref().is_some_and(|w| w.related.is_some())
    }

    /// One statement that merges the run's rows into the target and returns one row:
    /// `rows_read, null_key_rows, deleted, inserted, updated` (all bigint).
    ///
    /// Rows with a NULL key are counted, never written: the caller turns a non-zero count
    /// into an error, which rolls the whole statement back.
    pub fn merge_statement(&self, kind: RunKind, window: Window) -> String {
        self.merge_statement_for(kind, window, None)
    }

    fn merge_statement_for(
        &self,
        kind: RunKind,
        window: Window,
        segment: Option<&Segment>,
    ) -> String {
        self.merge_statement_of(
            kind,
            window,
            segment.map(|s| &s.slice),
            segment.and_then(|s| s.target_share.as_ref()),
            segment.is_none(),
            false,
        )
    }

    /// The merge of the rows of `slice` (all of the window's when `None`); `share`: a full
    /// run's share of the target to delete from; `own_counts`: the statement may leave the
    /// inserted and updated counts to the caller (see `counts_from_table_stats`);
    /// `insert_only`: the target holds none of the slice's keys (a backfill batch checked it),
    /// so an upsert is a plain INSERT (a key written meanwhile raises a unique violation).
    pub(crate) fn merge_statement_of(
        &self,
        kind: RunKind,
        window: Window,
        slice: Option<&Slice>,
        share: Option<&segment::TargetShare>,
        own_counts: bool,
        insert_only: bool,
    ) -> String {
        let target = self.target.sql();
        let cols = self.column_list(None);
        let src_cols = self.column_list(Some("src"));
        let keys_not_null = format!("NOT ({})", self.any_key_null("src"));
        // The window is read more than once (merge, counts): materialize it only when picking
        // the latest row per key makes re-reading costly; a plain index range is cheaper to rescan.
        // A hash slice reads the whole window to keep its share. A foreign window's counts are
        // an aggregate postgres_fdw sends to the source (same remote snapshot), so only the
        // merge fetches its rows — unless a full run's delete reads it again or a filter the
        // source may not evaluate keeps the count here. A delete+insert through a FULL JOIN
        // reads it in its one-time filter too (see `rows_to_write`): from the materialized
        // window that costs one row, not a scan.
        let hash_slice = matches!(slice, Some(Slice::Hash { .. }));
        let gated_full_join = self.strategy == MergeStrategy::DeleteInsert
            && !self.target_key_indexed
            && window != Window::Everything;
        let foreign_reread =
            self.source_foreign && (kind == RunKind::Full || self.filter.is_some());
        let materialized = if self.needs_latest() || hash_slice || foreign_reread || gated_full_join
        {
            "MATERIALIZED"
        } else {
            "NOT MATERIALIZED"
        };
        let mut ctes = vec![format!(
            "src AS {materialized} ({})",
            self.source_rows_of(window, slice)
        )];
        let counts = match self.strategy {
            MergeStrategy::Upsert => {
                let conflict = if insert_only {
                    String::new()
                } else {
                    self.conflict_action(kind)
                };
                // RETURNING sees the target as it was before the statement for subqueries.
                let inserted = if self.target_partitioned {
                    format!(
                        "NOT EXISTS (SELECT 1 FROM {target} o WHERE {})",
                        self.keys_match("o", "t")
                    )
                } else {
                    "(t.xmax = 0)".to_string()
                };
                let insert = if insert_only {
                    format!("INSERT INTO {target} AS t ({cols}) SELECT {src_cols} FROM src WHERE {keys_not_null}")
                } else {
                    format!(
                        "INSERT INTO {target} AS t ({cols}) SELECT {src_cols} FROM src WHERE {keys_not_null} \
                         ON CONFLICT ({keys}) {conflict}",
                        keys = self.key_list(None)
                    )
                };
                if self.counts_from_table_stats && own_counts {
                    // Executed to completion though nothing reads it; the caller counts.
                    ctes.push(format!("merged AS ({insert})"));
                    "NULL::bigint, NULL::bigint FROM (SELECT) m".to_string()
                } else {
                    ctes.push(format!(
                        "merged AS ({insert} RETURNING {inserted} AS inserted)"
                    ));
                    "m.inserted, m.updated FROM (SELECT count(*) FILTER (WHERE inserted) AS inserted, \
                     count(*) FILTER (WHERE NOT inserted) AS updated FROM merged) m"
                        .to_string()
                }
            }
            MergeStrategy::DeleteInsert => {
                ctes.push(format!(
                    "diff AS MATERIALIZED ({})",
                    self.rows_to_write(kind, window)
                ));
                // Every statement sees the target as it was before this one: `diff` holds the
                // rows to write, and a target row is replaced when its key is among them. The
                // target holds at most one row per key (checked before the merge), so such a
                // row differs from its source row, or that row would not be in `diff`. (A row
                // a concurrent update made identical meanwhile is replaced too: no copy is left
                // beside the inserted one.) The join compares keys only, and with their distinct
                // values, which the planner knows to be unique (it knows nothing of a CTE's
                // columns), it hashes those rather than the whole target.
                let diff_cols = self.column_list(Some("diff"));
                if kind != RunKind::Append {
                    ctes.push(format!(
                        "replaced AS (DELETE FROM {target} t USING (SELECT DISTINCT {} FROM diff) k WHERE {} RETURNING {})",
                        self.key_list(None),
                        self.keys_match("t", "k"),
                        self.key_list(Some("t"))
                    ));
                }
                ctes.push(format!(
                    "added AS (INSERT INTO {target} ({cols}) SELECT {diff_cols} FROM diff RETURNING 1)"
                ));
                // Each written row has its own key (the source read keeps one row per key), and
                // every replaced row's key is one of them: a written row is an update when its
                // key was replaced. Counted without comparing the two lists row by row.
                if kind == RunKind::Append {
                    "m.inserted, m.updated FROM (SELECT count(*) AS inserted, 0::bigint AS updated FROM added) m"
                        .to_string()
                } else {
                    format!(
                        "m.inserted, m.updated FROM (SELECT a.n - u.n AS inserted, u.n AS updated \
                         FROM (SELECT count(*) AS n FROM added) a, \
                         (SELECT count(*) AS n FROM (SELECT DISTINCT {} FROM replaced) r) u) m",
                        self.key_list(None)
                    )
                }
            }
        };
        let deleted = if kind == RunKind::Full {
            let gone = match share {
                // A segment deletes from its share of the target what the whole source lacks.
                Some(share) => format!(
                    "DELETE FROM {target} t WHERE {} AND NOT EXISTS (SELECT 1 FROM {} WHERE {})",
                    Self::target_share_predicate(share),
                    self.source_from(None),
                    self.keys_match("s", "t")
                ),
                None => format!(
                    "DELETE FROM {target} t WHERE NOT EXISTS (SELECT 1 FROM src WHERE {})",
                    self.keys_match("src", "t")
                ),
            };
            ctes.push(format!("gone AS ({gone} RETURNING 1)"));
            "(SELECT count(*) FROM gone)"
        } else {
            "0::bigint"
        };
        // Result columns: rows_read, null_key_rows, deleted, inserted, updated.
        let read = if insert_only && own_counts && self.counts_from_table_stats {
            // Every row read is inserted (or the statement fails): the caller counts them off
            // the table's statistics, and the window is read once.
            "(SELECT NULL::bigint AS read, 0::bigint AS null_keys) r".to_string()
        } else {
            format!(
                "(SELECT count(*) AS read, count(*) FILTER (WHERE {}) AS null_keys FROM src) r",
                self.any_key_null("src")
            )
        };
        format!(
            "WITH {} SELECT r.read, r.null_keys, {deleted}, {counts}, {read}",
            ctes.join(", ")
        )
    }

    /// What an upsert does with a key the target already has: update the row when its payload
    /// differs (nothing for append runs and key-only tables).
    fn conflict_action(&self, kind: RunKind) -> String {
        match kind {
            RunKind::Append => "DO NOTHING".to_string(),
            _ if self.non_key_columns().next().is_none() => "DO NOTHING".to_string(),
            _ => format!(
                "DO UPDATE SET {} WHERE {}",
                self.non_key_columns()
                    .map(|c| format!("{q} = EXCLUDED.{q}", q = quote_ident(&c.name)))
                    .collect::<Vec<_>>()
                    .join(", "),
                self.payload_differs("t", "EXCLUDED")
            ),
        }
    }

    /// Delete+insert: the source rows (of `src`) to write — those with a key and no identical
    /// row in the target (append: no target row with their key at all).
    ///
    /// With an index on the target's key, an anti-join whose plan looks each row up in it.
    /// Without one, a FULL JOIN: PostgreSQL runs it only as a hash or merge join, so a window
    /// estimated at one row cannot become a nested loop scanning the whole target per window
    /// row. `OFFSET 0` keeps the filter above from reducing it to a LEFT JOIN (which could), and
    /// the flag, an expression the planner has no statistics for, keeps the estimate of `diff`
    /// a large share of the target, so the DELETE joining `diff` hashes too. A window (not a
    /// full run) is only compared when it has a row (`EXISTS`, a one-time filter): an empty one
    /// does not read the target.
    fn rows_to_write(&self, kind: RunKind, window: Window) -> String {
        let keys_not_null = |alias: &str| format!("NOT ({})", self.any_key_null(alias));
        let identical = match kind {
            RunKind::Append => self.keys_match("t", "src"),
            _ => format!(
                "{} AND NOT ({})",
                self.keys_match("t", "src"),
                self.payload_differs("t", "src")
            ),
        };
        if self.target_key_indexed {
            return format!(
                "SELECT src.* FROM src WHERE {} AND NOT EXISTS (SELECT 1 FROM {} t WHERE {identical})",
                keys_not_null("src"),
                self.target.sql()
            );
        }
        let flag = self.fresh_column_name("insync_unmatched");
        let gate = if window == Window::Everything {
            ""
        } else {
            " WHERE EXISTS (SELECT FROM src)"
        };
        format!(
            "SELECT {} FROM (SELECT src.*, t.{} IS NULL AS {flag} FROM src FULL JOIN {} t ON {identical}{gate} \
             OFFSET 0) d WHERE d.{flag} AND {}",
            self.column_list(Some("d")),
            quote_ident(&self.keys[0]),
            self.target.sql(),
            keys_not_null("d")
        )
    }

    /// `base`, or `base` with underscores appended, whichever no copied column is named.
    fn fresh_column_name(&self, base: &str) -> String {
        let mut name = base.to_string();
        while self.columns.iter().any(|c| c.name == name) {
            name.push('_');
        }
        quote_ident(&name)
    }

    /// Counts source rows in the window with a NULL key (run only to word the error).
    pub fn null_key_count(&self, window: Window) -> String {
        format!("SELECT count(*) FROM {}", self.null_key_rows(window))
    }

    /// Whether any source row in the window has a NULL key: checked before a parallel run's
    /// segments start, so no segment commits part of a window that must fail.
    pub fn null_key_exists(&self, window: Window) -> String {
        format!("SELECT EXISTS (SELECT FROM {})", self.null_key_rows(window))
    }

    /// `FROM ... WHERE` of the window's raw rows (filter applied) with a NULL key.
    fn null_key_rows(&self, window: Window) -> String {
        let null = self.any_key_null("s");
        match self.window_predicate(window) {
            Some(predicate) => format!(
                "{} WHERE ({predicate}) AND ({null})",
                self.source_from(None)
            ),
            None => format!("{} WHERE {null}", self.source_from(None)),
        }
    }

    /// Integer watermarks: the highest committed value, read before waiting for writers.
    pub fn max_watermark(&self) -> String {
        let wm = self
            .watermark
            .as_ref()
            .expect("max_watermark needs a watermark");
        format!(
            "SELECT (max({}))::pg_catalog.int8::pg_catalog.text FROM {}",
            wm.expr(),
            self.source_from(None)
        )
    }

    /// Counts target rows sharing a key (a target with duplicates cannot be merged into safely).
    pub fn target_duplicate_keys(&self) -> String {
        format!(
            "SELECT count(*) FROM (SELECT 1 FROM {} GROUP BY {} HAVING count(*) > 1) d",
            self.target.sql(),
            self.key_list(None)
        )
    }
}

/// A column pair as users write it: `left=right`, or `name` for the same name on both sides
/// (spaces around either side ignored). `None` when a side is empty.
pub fn column_pair(text: &str) -> Option<(String, String)> {
    let (left, right) = text.split_once('=').unwrap_or((text, text));
    let (left, right) = (left.trim(), right.trim());
    (!left.is_empty() && !right.is_empty()).then(|| (left.to_string(), right.to_string()))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn customer_plan() -> SyncPlan {
        SyncPlan {
            source: Relation::new("ods", "customer"),
            target: Relation::new("dw", "customer"),
            keys: vec!["customer_id".into()],
            columns: vec![
                Column::new("customer_id").typed("integer"),
                Column::new("name").typed("text"),
                Column::new("updated_at").typed("timestamp with time zone"),
            ],
            watermark: Some(Watermark {
                column: "updated_at".into(),
                kind: WatermarkKind::Timestamptz,
                related: None,
            }),
            filter: None,
            source_key_unique: true,
            strategy: MergeStrategy::Upsert,
            target_partitioned: false,
            counts_from_table_stats: false,
            source_foreign: false,
            target_key_indexed: false,
            dialect: segment::Dialect::postgres(150000),
            target_storage: dialect::Storage::heap(),
        }
    }

    #[test]
    fn quoting_neutralises_hostile_names() {
        assert_eq!(quote_ident("Order Lines"), "\"Order Lines\"");
        assert_eq!(
            quote_ident("a\"; DROP TABLE x; --"),
            "\"a\"\"; DROP TABLE x; --\""
        );
        assert_eq!(
            Relation::new("My Schema", "t;x").sql(),
            "\"My Schema\".\"t;x\""
        );
        assert_eq!(quote_literal("it's"), "'it''s'");
        // Read the same under standard_conforming_strings = off: no bare backslash.
        assert_eq!(quote_literal("a\\'\n"), "E'a\\\\''\n'");
    }

    #[test]
    fn unique_source_window_is_a_plain_range_scan() {
        let sql = customer_plan().source_rows(Window::Range);
        assert_eq!(
            sql,
            "SELECT s.\"customer_id\", s.\"name\", s.\"updated_at\" FROM \"ods\".\"customer\" s \
             WHERE s.\"updated_at\" > $1 AND s.\"updated_at\" <= $2"
        );
    }

    #[test]
    fn initial_load_takes_rows_without_a_watermark_once() {
        let sql = customer_plan().source_rows(Window::UpTo);
        assert!(
            sql.ends_with("WHERE (s.\"updated_at\" <= $2 OR s.\"updated_at\" IS NULL)"),
            "{sql}"
        );
        assert!(!sql.contains("$1"), "{sql}");
    }

    #[test]
    fn non_unique_source_picks_latest_row_per_key_deterministically() {
        let mut plan = customer_plan();
        plan.source_key_unique = false;
        let sql = plan.source_rows(Window::Range);
        assert!(
            sql.starts_with("SELECT DISTINCT ON (s.\"customer_id\") "),
            "{sql}"
        );
        assert!(
            sql.ends_with(
                "ORDER BY s.\"customer_id\", s.\"updated_at\" DESC NULLS LAST, s::text DESC"
            ),
            "{sql}"
        );
    }

    #[test]
    fn filter_applies_to_source_only_and_related_watermark_joins() {
        let mut plan = customer_plan();
        plan.source = Relation::new("ods", "order_line");
        plan.keys = vec!["line_id".into()];
        plan.columns = vec![Column::new("line_id"), Column::new("order_id")];
        plan.filter = Some("data_source = 'crm'".into());
        plan.watermark = Some(Watermark {
            column: "updated_at".into(),
            kind: WatermarkKind::Timestamptz,
            related: Some(RelatedWatermark {
                relation: Relation::new("ods", "orders"),
                join: vec![("order_id".into(), "id".into())],
            }),
        });
        let sql = plan.source_rows(Window::Range);
        assert!(
            sql.contains(
                "FROM (SELECT * FROM \"ods\".\"order_line\" WHERE (\ndata_source = 'crm'\n)) s \
             JOIN \"ods\".\"orders\" w ON w.\"id\" = s.\"order_id\""
            ),
            "{sql}"
        );
        assert!(sql.contains("w.\"updated_at\" > $1"), "{sql}");
        // A join can repeat a source row, so the latest-per-key step stays even for unique keys.
        assert!(
            sql.starts_with("SELECT DISTINCT ON (s.\"line_id\")"),
            "{sql}"
        );
    }

    #[test]
    fn full_runs_read_everything() {
        let sql = customer_plan().source_rows(Window::Everything);
        assert!(!sql.contains("WHERE"), "{sql}");
        assert!(!sql.contains("$1"), "{sql}");
    }

    #[test]
    fn upsert_skips_unchanged_rows_and_counts_inserts() {
        let sql = customer_plan().merge_statement(RunKind::Incremental, Window::Range);
        assert!(sql.contains("ON CONFLICT (\"customer_id\") DO UPDATE SET \"name\" = EXCLUDED.\"name\", \"updated_at\" = EXCLUDED.\"updated_at\" \
             WHERE ROW(t.\"name\", t.\"updated_at\") IS DISTINCT FROM ROW(EXCLUDED.\"name\", EXCLUDED.\"updated_at\")"), "{sql}");
        assert!(sql.contains("RETURNING (t.xmax = 0) AS inserted"), "{sql}");
        assert!(
            sql.contains("WHERE NOT (src.\"customer_id\" IS NULL)"),
            "{sql}"
        );
        assert!(!sql.contains("gone AS"), "{sql}");
    }

    #[test]
    fn partitioned_targets_count_inserts_without_xmax() {
        let mut plan = customer_plan();
        plan.target_partitioned = true;
        let sql = plan.merge_statement(RunKind::Incremental, Window::Range);
        assert!(!sql.contains("xmax"), "{sql}");
        assert!(sql.contains("RETURNING NOT EXISTS (SELECT 1 FROM \"dw\".\"customer\" o WHERE o.\"customer_id\" = t.\"customer_id\") AS inserted"), "{sql}");
    }

    #[test]
    fn window_is_materialized_only_when_deduplicated() {
        let plan = customer_plan();
        let sql = plan.merge_statement(RunKind::Incremental, Window::Range);
        assert!(
            sql.starts_with("WITH src AS NOT MATERIALIZED (SELECT s."),
            "{sql}"
        );
        assert!(
            sql.ends_with(
                "(SELECT count(*) AS read, count(*) FILTER (WHERE src.\"customer_id\" IS NULL) AS null_keys FROM src) r"
            ),
            "{sql}"
        );
        let mut plan = customer_plan();
        plan.source_key_unique = false;
        let sql = plan.merge_statement(RunKind::Incremental, Window::Range);
        assert!(
            sql.starts_with("WITH src AS MATERIALIZED (SELECT DISTINCT ON"),
            "{sql}"
        );
    }

    #[test]
    fn lookup_columns_read_the_dimension_current_value() {
        let mut plan = customer_plan();
        plan.columns.push(Column {
            name: "store_org_id".into(),
            comparable: true,
            lookup: Some(remap::DimensionValue {
                dimension: Relation::new("dw", "dim_store"),
                join: vec![("store_id".into(), "store_id".into())],
                value: "org_id".into(),
                current: remap::Current::LatestBy("valid_from".into()),
            }),
            sql_type: Some("bigint".into()),
        });
        let sql = plan.source_rows(Window::Range);
        assert!(sql.contains(
            "(SELECT d.\"org_id\" FROM \"dw\".\"dim_store\" d WHERE d.\"store_id\" = s.\"store_id\" \
             ORDER BY d.\"valid_from\" DESC NULLS LAST LIMIT 1) AS \"store_org_id\""
        ), "{sql}");
        // Written to the target like any other column.
        assert!(plan
            .merge_statement(RunKind::Incremental, Window::Range)
            .contains("\"store_org_id\" = EXCLUDED.\"store_org_id\""));
    }

    #[test]
    fn columns_without_equality_compare_as_text() {
        let mut plan = customer_plan();
        plan.columns.push(Column::without_equality("attrs"));
        let sql = plan.merge_statement(RunKind::Incremental, Window::Range);
        assert!(sql.contains("t.\"attrs\"::text"), "{sql}");
        assert!(sql.contains("EXCLUDED.\"attrs\"::text"), "{sql}");
    }

    #[test]
    fn key_only_tables_do_nothing_on_conflict() {
        let mut plan = customer_plan();
        plan.columns = vec![Column::new("customer_id")];
        let sql = plan.merge_statement(RunKind::Incremental, Window::Range);
        assert!(
            sql.contains("ON CONFLICT (\"customer_id\") DO NOTHING"),
            "{sql}"
        );
    }

    #[test]
    fn append_never_updates() {
        let sql = customer_plan().merge_statement(RunKind::Append, Window::Range);
        assert!(sql.contains("DO NOTHING"), "{sql}");
        let sql = delete_insert_plan().merge_statement(RunKind::Append, Window::Range);
        assert!(!sql.contains("DELETE"), "{sql}");
    }

    fn delete_insert_plan() -> SyncPlan {
        let mut plan = customer_plan();
        plan.strategy = MergeStrategy::DeleteInsert;
        plan
    }

    #[test]
    fn delete_insert_replaces_only_changed_rows() {
        let sql = delete_insert_plan().merge_statement(RunKind::Incremental, Window::Range);
        assert!(sql.contains("replaced AS (DELETE FROM \"dw\".\"customer\" t USING (SELECT DISTINCT \"customer_id\" FROM diff) k \
             WHERE t.\"customer_id\" = k.\"customer_id\" RETURNING t.\"customer_id\")"), "{sql}");
        assert!(sql.contains("added AS (INSERT INTO \"dw\".\"customer\" (\"customer_id\", \"name\", \"updated_at\") \
             SELECT diff.\"customer_id\", diff.\"name\", diff.\"updated_at\" FROM diff RETURNING 1)"), "{sql}");
        assert!(!sql.contains("ON CONFLICT"), "{sql}");
    }

    #[test]
    fn delete_insert_without_a_key_index_compares_through_a_full_join() {
        let sql = delete_insert_plan().merge_statement(RunKind::Incremental, Window::Range);
        assert!(sql.contains(
            "diff AS MATERIALIZED (SELECT d.\"customer_id\", d.\"name\", d.\"updated_at\" FROM \
             (SELECT src.*, t.\"customer_id\" IS NULL AS \"insync_unmatched\" FROM src FULL JOIN \"dw\".\"customer\" t \
             ON t.\"customer_id\" = src.\"customer_id\" AND NOT (ROW(t.\"name\", t.\"updated_at\") IS DISTINCT FROM ROW(src.\"name\", src.\"updated_at\")) \
             WHERE EXISTS (SELECT FROM src) OFFSET 0) d WHERE d.\"insync_unmatched\" AND NOT (d.\"customer_id\" IS NULL))"
        ), "{sql}");
        // No anti-join against the target that a one-row estimate could make a nested loop.
        assert!(!sql.contains("NOT EXISTS"), "{sql}");
        // The window is read once, by the one-time filter, the join and the counts alike.
        assert!(
            sql.starts_with("WITH src AS MATERIALIZED (SELECT s."),
            "{sql}"
        );
    }

    #[test]
    fn delete_insert_with_a_key_index_looks_keys_up() {
        let mut plan = delete_insert_plan();
        plan.target_key_indexed = true;
        let sql = plan.merge_statement(RunKind::Incremental, Window::Range);
        assert!(sql.contains(
            "diff AS MATERIALIZED (SELECT src.* FROM src WHERE NOT (src.\"customer_id\" IS NULL) \
             AND NOT EXISTS (SELECT 1 FROM \"dw\".\"customer\" t WHERE t.\"customer_id\" = src.\"customer_id\" \
             AND NOT (ROW(t.\"name\", t.\"updated_at\") IS DISTINCT FROM ROW(src.\"name\", src.\"updated_at\"))))"
        ), "{sql}");
        assert!(!sql.contains("FULL JOIN"), "{sql}");
        assert!(
            sql.starts_with("WITH src AS NOT MATERIALIZED (SELECT s."),
            "{sql}"
        );
        // Deletes and inserts as without the index.
        assert!(
            sql.contains("replaced AS (DELETE FROM \"dw\".\"customer\" t USING (SELECT DISTINCT"),
            "{sql}"
        );
    }

    #[test]
    fn delete_insert_counts_without_a_lookup_per_row() {
        for indexed in [false, true] {
            let mut plan = delete_insert_plan();
            plan.target_key_indexed = indexed;
            let sql = plan.merge_statement(RunKind::Incremental, Window::Range);
            assert!(sql.contains(
                "SELECT r.read, r.null_keys, 0::bigint, m.inserted, m.updated FROM (SELECT a.n - u.n AS inserted, u.n AS updated \
                 FROM (SELECT count(*) AS n FROM added) a, \
                 (SELECT count(*) AS n FROM (SELECT DISTINCT \"customer_id\" FROM replaced) r) u) m, "
            ), "{sql}");
            assert!(!sql.contains("FROM replaced r WHERE"), "{sql}");
        }
        let mut plan = delete_insert_plan();
        plan.keys = vec!["tenant".into(), "customer_id".into()];
        plan.columns.insert(0, Column::new("tenant"));
        let sql = plan.merge_statement(RunKind::Incremental, Window::Range);
        assert!(
            sql.contains("(SELECT DISTINCT \"tenant\", \"customer_id\" FROM replaced) r"),
            "{sql}"
        );
        assert!(
            sql.contains("NOT (d.\"tenant\" IS NULL OR d.\"customer_id\" IS NULL)"),
            "{sql}"
        );
        assert!(
            sql.contains(
                "USING (SELECT DISTINCT \"tenant\", \"customer_id\" FROM diff) k \
             WHERE t.\"tenant\" = k.\"tenant\" AND t.\"customer_id\" = k.\"customer_id\" RETURNING"
            ),
            "{sql}"
        );
    }

    #[test]
    fn delete_insert_appends_keys_the_target_lacks() {
        for indexed in [false, true] {
            let mut plan = delete_insert_plan();
            plan.target_key_indexed = indexed;
            let sql = plan.merge_statement(RunKind::Append, Window::Range);
            assert!(!sql.contains("DELETE"), "{sql}");
            assert!(!sql.contains("IS DISTINCT FROM"), "{sql}");
            assert!(sql.contains(
                "m.inserted, m.updated FROM (SELECT count(*) AS inserted, 0::bigint AS updated FROM added) m"
            ), "{sql}");
        }
        let sql = delete_insert_plan().merge_statement(RunKind::Append, Window::Range);
        assert!(sql.contains("FULL JOIN \"dw\".\"customer\" t ON t.\"customer_id\" = src.\"customer_id\" WHERE EXISTS"), "{sql}");
    }

    #[test]
    fn delete_insert_flag_never_takes_a_column_name() {
        let mut plan = delete_insert_plan();
        plan.columns.push(Column::new("insync_unmatched"));
        plan.columns.push(Column::new("insync_unmatched_"));
        let sql = plan.merge_statement(RunKind::Incremental, Window::Range);
        assert!(
            sql.contains("IS NULL AS \"insync_unmatched__\" FROM src FULL JOIN"),
            "{sql}"
        );
        assert!(sql.contains("WHERE d.\"insync_unmatched__\" AND"), "{sql}");
    }

    #[test]
    fn full_run_deletes_keys_gone_from_source() {
        for strategy in [MergeStrategy::Upsert, MergeStrategy::DeleteInsert] {
            let mut plan = customer_plan();
            plan.strategy = strategy;
            let sql = plan.merge_statement(RunKind::Full, Window::Everything);
            assert!(sql.contains(
                "gone AS (DELETE FROM \"dw\".\"customer\" t WHERE NOT EXISTS (SELECT 1 FROM src WHERE src.\"customer_id\" = t.\"customer_id\") RETURNING 1)"
            ), "{sql}");
        }
    }

    #[test]
    fn composite_keys_everywhere() {
        let mut plan = customer_plan();
        plan.keys = vec!["tenant".into(), "customer_id".into()];
        plan.columns.insert(0, Column::new("tenant"));
        let sql = plan.merge_statement(RunKind::Incremental, Window::Range);
        assert!(
            sql.contains("ON CONFLICT (\"tenant\", \"customer_id\")"),
            "{sql}"
        );
        assert!(
            sql.contains("NOT (src.\"tenant\" IS NULL OR src.\"customer_id\" IS NULL)"),
            "{sql}"
        );
        assert_eq!(
            plan.target_duplicate_keys(),
            "SELECT count(*) FROM (SELECT 1 FROM \"dw\".\"customer\" GROUP BY \"tenant\", \"customer_id\" HAVING count(*) > 1) d"
        );
    }

    #[test]
    fn null_key_count_reads_raw_window_rows() {
        let mut plan = customer_plan();
        plan.source_key_unique = false;
        let sql = plan.null_key_count(Window::Range);
        assert!(!sql.contains("DISTINCT ON"), "{sql}");
        assert!(!sql.contains("ORDER BY"), "{sql}");
        assert!(sql.ends_with("AND (s.\"customer_id\" IS NULL)"), "{sql}");
        let everything = plan.null_key_exists(Window::Everything);
        assert!(
            everything.starts_with("SELECT EXISTS (SELECT FROM "),
            "{everything}"
        );
        assert!(
            everything.ends_with("WHERE s.\"customer_id\" IS NULL)"),
            "{everything}"
        );
    }

    #[test]
    fn column_pairs_as_users_write_them() {
        assert_eq!(
            column_pair("store_id"),
            Some(("store_id".into(), "store_id".into()))
        );
        assert_eq!(column_pair(" a = b "), Some(("a".into(), "b".into())));
        assert_eq!(column_pair("a="), None);
        assert_eq!(column_pair("=b"), None);
        assert_eq!(column_pair(""), None);
    }

    #[test]
    fn null_key_count_keeps_order_by_inside_a_filter() {
        let mut plan = customer_plan();
        plan.source_key_unique = false;
        plan.filter = Some("id IN (SELECT id FROM x ORDER BY id LIMIT 3)".into());
        let sql = plan.null_key_count(Window::Range);
        assert!(sql.contains("ORDER BY id LIMIT 3)"), "{sql}");
        assert!(sql.ends_with("IS NULL)"), "{sql}");
    }

    #[test]
    fn an_upsert_counted_from_table_stats_returns_nothing_per_row() {
        let mut plan = customer_plan();
        plan.counts_from_table_stats = true;
        let sql = plan.merge_statement(RunKind::Incremental, Window::Range);
        assert!(!sql.contains("RETURNING"), "{sql}");
        assert!(
            sql.contains("NULL::bigint, NULL::bigint FROM (SELECT) m"),
            "{sql}"
        );
        // Still one statement: the window is counted in the same snapshot as it is merged.
        assert!(sql.contains("count(*) AS read"), "{sql}");
        plan.counts_from_table_stats = false;
        assert!(plan
            .merge_statement(RunKind::Incremental, Window::Range)
            .contains("RETURNING (t.xmax = 0) AS inserted"));
    }

    #[test]
    fn a_foreign_window_is_fetched_once() {
        let mut plan = customer_plan();
        plan.source_foreign = true;
        // The counts are an aggregate over the same window, which postgres_fdw ships.
        let incremental = plan.merge_statement(RunKind::Incremental, Window::Range);
        assert!(
            incremental.starts_with("WITH src AS NOT MATERIALIZED"),
            "{incremental}"
        );
        // A full run's delete reads the window again: fetched once, kept here.
        assert!(plan
            .merge_statement(RunKind::Full, Window::Everything)
            .starts_with("WITH src AS MATERIALIZED"));
        // A filter the source might not evaluate would make the count fetch the rows again.
        plan.filter = Some("status <> 'void'".into());
        assert!(plan
            .merge_statement(RunKind::Incremental, Window::Range)
            .starts_with("WITH src AS MATERIALIZED"));
    }

    #[test]
    fn watermark_kinds_bound_and_render() {
        assert_eq!(
            WatermarkKind::from_type_name("bigint"),
            Some(WatermarkKind::Integer)
        );
        assert_eq!(WatermarkKind::from_type_name("numeric"), None);
        assert_eq!(WatermarkKind::from_type_name("text"), None);
        assert!(WatermarkKind::Integer
            .safe_bound_from_instant_sql()
            .is_none());
        assert_eq!(
            WatermarkKind::Date.safe_bound_from_instant_sql(),
            Some("($1::pg_catalog.timestamptz AT TIME ZONE coalesce($2::pg_catalog.text, pg_catalog.current_setting('TimeZone')))::pg_catalog.date - 1")
        );
        assert!(WatermarkKind::Timestamptz
            .to_text_sql("x")
            .contains("AT TIME ZONE 'UTC'"));
        assert_eq!(
            WatermarkKind::Integer.lower_bound_sql(),
            "$1::pg_catalog.int8 - coalesce($2::pg_catalog.int8, 0)"
        );
    }
}
