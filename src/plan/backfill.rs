//! Backfill batches: a job's first load in ranges of its key, each merged and committed on its
//! own (see `crate::backfill`). A batch is the key range `(after, upto]`, whose bounds travel
//! as parameters typed like the key columns. The next bound is found by a probe that reads the
//! batch size's worth of keys in key order (an index scan of the source's key), and the batch
//! merges the rows of its range with the job's ordinary merge statement (the range restricts
//! the source as a segment's slice does). Ranges never overlap, so a batch that was rolled back
//! (cancel, crash) is merged again as if it never ran; the last batch is open-ended, so rows
//! added beyond the last key while the backfill ran are in it too.

use super::segment::Slice;
use super::{ident_list, RunKind, SyncPlan, Window};
use serde::{Deserialize, Serialize};

/// The key range of one batch. Its bounds are parameters `$first_param...`: the key values of
/// `after` (exclusive) if given, then those of `upto` (inclusive) if given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRange {
    pub first_param: u32,
    /// Keys after the previous batch's bound (absent for the first batch).
    pub after: bool,
    /// Keys up to this batch's bound (absent for the last, open-ended batch).
    pub upto: bool,
}

impl KeyRange {
    /// The range as a predicate over the source's bare key columns (`None`: every key). A key
    /// of several columns compares as a row, in the order of the key (which a B-tree index on
    /// those columns serves); a key with a NULL is in no range.
    pub fn predicate(&self, keys: &[String]) -> Option<String> {
        self.predicate_with(keys, true)
    }

    /// The bounds alone (`nulls`: the last range also holds keys with a NULL).
    fn predicate_with(&self, keys: &[String], nulls: bool) -> Option<String> {
        let n = keys.len() as u32;
        let columns = row_of(keys.iter().map(|k| super::quote_ident(k)).collect());
        let params = |first: u32| row_of((first..first + n).map(|i| format!("${i}")).collect());
        let mut parts = Vec::new();
        let mut next = self.first_param;
        if self.after && !self.upto && nulls {
            // The last range also holds the keys with a NULL, which the batch counts (and
            // fails on, as a run does) rather than leaving them out unseen.
            let nulls = keys
                .iter()
                .map(|k| format!("{} IS NULL", super::quote_ident(k)))
                .collect::<Vec<_>>()
                .join(" OR ");
            parts.push(format!("({columns} > {} OR {nulls})", params(next)));
        } else if self.after {
            parts.push(format!("{columns} > {}", params(next)));
            next += n;
        }
        if self.upto {
            parts.push(format!("{columns} <= {}", params(next)));
        }
        (!parts.is_empty()).then(|| parts.join(" AND "))
    }

    /// Short description (as `insync.segments` would show a slice).
    pub fn describe(&self, keys: &[String]) -> String {
        fn bound(given: bool, what: &'static str) -> &'static str {
            if given {
                what
            } else {
                ""
            }
        }
        format!(
            "key range of ({}){}{}",
            ident_list(keys, None),
            bound(self.after, " after the previous batch"),
            bound(self.upto, " up to this batch's bound")
        )
    }
}

/// `x` for one element, `ROW(x, y)` for several.
fn row_of(items: Vec<String>) -> String {
    if items.len() == 1 {
        items.into_iter().next().unwrap_or_default()
    } else {
        format!("ROW({})", items.join(", "))
    }
}

/// The number of the first key parameter of a batch's merge: after the window's bounds
/// (`$1`, `$2`, see `window::WindowBounds`), or `$1` when the batch reads everything.
pub fn first_key_param(window: Window) -> u32 {
    if window == Window::Everything {
        1
    } else {
        3
    }
}

impl SyncPlan {
    /// The upper bound of the next batch: the key of the `batch`-th source row in key order
    /// (after `$1...`, the previous bound, when `after`), as a JSON array of the key's values.
    /// No row when fewer keys are left: the batch is then the last, open-ended one. Reads the
    /// source's keys only (no filter, no window: a range may hold fewer rows to merge than
    /// the batch size, never more keys).
    pub fn backfill_next_bound(&self, after: bool, batch: u64) -> String {
        let range = KeyRange {
            first_param: 1,
            after,
            upto: false,
        };
        let keys = ident_list(&self.keys, None);
        // A key with a NULL is in no range (and a filter may be what keeps it out of the job).
        let condition = std::iter::once(format!("NOT ({})", self.any_key_null_bare()))
            .chain(range.predicate_with(&self.keys, false))
            .collect::<Vec<_>>()
            .join(" AND ");
        // The JSON is built for the one row found, not for every key skipped (an index-only
        // scan of the key's index when the source is vacuumed).
        format!(
            "SELECT pg_catalog.jsonb_build_array({keys}) FROM (SELECT {keys} FROM {} WHERE {condition} \
             ORDER BY {keys} OFFSET {} LIMIT 1) b",
            self.source.sql(),
            batch.max(1) - 1
        )
    }

