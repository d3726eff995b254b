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
                               AND q.restored_at IS NULL AND q.after_data IS NOT NULL), \
              remapped AS (SELECT q.row_data::jsonb - q.changed_column AS image, q.changed_column AS col \
                             FROM insync.quarantine q \
                            WHERE q.batch_id = $1 AND q.table_oid = $2::pg_catalog.oid::pg_catalog.regclass \
                              AND q.restored_at IS NULL AND q.changed_column IS NOT NULL), \
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
pub fn reinsert_before_images(table: &Relation, columns: &[String]) -> String {
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
        "INSERT INTO {t} ({cols}) OVERRIDING SYSTEM VALUE SELECT {from_record} \
           FROM insync.quarantine q, pg_catalog.json_populate_record(NULL::{t}, q.row_data) r \
          WHERE q.batch_id = $1 AND q.table_oid = $2::pg_catalog.oid::pg_catalog.regclass AND q.restored_at IS NULL \
            AND pg_catalog.json_typeof(q.row_data) <> 'null'",
        t = table.sql()
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
        // A remapped row is found by every column but the one the remap changed.
        assert!(sql.contains("(pg_catalog.to_jsonb(t) - (SELECT min(col) FROM remapped)) IN (SELECT image FROM remapped)"), "{sql}");
    }

    #[test]
    fn before_images_come_back_as_the_table_row_type() {
        let sql = reinsert_before_images(
            &Relation::new("dw", "orders"),
            &["order_id".into(), "amount".into()],
        );
        assert_eq!(
            sql,
            "INSERT INTO \"dw\".\"orders\" (\"order_id\", \"amount\") OVERRIDING SYSTEM VALUE SELECT r.\"order_id\", r.\"amount\" \
               FROM insync.quarantine q, pg_catalog.json_populate_record(NULL::\"dw\".\"orders\", q.row_data) r \
              WHERE q.batch_id = $1 AND q.table_oid = $2::pg_catalog.oid::pg_catalog.regclass AND q.restored_at IS NULL \
            AND pg_catalog.json_typeof(q.row_data) <> 'null'"
        );
    }
}
