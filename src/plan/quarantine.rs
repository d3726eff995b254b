//! Pure planning for `restore_quarantine`: undo a dedup or remap batch. Rows a batch changed
//! in place are found by their after-image and removed; then every before-image goes back.

use super::{quote_ident, Relation};

/// The role a quarantine row is written in the name of: the caller that opened the batch
/// (`batch` and `table` are the statement's parameters for the batch id and the table OID).
pub fn batch_opener(batch: &str, table: &str) -> String {
    format!(
        "(SELECT b.opened_by FROM insync.quarantine_batches b \
           WHERE b.batch_id OPERATOR(pg_catalog.=) {batch}::pg_catalog.int8 \
             AND b.table_oid OPERATOR(pg_catalog.=) {table}::pg_catalog.oid::pg_catalog.regclass)"
    )
}

/// Deletes the rows a batch left behind (`$1` = batch id, `$2` = the table's OID): rows a merge rewrote, found by
/// their after-image, and rows a remap changed in one column, found by everything else.
/// Returns how many rows the batch recorded and how many matched, so the caller can refuse an
/// undo that would not be exact (rows changed since, or ambiguous copies).
pub fn remove_after_images(table: &Relation) -> String {
    format!(
        "WITH rewritten AS (SELECT DISTINCT q.after_data::text AS image FROM insync.quarantine q \
                             WHERE q.batch_id = $1 AND q.table_oid = $2::pg_catalog.oid::pg_catalog.regclass \
                               AND q.restored_at IS NULL AND q.after_data IS NOT NULL AND q.row_keys IS NULL), \
              remapped AS (SELECT q.row_data::jsonb - q.changed_column AS image, q.changed_column AS col \
                             FROM insync.quarantine q \
                            WHERE q.batch_id = $1 AND q.table_oid = $2::pg_catalog.oid::pg_catalog.regclass \
                              AND q.restored_at IS NULL AND q.changed_column IS NOT NULL AND q.row_keys IS NULL), \
              gone AS (DELETE FROM {t} t \
                        WHERE pg_catalog.row_to_json(t)::text IN (SELECT image FROM rewritten) \
                           OR (pg_catalog.to_jsonb(t) - (SELECT min(col) FROM remapped)) IN (SELECT image FROM remapped) \
                       RETURNING 1) \
         SELECT (SELECT pg_catalog.count(*) FROM rewritten) + (SELECT pg_catalog.count(*) FROM remapped), \
                (SELECT pg_catalog.count(*) FROM gone)",
        t = table.sql()
    )
}

/// Puts a batch's before-images back (`$1` = batch id, `$2` = the table's OID); a row a
/// repair wrote where there was none (`row_data` is JSON `null`) has no before-image.
/// `columns` are the table's insertable (non-generated) columns. Rows are kept as `json`, not
/// `jsonb`, so json values come back byte for byte.
pub fn reinsert_before_images(
    table: &Relation,
    columns: &[String],
    dialect: &super::dialect::Dialect,
) -> String {
    let cols = columns
        .iter()
        .map(|c| quote_ident(c))
        .collect::<Vec<_>>()
        .join(", ");
    let from_record = columns
        .iter()
        .map(|c| format!("r.{}", quote_ident(c)))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "INSERT INTO {t} ({cols}){overriding} SELECT {from_record} \
           FROM insync.quarantine q, pg_catalog.json_populate_record(NULL::{t}, q.row_data) r \
          WHERE q.batch_id = $1 AND q.table_oid = $2::pg_catalog.oid::pg_catalog.regclass AND q.restored_at IS NULL \
            AND q.row_keys IS NULL AND pg_catalog.json_typeof(q.row_data) <> 'null'",
        t = table.sql(),
        // Identity columns get their old values back (kernels without them have no clause).
        overriding = if dialect.identity_columns {
            " OVERRIDING SYSTEM VALUE"
        } else {
            ""
        },
    )
}

