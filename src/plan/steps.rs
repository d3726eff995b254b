//! Statement-per-step merges: the window (latest row per key) is staged in a temporary table,
//! then each change is one statement with one writer, all in the run's transaction.
//!
//! Every Greenplum-family engine allows one data-modifying statement per query, so there this
//! is how every run merges. On PostgreSQL it is selectable (`insync.plan_style =
//! 'statement_per_step'`), so its semantics are tested for real here: the target rows and the
//! run's counts are the same as the one-statement merge's.
//!
//! The steps, each counted by the rows it processed:
//! 1. fill the staged window (rows read), then refuse NULL keys before anything is written;
//! 2. upsert targets (`ON CONFLICT` allowed by engine and access method): count the staged keys
//!    the target already has (a read), then one `INSERT ... ON CONFLICT DO UPDATE ... WHERE the
//!    payload differs`: the staged keys the target lacked are the inserted rows, the rest of what
//!    it processed the updated ones;
//!    otherwise delete the rows whose payload differs (updated), insert the staged rows whose
//!    key the target now lacks (written: inserted = written - updated);
//! 3. full runs: delete the target rows whose key is not staged (deleted).
//!
//! No step ever assigns a key column, and a target whose distribution key is not within the
//! job key is merged by delete+insert (see `resolve`), so no distribution-key column is ever
//! updated in place.

use super::{quote_ident, MergeStrategy, RunKind, SyncPlan, Window};

/// The staged window's name in `pg_temp` (created and dropped by each run).
pub const STAGE_NAME: &str = "insync_run_window";

/// What a step's processed-row count is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    /// A read returning one count: staged keys the target has before the upsert.
    Existing,
    /// Inserted plus updated rows of an upsert: the staged keys the target lacked were inserted.
    Upserted,
    /// Target rows updated in place, or deleted to be written again.
    Updated,
    /// Rows inserted for keys the target lacked.
    Inserted,
    /// Rows inserted after their key's old row was deleted, plus new keys (delete+insert).
    Written,
    /// Target rows whose key left the source (full runs).
    Deleted,
}

/// One data-modifying statement and what its count means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub sql: String,
    pub counts: Counter,
}

/// A run's statement-per-step merge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepPlan {
    /// Creates the empty staging table (insync's own DDL: column types only, no user code).
    pub create: String,
    /// Fills it with the window (`$1`, `$2` = bounds as for the one-statement merge); its
    /// processed rows are the rows read.
    pub fill: String,
    /// Statistics for the steps' plans (a fresh temporary table has none).
    pub analyze: String,
    /// Counts staged rows with a NULL key (the run must fail before writing).
    pub null_keys: String,
    /// The writes, in order.
    pub writes: Vec<Step>,
    /// Drops the staging table.
    pub drop: String,
}

impl SyncPlan {
    fn stage(&self) -> String {
        format!("pg_temp.{}", quote_ident(STAGE_NAME))
    }

    /// The staging table's distribution on MPP engines: the target's distribution key when the
    /// staged rows carry it (the steps' joins then stay on each segment), else the job key.
    fn stage_distribution(&self) -> super::dialect::Distribution {
        use super::dialect::Distribution;
        let target_cols = self.target_storage.distribution.columns();
        let staged = |c: &String| self.columns.iter().any(|col| &col.name == c);
        if !target_cols.is_empty() && target_cols.iter().all(staged) {
            Distribution::Hash(target_cols.to_vec())
        } else {
            Distribution::Hash(self.keys.clone())
        }
    }

