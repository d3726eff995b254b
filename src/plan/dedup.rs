//! Pure planning for `find_duplicates` and `dedup_table`: one statement ranks every row of a
//! key (the same window the hand-written repair uses), diagnoses each duplicated key from its
//! copies only, and removes the extra copies into the quarantine.

use super::{ident_list, quote_ident, quote_literal, Column, Relation};

/// Which copy of a duplicated key survives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Keep {
    /// The copy with the highest value of the column (ties: the row stored last).
    Latest(String),
    /// The copy with the lowest value of the column, or the row stored first.
    First(Option<String>),
    /// The copy whose source column comes first in the list; then the latest by the column.
    SourceOrder {
        column: String,
        order: Vec<String>,
        then_latest: Option<String>,
    },
}

/// A duplicate analysis of one table.
#[derive(Debug, Clone)]
pub struct DedupPlan {
    pub table: Relation,
    pub keys: Vec<String>,
    /// Every column of the table; `comparable` here means the type has min/max aggregates,
    /// otherwise copies are compared through the text form.
    pub columns: Vec<Column>,
    /// Columns that only describe the load (loaded_at, batch_id...): copies differing only
    /// there are identical.
    pub metadata: Vec<String>,
    /// A change-time column: copies differing there are versions of one row.
    pub change_column: Option<String>,
    /// A column naming the source system: copies differing there came from two sources.
    pub source_column: Option<String>,
    pub keep: Keep,
    /// Rows of a partitioned table are told apart by (tableoid, ctid), not ctid alone.
    pub partitioned: bool,
}

impl DedupPlan {
    fn keys(&self, alias: Option<&str>) -> String {
        ident_list(&self.keys, alias)
    }

    fn keys_not_null(&self, alias: &str) -> String {
        self.keys
            .iter()
            .map(|k| format!("{alias}.{} IS NOT NULL", quote_ident(k)))
            .collect::<Vec<_>>()
            .join(" AND ")
    }

    fn key_json(&self, alias: &str) -> String {
        let pairs = self
            .keys
            .iter()
            .map(|k| format!("{}, {alias}.{}", quote_literal(k), quote_ident(k)))
            .collect::<Vec<_>>()
            .join(", ");
        format!("pg_catalog.jsonb_build_object({pairs})")
    }

    /// ORDER BY inside each key: the survivor ranks first. Over a duplicate's columns as
    /// fetched (`x.insync_c_N`) and its TID (`r.insync_ctid`).
    fn keep_order(&self) -> String {
        let col = |c: &str| {
            let i = self
                .columns
                .iter()
                .position(|k| k.name == c)
                .expect("keep columns are columns of the table");
            format!("x.{}", quote_ident(&format!("insync_c_{i}")))
        };
        let tid = "r.insync_ctid";
        match &self.keep {
            Keep::Latest(c) => format!("{} DESC NULLS LAST, {tid} DESC", col(c)),
            Keep::First(Some(c)) => format!("{} ASC NULLS LAST, {tid}", col(c)),
            Keep::First(None) => tid.to_string(),
            Keep::SourceOrder {
                column,
                order,
                then_latest,
            } => {
                let list = order
                    .iter()
                    .map(|o| quote_literal(o))
                    .collect::<Vec<_>>()
                    .join(", ");
                let mut o = format!(
                    "pg_catalog.array_position(ARRAY[{list}]::text[], {}::text) NULLS LAST",
                    col(column)
                );
                if let Some(c) = then_latest {
                    o.push_str(&format!(", {} DESC NULLS LAST", col(c)));
                }
                o.push_str(&format!(", {tid} DESC"));
                o
            }
        }
    }

    /// Columns whose values differ among a key's copies (NULL and values compared as text).
    fn differing(&self) -> String {
        let flags = self
            .columns
            .iter()
            .enumerate()
            .filter(|(_, c)| !self.keys.contains(&c.name))
            .map(|(i, c)| {
                // Typed min/max where the type has them; otherwise text in the "C" collation
                // (byte comparison, any type). NULLs are counted apart.
                let col = format!("d.{}", quote_ident(&format!("insync_c_{i}")));
                let v = if c.comparable { col.clone() } else { format!("{col}::text COLLATE \"C\"") };
                format!(
                    "CASE WHEN min({v}) <> max({v}) OR count({col}) NOT IN (0, count(*)) THEN {} END",
                    quote_literal(&c.name)
                )
            })
            .collect::<Vec<_>>();
        if flags.is_empty() {
            "'{}'::text[]".into()
        } else {
            format!(
                "pg_catalog.array_remove(ARRAY[{}]::text[], NULL)",
                flags.join(", ")
            )
        }
    }