/// Puts back the old value of `column` in the rows a plain remap changed, found by their
/// row key (`$1` = batch id, `$2` = the table's OID). A row changed twice in the batch gets
/// its first old value, and only if `column` still holds the batch's last new value.
/// Returns how many rows the batch recorded and how many were put back.
pub fn restore_remapped_values(table: &Relation, column: &str, row_key: &[String]) -> String {
    let keys = |alias: &str| {
        row_key
            .iter()
            .map(|k| format!("{alias}.{}", quote_ident(k)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let same = |a: &str, b: &str| {
        row_key
            .iter()
            .map(|k| format!("{a}.{q} = {b}.{q}", q = quote_ident(k)))
            .collect::<Vec<_>>()
            .join(" AND ")
    };
    // Each element of row_keys is the key's value, or an array of them for several columns.
    let named = if row_key.len() == 1 {
        format!("{}, x.insync_k", super::quote_literal(&row_key[0]))
    } else {
        row_key
            .iter()
            .enumerate()
            .map(|(i, k)| format!("{}, x.insync_k -> {i}", super::quote_literal(k)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let col = quote_ident(column);
    format!(
        "WITH entries AS (SELECT q.quarantine_id AS insync_qid, {k_keys}, r.{col} AS insync_before, a.{col} AS insync_after \
                            FROM insync.quarantine q \
                            CROSS JOIN LATERAL pg_catalog.json_array_elements(q.row_keys) x(insync_k) \
                            CROSS JOIN LATERAL pg_catalog.json_populate_record(NULL::{t}, pg_catalog.json_build_object({named})) k \
                            CROSS JOIN LATERAL pg_catalog.json_populate_record(NULL::{t}, q.row_data) r \
                            CROSS JOIN LATERAL pg_catalog.json_populate_record(NULL::{t}, q.after_data) a \
                           WHERE q.batch_id = $1 AND q.table_oid = $2::pg_catalog.oid::pg_catalog.regclass \
                             AND q.restored_at IS NULL AND q.row_keys IS NOT NULL \
                             AND q.changed_column = {col_literal} AND q.row_key_columns = {key_columns}), \
              firsts AS MATERIALIZED (SELECT DISTINCT ON ({e_keys}) {e_keys}, e.insync_before FROM entries e ORDER BY {e_keys}, e.insync_qid), \
              lasts AS MATERIALIZED (SELECT DISTINCT ON ({e_keys}) {e_keys}, e.insync_after FROM entries e ORDER BY {e_keys}, e.insync_qid DESC), \
              undone AS (UPDATE {t} t SET {col} = f.insync_before FROM firsts f JOIN lasts l ON {same_fl} \
                          WHERE {same_tf} AND t.{col} IS NOT DISTINCT FROM l.insync_after RETURNING 1) \
         SELECT (SELECT pg_catalog.count(*) FROM firsts), (SELECT pg_catalog.count(*) FROM undone)",
        t = table.sql(),
        k_keys = keys("k"),
        e_keys = keys("e"),
        same_fl = same("l", "f"),
        same_tf = same("t", "f"),
        col_literal = super::quote_literal(column),
        key_columns = super::text_array(row_key),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn after_images_are_matched_by_their_json_text() {
        let sql = remove_after_images(&Relation::new("dw", "sales"));
        assert!(sql.contains("DELETE FROM \"dw\".\"sales\" t WHERE pg_catalog.row_to_json(t)::text IN (SELECT image FROM rewritten)"), "{sql}");
        assert!(sql.contains("q.after_data IS NOT NULL"), "{sql}");
        assert!(sql.contains("q.row_keys IS NULL"), "{sql}");
        // A remapped row is found by every column but the one the remap changed.
        assert!(sql.contains("(pg_catalog.to_jsonb(t) - (SELECT min(col) FROM remapped)) IN (SELECT image FROM remapped)"), "{sql}");
    }

    #[test]
    fn before_images_come_back_as_the_table_row_type() {
        let sql = reinsert_before_images(
            &Relation::new("dw", "orders"),
            &["order_id".into(), "amount".into()],
            &crate::plan::dialect::Dialect::postgres(150000),
        );
        assert_eq!(
            sql,
            "INSERT INTO \"dw\".\"orders\" (\"order_id\", \"amount\") OVERRIDING SYSTEM VALUE SELECT r.\"order_id\", r.\"amount\" \
               FROM insync.quarantine q, pg_catalog.json_populate_record(NULL::\"dw\".\"orders\", q.row_data) r \
              WHERE q.batch_id = $1 AND q.table_oid = $2::pg_catalog.oid::pg_catalog.regclass AND q.restored_at IS NULL \
                AND q.row_keys IS NULL AND pg_catalog.json_typeof(q.row_data) <> 'null'"
        );
    }

    #[test]
    fn slim_remaps_are_undone_by_row_key_where_the_new_value_still_stands() {
        let sql = restore_remapped_values(
            &Relation::new("dw", "sales"),
            "store_org_id",
            &["day".into(), "sale_id".into()],
        );
        // Typed through the table's row type; only this column's and key's entries.
        assert!(
            sql.contains(
                "pg_catalog.json_populate_record(NULL::\"dw\".\"sales\", pg_catalog.json_build_object('day', x.insync_k -> 0, 'sale_id', x.insync_k -> 1)) k"
            ),
            "{sql}"
        );
        assert!(sql.contains("q.changed_column = 'store_org_id' AND q.row_key_columns = ARRAY['day', 'sale_id']::pg_catalog.text[]"), "{sql}");
        // First old value, last new value per row.
        assert!(
            sql.contains("ORDER BY e.\"day\", e.\"sale_id\", e.insync_qid),"),
            "{sql}"
        );
        assert!(
            sql.contains("ORDER BY e.\"day\", e.\"sale_id\", e.insync_qid DESC)"),
            "{sql}"
        );
        assert!(sql.contains("UPDATE \"dw\".\"sales\" t SET \"store_org_id\" = f.insync_before FROM firsts f JOIN lasts l \
            ON l.\"day\" = f.\"day\" AND l.\"sale_id\" = f.\"sale_id\" \
            WHERE t.\"day\" = f.\"day\" AND t.\"sale_id\" = f.\"sale_id\" AND t.\"store_org_id\" IS NOT DISTINCT FROM l.insync_after"), "{sql}");
    }

    #[test]
    fn restores_take_one_writer_per_statement_on_every_engine() {
        use crate::plan::dialect::tests::engines;
        use crate::plan::steps::data_modifying_statements;
        let table = Relation::new("dw", "orders");
        for d in engines() {
            let reinsert = reinsert_before_images(&table, &["order_id".into()], &d);
            assert_eq!(
                reinsert.contains("OVERRIDING SYSTEM VALUE"),
                d.identity_columns,
                "{reinsert}"
            );
            for sql in [reinsert, remove_after_images(&table)] {
                assert_eq!(data_modifying_statements(&sql), 1, "{sql}");
                assert!(!sql.contains("ctid"), "{sql}");
            }
        }
    }
}