    /// The statement-per-step merge of a run (see the module documentation).
    pub fn steps(&self, kind: RunKind, window: Window) -> StepPlan {
        let target = self.target.sql();
        let stage = self.stage();
        let cols = self.column_list(None);
        let stage_cols = self.column_list(Some("s"));
        let definitions = self
            .columns
            .iter()
            .map(|c| {
                format!(
                    "{} {}",
                    quote_ident(&c.name),
                    c.sql_type
                        .as_deref()
                        .expect("resolve gives every copied column its type")
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        let create = format!(
            "CREATE TEMPORARY TABLE {} ({definitions}) ON COMMIT DROP{}",
            quote_ident(STAGE_NAME),
            self.dialect.distributed(&self.stage_distribution())
        );
        let fill = format!("INSERT INTO {stage} ({cols}) {}", self.source_rows(window));
        let keys_not_null = format!("NOT ({})", self.any_key_null("s"));
        let key_absent = format!(
            "NOT EXISTS (SELECT 1 FROM {target} o WHERE {})",
            self.keys_match("o", "s")
        );
        let mut writes = Vec::new();
        let has_payload = self.non_key_columns().next().is_some();
        match self.strategy {
            MergeStrategy::Upsert => {
                let conflict = self.conflict_action(kind);
                let updates = conflict.starts_with("DO UPDATE");
                if updates {
                    writes.push(Step {
                        sql: format!(
                            "SELECT pg_catalog.count(*) FROM {stage} s WHERE EXISTS (SELECT 1 FROM {target} o WHERE {})",
                            self.keys_match("o", "s")
                        ),
                        counts: Counter::Existing,
                    });
                }
                writes.push(Step {
                    sql: format!(
                        "INSERT INTO {target} AS t ({cols}) SELECT {stage_cols} FROM {stage} s \
                         WHERE {keys_not_null} ON CONFLICT ({}) {conflict}",
                        self.key_list(None),
                    ),
                    counts: if updates {
                        Counter::Upserted
                    } else {
                        Counter::Inserted
                    },
                });
            }
            MergeStrategy::DeleteInsert => {
                let counts = if kind != RunKind::Append && has_payload {
                    writes.push(Step {
                        sql: format!(
                            "DELETE FROM {target} t USING {stage} s WHERE {} AND {}",
                            self.keys_match("t", "s"),
                            self.payload_differs("t", "s")
                        ),
                        counts: Counter::Updated,
                    });
                    Counter::Written
                } else {
                    Counter::Inserted
                };
                writes.push(Step {
                    sql: format!(
                        "INSERT INTO {target} ({cols}) SELECT {stage_cols} FROM {stage} s \
                         WHERE {keys_not_null} AND {key_absent}"
                    ),
                    counts,
                });
            }
        }
        if kind == RunKind::Full {
            writes.push(Step {
                sql: format!(
                    "DELETE FROM {target} t WHERE NOT EXISTS (SELECT 1 FROM {stage} s WHERE {})",
                    self.keys_match("s", "t")
                ),
                counts: Counter::Deleted,
            });
        }
        StepPlan {
            create,
            fill,
            analyze: format!("ANALYZE {stage}"),
            null_keys: format!(
                "SELECT pg_catalog.count(*) FROM {stage} s WHERE {}",
                self.any_key_null("s")
            ),
            writes,
            drop: format!("DROP TABLE {stage}"),
        }
    }
}

/// Counts of a step run, from each statement's processed rows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StepCounts {
    /// Staged rows (none has a NULL key once the writes run).
    pub read: i64,
    /// Staged keys the target had before the upsert.
    pub existing: i64,
    pub updated: i64,
    pub inserted: i64,
    pub deleted: i64,
}

impl StepCounts {
    /// Adds one step's processed rows (for [`Counter::Existing`], the count it returned).
    pub fn add(&mut self, counter: Counter, processed: i64) {
        match counter {
            Counter::Existing => self.existing += processed,
            Counter::Upserted => {
                // A key a concurrent transaction inserted meanwhile may be left alone: never
                // count more inserts than rows processed.
                let inserted = (self.read - self.existing).clamp(0, processed);
                self.inserted += inserted;
                self.updated += processed - inserted;
            }
            Counter::Updated => self.updated += processed,
            Counter::Inserted => self.inserted += processed,
            // Each replaced row is written again: the rest are new keys.
            Counter::Written => self.inserted += processed - self.updated,
            Counter::Deleted => self.deleted += processed,
        }
    }
}

/// Statements in `sql` that modify data (INSERT, UPDATE, DELETE, MERGE at the top level or
/// in a CTE): what the one-writer-per-statement engines limit to 1. A scan for the keywords
/// outside quoted identifiers and literals, for tests of generated SQL; `DO UPDATE` (part of
/// an INSERT) and `FOR [NO KEY] UPDATE` (a row lock) are not statements.
pub fn data_modifying_statements(sql: &str) -> usize {
    let mut words: Vec<String> = Vec::new();
    let mut word = String::new();
    let mut chars = sql.chars().peekable();
    let flush = |word: &mut String, words: &mut Vec<String>| {
        if !word.is_empty() {
            words.push(word.to_ascii_uppercase());
            word.clear();
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '"' | '\'' => {
                flush(&mut word, &mut words);
                // Skip the quoted text (a doubled quote stays inside); it stands for one word.
                while let Some(d) = chars.next() {
                    if d == c {
                        if chars.peek() == Some(&c) {
                            chars.next();
                        } else {
                            break;
                        }
                    }
                }
                words.push(String::new());
            }
            c if c.is_ascii_alphanumeric() || c == '_' => word.push(c),
            _ => flush(&mut word, &mut words),
        }
    }
    flush(&mut word, &mut words);
    words
        .iter()
        .enumerate()
        .filter(|(i, w)| {
            let before = i.checked_sub(1).map(|j| words[j].as_str());
            match w.as_str() {
                "INSERT" | "DELETE" | "MERGE" => true,
                "UPDATE" => !matches!(before, Some("DO" | "FOR" | "KEY")),
                _ => false,
            }
        })
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::dialect::{Dialect, Distribution, Storage};
    use crate::plan::tests::customer_plan;
    use crate::plan::Column;

    fn delete_insert() -> SyncPlan {
        let mut plan = customer_plan();
        plan.strategy = MergeStrategy::DeleteInsert;
        plan
    }

    #[test]
    fn the_window_is_staged_with_the_target_types() {
        let steps = customer_plan().steps(RunKind::Incremental, Window::Range);
        assert_eq!(
            steps.create,
            "CREATE TEMPORARY TABLE \"insync_run_window\" (\"customer_id\" integer, \"name\" text, \
             \"updated_at\" timestamp with time zone) ON COMMIT DROP"
        );
        assert_eq!(
            steps.fill,
            "INSERT INTO pg_temp.\"insync_run_window\" (\"customer_id\", \"name\", \"updated_at\") \
             SELECT s.\"customer_id\", s.\"name\", s.\"updated_at\" FROM \"ods\".\"customer\" s \
             WHERE s.\"updated_at\" > $1 AND s.\"updated_at\" <= $2"
        );
        assert_eq!(steps.analyze, "ANALYZE pg_temp.\"insync_run_window\"");
        assert_eq!(
            steps.null_keys,
            "SELECT pg_catalog.count(*) FROM pg_temp.\"insync_run_window\" s WHERE s.\"customer_id\" IS NULL"
        );
        assert_eq!(steps.drop, "DROP TABLE pg_temp.\"insync_run_window\"");
        // The latest row per key is what gets staged.
        let mut plan = customer_plan();
        plan.source_key_unique = false;
        let fill = plan.steps(RunKind::Incremental, Window::Range).fill;
        assert!(
            fill.contains("SELECT DISTINCT ON (s.\"customer_id\")"),
            "{fill}"
        );
    }

    #[test]
    fn upsert_counts_existing_keys_then_upserts_in_one_statement() {
        let steps = customer_plan().steps(RunKind::Incremental, Window::Range);
        assert_eq!(
            steps.writes,
            vec![
                Step {
                    sql: "SELECT pg_catalog.count(*) FROM pg_temp.\"insync_run_window\" s WHERE EXISTS \
                          (SELECT 1 FROM \"dw\".\"customer\" o WHERE o.\"customer_id\" = s.\"customer_id\")"
                        .into(),
                    counts: Counter::Existing,
                },
                Step {
                    sql: "INSERT INTO \"dw\".\"customer\" AS t (\"customer_id\", \"name\", \"updated_at\") \
                          SELECT s.\"customer_id\", s.\"name\", s.\"updated_at\" FROM pg_temp.\"insync_run_window\" s \
                          WHERE NOT (s.\"customer_id\" IS NULL) ON CONFLICT (\"customer_id\") DO UPDATE SET \
                          \"name\" = EXCLUDED.\"name\", \"updated_at\" = EXCLUDED.\"updated_at\" \
                          WHERE ROW(t.\"name\", t.\"updated_at\") IS DISTINCT FROM ROW(EXCLUDED.\"name\", EXCLUDED.\"updated_at\")"
                        .into(),
                    counts: Counter::Upserted,
                },
            ]
        );
        // 10 staged, 7 of them already there, 5 rows processed: 3 inserted, 2 updated.
        let mut counts = StepCounts {
            read: 10,
            ..Default::default()
        };
        counts.add(Counter::Existing, 7);
        counts.add(Counter::Upserted, 5);
        assert_eq!((counts.inserted, counts.updated), (3, 2));
        let append = customer_plan().steps(RunKind::Append, Window::Range);
        assert_eq!(append.writes.len(), 1);
        assert_eq!(append.writes[0].counts, Counter::Inserted);
        assert!(append.writes[0]
            .sql
            .ends_with("ON CONFLICT (\"customer_id\") DO NOTHING"));
    }

    #[test]
    fn delete_insert_replaces_changed_rows_and_counts_what_it_wrote() {
        let steps = delete_insert().steps(RunKind::Incremental, Window::Range);
        assert_eq!(
            steps.writes[0].sql,
            "DELETE FROM \"dw\".\"customer\" t USING pg_temp.\"insync_run_window\" s \
             WHERE t.\"customer_id\" = s.\"customer_id\" \
             AND ROW(t.\"name\", t.\"updated_at\") IS DISTINCT FROM ROW(s.\"name\", s.\"updated_at\")"
        );
        assert_eq!(
            steps.writes[1],
            Step {
                sql: "INSERT INTO \"dw\".\"customer\" (\"customer_id\", \"name\", \"updated_at\") \
                      SELECT s.\"customer_id\", s.\"name\", s.\"updated_at\" FROM pg_temp.\"insync_run_window\" s \
                      WHERE NOT (s.\"customer_id\" IS NULL) AND NOT EXISTS (SELECT 1 FROM \"dw\".\"customer\" o \
                      WHERE o.\"customer_id\" = s.\"customer_id\")"
                    .into(),
                counts: Counter::Written,
            }
        );
        assert!(steps.writes.iter().all(|s| !s.sql.contains("ON CONFLICT")));
        let mut counts = StepCounts::default();
        counts.add(Counter::Updated, 3);
        counts.add(Counter::Written, 10);
        assert_eq!((counts.updated, counts.inserted), (3, 7));
        let append = delete_insert().steps(RunKind::Append, Window::Range);
        assert_eq!(append.writes.len(), 1);
        assert_eq!(append.writes[0].counts, Counter::Inserted);
    }

    #[test]
    fn full_runs_delete_missing_keys_in_a_step_of_their_own() {
        for plan in [customer_plan(), delete_insert()] {
            let steps = plan.steps(RunKind::Full, Window::Everything);
            let last = steps.writes.last().unwrap();
            assert_eq!(
                last,
                &Step {
                    sql: "DELETE FROM \"dw\".\"customer\" t WHERE NOT EXISTS (SELECT 1 FROM \
                          pg_temp.\"insync_run_window\" s WHERE s.\"customer_id\" = t.\"customer_id\")"
                        .into(),
                    counts: Counter::Deleted,
                }
            );
            assert!(!steps.fill.contains("WHERE"), "{}", steps.fill);
        }
    }

    #[test]
    fn key_only_targets_only_insert() {
        let mut plan = customer_plan();
        plan.columns = vec![Column::new("customer_id").typed("integer")];
        for strategy in [MergeStrategy::Upsert, MergeStrategy::DeleteInsert] {
            plan.strategy = strategy;
            let steps = plan.steps(RunKind::Incremental, Window::Range);
            assert_eq!(steps.writes.len(), 1, "{:?}", steps.writes);
            assert_eq!(steps.writes[0].counts, Counter::Inserted);
        }
    }

    #[test]
    fn on_mpp_the_stage_is_distributed_like_the_target() {
        let mut plan = customer_plan();
        plan.dialect = Dialect::from_catalog(120012, true, 4);
        plan.target_storage = Storage {
            access_method: "heap".into(),
            distribution: Distribution::Hash(vec!["customer_id".into()]),
        };
        let create = plan.steps(RunKind::Incremental, Window::Range).create;
        assert!(
            create.ends_with("ON COMMIT DROP DISTRIBUTED BY (\"customer_id\")"),
            "{create}"
        );
        // A distribution column the job does not copy cannot distribute the stage: the key does.
        plan.target_storage.distribution = Distribution::Hash(vec!["region".into()]);
        let create = plan.steps(RunKind::Incremental, Window::Range).create;
        assert!(
            create.ends_with("DISTRIBUTED BY (\"customer_id\")"),
            "{create}"
        );
    }

    #[test]
    fn data_modifying_statements_are_counted_outside_quotes() {
        assert_eq!(
            data_modifying_statements("SELECT 'DELETE' AS \"update\""),
            0
        );
        assert_eq!(
            data_modifying_statements(
                "WITH a AS (DELETE FROM t RETURNING 1) INSERT INTO u SELECT * FROM a"
            ),
            2
        );
        assert_eq!(data_modifying_statements("SELECT 1 FROM t FOR UPDATE"), 0);
        assert_eq!(
            data_modifying_statements(
                "INSERT INTO t VALUES (1) ON CONFLICT (k) DO UPDATE SET v = 1"
            ),
            1
        );
        assert_eq!(
            data_modifying_statements("SELECT 1 FROM t FOR NO KEY UPDATE SKIP LOCKED"),
            0
        );
    }
}