    /// `"a" IS NULL OR "b" IS NULL` over the bare key columns.
    fn any_key_null_bare(&self) -> String {
        self.keys
            .iter()
            .map(|k| format!("{} IS NULL", super::quote_ident(k)))
            .collect::<Vec<_>>()
            .join(" OR ")
    }

    /// One batch's merge: the job's merge statement (incremental or append: a batch never
    /// deletes) over the rows of `range` in `window`; same result columns as
    /// [`SyncPlan::merge_statement`].
    ///
    /// `insert_only`: the target holds no key of the range (see [`SyncPlan::backfill_range_taken`]),
    /// so an upsert target gets a plain INSERT: a first load into an empty table pays for no
    /// conflict handling. A key written into the range meanwhile raises a unique violation (the
    /// batch is then merged again as an upsert).
    pub fn backfill_merge_statement(
        &self,
        kind: RunKind,
        window: Window,
        range: KeyRange,
        insert_only: bool,
    ) -> String {
        let kind = if kind == RunKind::Full {
            RunKind::Incremental
        } else {
            kind
        };
        self.merge_statement_of(
            kind,
            window,
            Some(&Slice::KeyRange(range)),
            None,
            true,
            insert_only,
        )
    }

    /// Whether the target already holds a key of `range` (its bounds from `$1`): an index
    /// probe on the target's key.
    pub fn backfill_range_taken(&self, range: KeyRange) -> String {
        let range = KeyRange {
            first_param: 1,
            ..range
        };
        match range.predicate_with(&self.keys, false) {
            Some(p) => format!(
                "SELECT EXISTS (SELECT FROM {} WHERE {p})",
                self.target.sql()
            ),
            None => format!("SELECT EXISTS (SELECT FROM {})", self.target.sql()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::tests::customer_plan;
    use crate::plan::{Column, MergeStrategy};

    fn composite_plan() -> SyncPlan {
        let mut plan = customer_plan();
        plan.keys = vec!["tenant".into(), "customer_id".into()];
        plan.columns.insert(0, Column::new("tenant"));
        plan
    }

    #[test]
    fn a_single_key_range_is_a_plain_comparison() {
        let keys = customer_plan().keys;
        let middle = KeyRange {
            first_param: 3,
            after: true,
            upto: true,
        };
        assert_eq!(
            middle.predicate(&keys).unwrap(),
            "\"customer_id\" > $3 AND \"customer_id\" <= $4"
        );
        let first = KeyRange {
            first_param: 1,
            after: false,
            upto: true,
        };
        assert_eq!(first.predicate(&keys).unwrap(), "\"customer_id\" <= $1");
        let last = KeyRange {
            first_param: 3,
            after: true,
            upto: false,
        };
        assert_eq!(
            last.predicate(&keys).unwrap(),
            "(\"customer_id\" > $3 OR \"customer_id\" IS NULL)"
        );
        let everything = KeyRange {
            first_param: 1,
            after: false,
            upto: false,
        };
        assert_eq!(everything.predicate(&keys), None);
    }

    #[test]
    fn a_composite_key_range_compares_rows() {
        let keys = composite_plan().keys;
        let middle = KeyRange {
            first_param: 3,
            after: true,
            upto: true,
        };
        assert_eq!(
            middle.predicate(&keys).unwrap(),
            "ROW(\"tenant\", \"customer_id\") > ROW($3, $4) AND ROW(\"tenant\", \"customer_id\") <= ROW($5, $6)"
        );
        assert!(middle
            .describe(&keys)
            .starts_with("key range of (\"tenant\", \"customer_id\")"));
    }

    #[test]
    fn the_next_bound_reads_keys_in_key_order() {
        assert_eq!(
            customer_plan().backfill_next_bound(false, 1000),
            "SELECT pg_catalog.jsonb_build_array(\"customer_id\") FROM (SELECT \"customer_id\" FROM \"ods\".\"customer\" \
             WHERE NOT (\"customer_id\" IS NULL) ORDER BY \"customer_id\" OFFSET 999 LIMIT 1) b"
        );
        assert_eq!(
            composite_plan().backfill_next_bound(true, 1),
            "SELECT pg_catalog.jsonb_build_array(\"tenant\", \"customer_id\") FROM (SELECT \"tenant\", \"customer_id\" FROM \"ods\".\"customer\" \
             WHERE NOT (\"tenant\" IS NULL OR \"customer_id\" IS NULL) \
             AND ROW(\"tenant\", \"customer_id\") > ROW($1, $2) ORDER BY \"tenant\", \"customer_id\" OFFSET 0 LIMIT 1) b"
        );
    }

    #[test]
    fn a_batch_merges_its_range_of_the_window() {
        let plan = customer_plan();
        let range = KeyRange {
            first_param: first_key_param(Window::UpTo),
            after: true,
            upto: true,
        };
        let sql = plan.backfill_merge_statement(RunKind::Incremental, Window::UpTo, range, false);
        assert!(sql.contains(
            "FROM (SELECT * FROM \"ods\".\"customer\" WHERE \"customer_id\" > $3 AND \"customer_id\" <= $4) s \
             WHERE (s.\"updated_at\" <= $2 OR s.\"updated_at\" IS NULL)"
        ), "{sql}");
        assert!(
            sql.contains("ON CONFLICT (\"customer_id\") DO UPDATE"),
            "{sql}"
        );
        // Never the deletes of a full run.
        let full = plan.backfill_merge_statement(RunKind::Full, Window::Everything, range, false);
        assert!(!full.contains("DELETE"), "{full}");
        assert_eq!(first_key_param(Window::Everything), 1);
    }

    #[test]
    fn a_batch_counts_like_a_serial_run() {
        let mut plan = customer_plan();
        plan.counts_from_table_stats = true;
        let range = KeyRange {
            first_param: 3,
            after: false,
            upto: true,
        };
        let sql = plan.backfill_merge_statement(RunKind::Incremental, Window::UpTo, range, false);
        assert!(!sql.contains("RETURNING"), "{sql}");
        // A filter still applies, beside the range.
        plan.filter = Some("status <> 'void'".into());
        plan.strategy = MergeStrategy::DeleteInsert;
        let sql = plan.backfill_merge_statement(RunKind::Append, Window::UpTo, range, false);
        assert!(
            sql.contains("WHERE \"customer_id\" <= $3 AND (\nstatus <> 'void'\n)) s"),
            "{sql}"
        );
        assert!(!sql.contains("replaced AS"), "{sql}");
    }

    #[test]
    fn a_batch_into_an_empty_range_is_a_plain_insert() {
        let plan = customer_plan();
        let range = KeyRange {
            first_param: 3,
            after: true,
            upto: true,
        };
        let sql = plan.backfill_merge_statement(RunKind::Incremental, Window::UpTo, range, true);
        assert!(!sql.contains("ON CONFLICT"), "{sql}");
        assert!(
            sql.contains("INSERT INTO \"dw\".\"customer\" AS t"),
            "{sql}"
        );
        assert!(sql.contains("count(*) AS read"), "{sql}");
        // Counted off the table's statistics: the range is read once, by the INSERT.
        let mut counted = plan.clone();
        counted.counts_from_table_stats = true;
        let sql = counted.backfill_merge_statement(RunKind::Incremental, Window::UpTo, range, true);
        assert!(!sql.contains("count(*)"), "{sql}");
        assert!(!sql.contains("RETURNING"), "{sql}");
        assert_eq!(
            plan.backfill_range_taken(range),
            "SELECT EXISTS (SELECT FROM \"dw\".\"customer\" WHERE \"customer_id\" > $1 AND \"customer_id\" <= $2)"
        );
    }
}