    fn cause(&self) -> String {
        let literal_array = |items: &[String]| {
            format!(
                "ARRAY[{}]::text[]",
                items
                    .iter()
                    .map(|i| quote_literal(i))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        let mut sql = format!(
            "CASE WHEN g.differing <@ {} THEN 'identical'",
            literal_array(&self.metadata)
        );
        if let Some(s) = &self.source_column {
            sql.push_str(&format!(
                " WHEN {} = ANY (g.differing) THEN 'multi_source'",
                quote_literal(s)
            ));
        }
        if let Some(c) = &self.change_column {
            sql.push_str(&format!(
                " WHEN {} = ANY (g.differing) THEN 'versions'",
                quote_literal(c)
            ));
        }
        sql.push_str(" ELSE 'distinct_rows' END");
        sql
    }

    /// CTEs `ranked`, `dups`, `groups`, `diagnosed`, shared by every statement below.
    ///
    /// One sort and one window pass over the table, like the hand-written repair, but sorted by
    /// the key alone: `count(*)` per key lets only the copies of duplicated keys leave the pass.
    /// Their rows are then fetched by TID (OFFSET 0 keeps the lookup a per-row TID scan instead
    /// of a join against the whole table) and ranked among themselves by the keep policy.
    fn diagnosis(&self) -> String {
        let table = self.table.sql();
        format!(
            "ranked AS (SELECT * FROM (SELECT {tableoid} AS insync_tableoid, t.ctid AS insync_ctid, {tkeys}, \
                 pg_catalog.count(*) OVER (PARTITION BY {tkeys}) AS insync_copies \
               FROM {table} t WHERE {not_null}) r WHERE r.insync_copies > 1), \
             dups AS MATERIALIZED (SELECT r.*, x.*, \
                 pg_catalog.row_number() OVER (PARTITION BY {rkeys} ORDER BY {order}) AS insync_rank \
               FROM ranked r CROSS JOIN LATERAL \
                 (SELECT {flat} FROM {table} t \
                   WHERE t.ctid = r.insync_ctid{same_partition} OFFSET 0) x), \
             groups AS (SELECT {dkeys}, pg_catalog.count(*) AS copies, {differing} AS differing \
                 FROM dups d GROUP BY {dkeys}), \
             diagnosed AS (SELECT g.*, {cause} AS cause FROM groups g)",
            tableoid = if self.partitioned { "t.tableoid" } else { "0::oid" },
            same_partition = if self.partitioned { " AND t.tableoid = r.insync_tableoid" } else { "" },
            // Columns also projected flat, so comparing them does not re-deform the row each time.
            flat = self
                .columns
                .iter()
                .enumerate()
                .map(|(i, c)| format!("t.{} AS {}", quote_ident(&c.name), quote_ident(&format!("insync_c_{i}"))))
                .collect::<Vec<_>>()
                .join(", "),
            tkeys = self.keys(Some("t")),
            rkeys = self.keys(Some("r")),
            order = self.keep_order(),
            not_null = self.keys_not_null("t"),
            dkeys = self.keys(Some("d")),
            differing = self.differing(),
            cause = self.cause(),
        )
    }

    /// One row per duplicated key: `key jsonb, copies bigint, differing text[], cause text`.
    pub fn find_duplicates(&self) -> String {
        format!(
            "WITH {} SELECT {} AS key, g.copies, g.differing, g.cause FROM diagnosed g ORDER BY g.cause, {}",
            self.diagnosis(),
            self.key_json("g"),
            self.keys(Some("g"))
        )
    }

    /// Counts per cause: `cause text, keys bigint, rows bigint, extra_rows bigint`.
    pub fn summary(&self) -> String {
        format!(
            "WITH {} SELECT g.cause, pg_catalog.count(*), pg_catalog.sum(g.copies)::bigint, \
               (pg_catalog.sum(g.copies) - pg_catalog.count(*))::bigint FROM diagnosed g GROUP BY g.cause ORDER BY g.cause",
            self.diagnosis()
        )
    }

    /// Removes every copy but the survivor of each duplicated key (unless its cause is
    /// `distinct_rows` and `$2` is false), writing each removed row to the quarantine in the
    /// same statement. `$1` = batch id, `$2` = remove distinct_rows groups too (`$3` is unused), `$4` = the
    /// table's OID. A dry run plans the same analysis without the DELETE and the quarantine.
    /// Returns per cause: `cause, keys, rows, removable, removed`.
    pub fn dedup(&self, dry_run: bool) -> String {
        let table = self.table.sql();
        let join_keys = self
            .keys
            .iter()
            .map(|k| format!("d.{q} = g.{q}", q = quote_ident(k)))
            .collect::<Vec<_>>()
            .join(" AND ");
        format!(
            "WITH {diagnosis}, \
             victims AS (SELECT d.insync_tableoid, d.insync_ctid, g.cause, {key_json} AS key \
               FROM dups d JOIN diagnosed g ON {join_keys} \
              WHERE d.insync_rank > 1 AND (g.cause <> 'distinct_rows' OR $2::bool)), \
             {removal} \
             SELECT g.cause, pg_catalog.count(*) AS keys, pg_catalog.sum(g.copies)::bigint AS rows, \
                    coalesce(min(vc.n), 0) AS removable, coalesce(min(qc.n), 0) AS removed \
               FROM diagnosed g \
               LEFT JOIN (SELECT v.cause, pg_catalog.count(*) AS n FROM victims v GROUP BY v.cause) vc ON vc.cause = g.cause \
               LEFT JOIN (SELECT q.reason, pg_catalog.count(*) AS n FROM quarantined q GROUP BY q.reason) qc ON qc.reason = g.cause \
              GROUP BY g.cause ORDER BY g.cause",
            diagnosis = self.diagnosis(),
            key_json = self.key_json("d"),
            removal = if dry_run {
                // Read-only: a dry run needs no DELETE privilege and writes nothing.
                "quarantined AS (SELECT NULL::text AS reason WHERE false)".to_string()
            } else {
                format!(
                    // `ctid = ANY(array)` is a TID scan whatever the planner guesses of the victims.
                    "removed AS (DELETE FROM {table} t USING victims v \
                       WHERE t.ctid = ANY (ARRAY(SELECT v.insync_ctid FROM victims v)) AND {same_victim} \
                       RETURNING v.key, v.cause, pg_catalog.row_to_json(t) AS row_data), \
                     quarantined AS (INSERT INTO insync.quarantine (batch_id, table_oid, table_name, key, row_data, reason, removed_by) \
                       SELECT $1::bigint, $4::pg_catalog.oid::pg_catalog.regclass, {name}, r.key, r.row_data, r.cause, {opener} \
                         FROM removed r \
                       RETURNING reason)",
                    name = quote_literal(&format!("{}.{}", self.table.schema, self.table.name)),
                    opener = super::quarantine::batch_opener("$1", "$4"),
                    same_victim = if self.partitioned {
                        "t.ctid = v.insync_ctid AND t.tableoid = v.insync_tableoid"
                    } else {
                        "t.ctid = v.insync_ctid"
                    },
                )
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn orders() -> DedupPlan {
        DedupPlan {
            table: Relation::new("dw", "orders"),
            keys: vec!["order_id".into()],
            columns: vec![
                Column::new("order_id"),
                Column::without_equality("amount"),
                Column::new("data_source"),
                Column::new("updated_at"),
                Column::new("loaded_at"),
            ],
            metadata: vec!["loaded_at".into()],
            change_column: Some("updated_at".into()),
            source_column: Some("data_source".into()),
            keep: Keep::Latest("updated_at".into()),
            partitioned: false,
        }
    }

    #[test]
    fn ranks_every_key_with_the_keep_order() {
        let sql = orders().find_duplicates();
        // The table is sorted by the key only; the copies of duplicated keys leave the pass
        // and are ranked among themselves.
        assert!(
            sql.contains("pg_catalog.count(*) OVER (PARTITION BY t.\"order_id\") AS insync_copies"),
            "{sql}"
        );
        assert!(sql.contains("WHERE r.insync_copies > 1"), "{sql}");
        assert!(sql.contains(
            "pg_catalog.row_number() OVER (PARTITION BY r.\"order_id\" ORDER BY x.\"insync_c_3\" DESC NULLS LAST, r.insync_ctid DESC) AS insync_rank"
        ), "{sql}");
        assert!(sql.contains("WHERE t.\"order_id\" IS NOT NULL"), "{sql}");
    }

    #[test]
    fn diagnoses_causes_in_order() {
        let sql = orders().find_duplicates();
        assert!(
            sql.contains(
                "CASE WHEN g.differing <@ ARRAY['loaded_at']::text[] THEN 'identical' \
             WHEN 'data_source' = ANY (g.differing) THEN 'multi_source' \
             WHEN 'updated_at' = ANY (g.differing) THEN 'versions' ELSE 'distinct_rows' END"
            ),
            "{sql}"
        );
        // Keys are never compared; the other columns are read flat from the TID lookup.
        assert!(!sql.contains("THEN 'order_id'"), "{sql}");
        assert!(sql.contains("t.\"amount\" AS \"insync_c_1\""), "{sql}");
        assert!(sql.contains(
            "CASE WHEN min(d.\"insync_c_1\"::text COLLATE \"C\") <> max(d.\"insync_c_1\"::text COLLATE \"C\") \
             OR count(d.\"insync_c_1\") NOT IN (0, count(*)) THEN 'amount' END"
        ), "{sql}");
        assert!(
            sql.contains(
                "CASE WHEN min(d.\"insync_c_3\") <> max(d.\"insync_c_3\") \
             OR count(d.\"insync_c_3\") NOT IN (0, count(*)) THEN 'updated_at' END"
            ),
            "{sql}"
        );
    }

    #[test]
    fn without_hints_every_payload_difference_is_a_distinct_row() {
        let mut plan = orders();
        plan.change_column = None;
        plan.source_column = None;
        plan.metadata.clear();
        let sql = plan.summary();
        assert!(sql.contains("CASE WHEN g.differing <@ ARRAY[]::text[] THEN 'identical' ELSE 'distinct_rows' END"), "{sql}");
    }

    #[test]
    fn keep_policies() {
        let mut plan = orders();
        plan.keep = Keep::First(None);
        assert!(plan
            .find_duplicates()
            .contains("ORDER BY r.insync_ctid) AS insync_rank"));
        plan.keep = Keep::SourceOrder {
            column: "data_source".into(),
            order: vec!["oracle".into(), "my'sql".into()],
            then_latest: Some("updated_at".into()),
        };
        let sql = plan.find_duplicates();
        assert!(sql.contains(
            "ORDER BY pg_catalog.array_position(ARRAY['oracle', 'my''sql']::text[], x.\"insync_c_2\"::text) NULLS LAST, \
             x.\"insync_c_3\" DESC NULLS LAST, r.insync_ctid DESC) AS insync_rank"
        ), "{sql}");
    }

    #[test]
    fn dedup_quarantines_in_the_same_statement_and_honours_dry_run() {
        let sql = orders().dedup(false);
        // The removed rows' images come from the delete itself: no whole-row copy is carried.
        assert!(sql.contains("removed AS (DELETE FROM \"dw\".\"orders\" t USING victims v \
                       WHERE t.ctid = ANY (ARRAY(SELECT v.insync_ctid FROM victims v)) AND t.ctid = v.insync_ctid \
                       RETURNING v.key, v.cause, pg_catalog.row_to_json(t) AS row_data)"), "{sql}");
        assert!(!sql.contains("insync_row"), "{sql}");
        let mut partitioned = orders();
        partitioned.partitioned = true;
        let sql_p = partitioned.dedup(false);
        assert!(
            sql_p.contains("AND t.ctid = v.insync_ctid AND t.tableoid = v.insync_tableoid"),
            "{sql_p}"
        );
        assert!(
            sql_p.contains(
                "WHERE t.ctid = r.insync_ctid AND t.tableoid = r.insync_tableoid OFFSET 0"
            ),
            "{sql_p}"
        );
        let dry = orders().dedup(true);
        assert!(!dry.contains("DELETE") && !dry.contains("INSERT"), "{dry}");
        assert!(sql.contains("INSERT INTO insync.quarantine (batch_id, table_oid, table_name, key, row_data, reason, removed_by)"), "{sql}");
        assert!(
            sql.contains("$4::pg_catalog.oid::pg_catalog.regclass, 'dw.orders'"),
            "{sql}"
        );
        assert!(
            sql.contains("WHERE d.insync_rank > 1 AND (g.cause <> 'distinct_rows' OR $2::bool)"),
            "{sql}"
        );
    }
}
