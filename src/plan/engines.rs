//! The SQL each engine gets for every sync statement, checked against what the engine accepts:
//! PostgreSQL 13–17, Greenplum 6, Greenplum 7 and Apache Cloudberry (desk-checked against their
//! sources; no such server runs here). Dedup, remap and verify check their own statements per
//! engine in their modules.

use super::dialect::tests::engines;
use super::dialect::{upsert_allowed, Dialect, Distribution, Engine, Storage};
use super::steps::data_modifying_statements;
use super::tests::customer_plan;
use super::{MergeStrategy, RunKind, SyncPlan, Window};

/// Every run shape: kind and window.
const RUNS: [(RunKind, Window); 4] = [
    (RunKind::Incremental, Window::UpTo),
    (RunKind::Incremental, Window::Range),
    (RunKind::Full, Window::Everything),
    (RunKind::Append, Window::Range),
];

/// The plan a job gets on `dialect` for a target with a unique key index, as `resolve` builds it.
fn plan_on(dialect: &Dialect, storage: Storage) -> SyncPlan {
    let mut plan = customer_plan();
    plan.strategy = if upsert_allowed(dialect, &storage, &plan.keys) {
        MergeStrategy::Upsert
    } else {
        MergeStrategy::DeleteInsert
    };
    plan.dialect = dialect.clone();
    plan.target_storage = storage;
    plan
}

fn heap_by_key(dialect: &Dialect) -> Storage {
    Storage {
        access_method: "heap".into(),
        distribution: if dialect.mpp() {
            Distribution::Hash(vec!["customer_id".into()])
        } else {
            Distribution::Single
        },
    }
}

/// Every statement a serial run issues on `plan`'s engine, in order (the default plan style on
/// PostgreSQL; statement-per-step elsewhere).
fn run_statements(plan: &SyncPlan, kind: RunKind, window: Window) -> Vec<String> {
    let mut statements = Vec::new();
    if plan.strategy == MergeStrategy::DeleteInsert {
        statements.push(plan.target_duplicate_keys());
    }
    if plan.dialect.writers_per_with {
        statements.push(plan.merge_statement(kind, window));
    } else {
        let steps = plan.steps(kind, window);
        statements.extend([steps.create, steps.fill, steps.analyze, steps.null_keys]);
        statements.extend(steps.writes.into_iter().map(|s| s.sql));
        statements.push(steps.drop);
    }
    statements.push(plan.null_key_count(window));
    statements
}

#[test]
fn mpp_engines_get_one_writer_per_statement_and_no_bare_ctid() {
    for dialect in engines().iter().filter(|d| d.mpp()) {
        for storage in [
            heap_by_key(dialect),
            Storage {
                access_method: "ao_column".into(),
                distribution: Distribution::Hash(vec!["customer_id".into()]),
            },
            Storage {
                access_method: "heap".into(),
                distribution: Distribution::Hash(vec!["name".into()]),
            },
        ] {
            let plan = plan_on(dialect, storage.clone());
            for (kind, window) in RUNS {
                for sql in run_statements(&plan, kind, window) {
                    let context = format!("{:?} {storage:?} {kind:?}: {sql}", dialect.engine);
                    assert!(data_modifying_statements(&sql) <= 1, "{context}");
                    assert!(
                        !sql.contains("ctid") || sql.contains("gp_segment_id"),
                        "{context}"
                    );
                    assert!(!sql.contains("RETURNING"), "{context}");
                    if !dialect.as_materialized {
                        assert!(!sql.contains("MATERIALIZED"), "{context}");
                    }
                    if !upsert_allowed(dialect, &storage, &plan.keys) {
                        assert!(!sql.contains("ON CONFLICT"), "{context}");
                    }
                    // A distribution key is never assigned: only non-key payload columns are.
                    assert!(!sql.contains("SET \"customer_id\""), "{context}");
                }
            }
        }
    }
}

#[test]
fn each_engine_merges_the_way_it_can() {
    for dialect in engines() {
        let plan = plan_on(&dialect, heap_by_key(&dialect));
        let incremental = run_statements(&plan, RunKind::Incremental, Window::Range).join(";\n");
        match dialect.engine {
            Engine::Postgres => {
                // One statement: the window, the upsert and the counts.
                assert_eq!(plan.strategy, MergeStrategy::Upsert);
                assert!(
                    incremental.starts_with("WITH src AS NOT MATERIALIZED"),
                    "{incremental}"
                );
                assert!(!incremental.contains("insync_run_window"), "{incremental}");
            }
            Engine::Greenplum6 => {
                // No ON CONFLICT: delete the changed rows, insert what is absent.
                assert_eq!(plan.strategy, MergeStrategy::DeleteInsert);
                assert!(incremental.contains(
                    "CREATE TEMPORARY TABLE \"insync_run_window\" (\"customer_id\" integer, \"name\" text, \
                     \"updated_at\" timestamp with time zone) ON COMMIT DROP DISTRIBUTED BY (\"customer_id\")"
                ), "{incremental}");
                assert!(incremental.contains(
                    "DELETE FROM \"dw\".\"customer\" t USING pg_temp.\"insync_run_window\" s WHERE"
                ), "{incremental}");
                assert!(!incremental.contains("ON CONFLICT"), "{incremental}");
            }
            Engine::Greenplum7 | Engine::Cloudberry => {
                assert_eq!(plan.strategy, MergeStrategy::Upsert);
                assert!(incremental.contains(
                    "INSERT INTO \"dw\".\"customer\" AS t (\"customer_id\", \"name\", \"updated_at\") \
                     SELECT s.\"customer_id\", s.\"name\", s.\"updated_at\" FROM pg_temp.\"insync_run_window\" s"
                ), "{incremental}");
                assert!(
                    incremental.contains("ON CONFLICT (\"customer_id\") DO UPDATE"),
                    "{incremental}"
                );
            }
        }
    }
}

#[test]
fn append_optimized_and_misdistributed_targets_never_upsert() {
    let gp7 = Dialect::from_catalog(120012, true, 4);
    let keys = vec!["customer_id".to_string()];
    let by = |c: &str| Distribution::Hash(vec![c.to_string()]);
    let storage = |am: &str, d: Distribution| Storage {
        access_method: am.into(),
        distribution: d,
    };
    assert!(upsert_allowed(
        &gp7,
        &storage("heap", by("customer_id")),
        &keys
    ));
    assert!(!upsert_allowed(
        &gp7,
        &storage("ao_row", by("customer_id")),
        &keys
    ));
    assert!(!upsert_allowed(
        &gp7,
        &storage("ao_column", by("customer_id")),
        &keys
    ));
    // ON CONFLICT DO UPDATE cannot move a row to another segment.
    assert!(!upsert_allowed(&gp7, &storage("heap", by("name")), &keys));
    assert!(upsert_allowed(
        &gp7,
        &storage("heap", Distribution::Random),
        &keys
    ));
    let gp6 = Dialect::from_catalog(90426, true, 4);
    assert!(!upsert_allowed(
        &gp6,
        &storage("heap", by("customer_id")),
        &keys
    ));
    assert!(upsert_allowed(
        &Dialect::postgres(130012),
        &Storage::heap(),
        &keys
    ));
}

#[test]
fn postgres_13_to_17_get_the_same_serial_sql() {
    let pg: Vec<Dialect> = engines().into_iter().filter(|d| !d.mpp()).collect();
    assert_eq!(
        pg.iter().map(|d| d.kernel / 10000).collect::<Vec<_>>(),
        vec![13, 14, 15, 16, 17]
    );
    for (kind, window) in RUNS {
        for strategy in [MergeStrategy::Upsert, MergeStrategy::DeleteInsert] {
            let texts: Vec<Vec<String>> = pg
                .iter()
                .map(|d| {
                    let mut plan = plan_on(d, Storage::heap());
                    plan.strategy = strategy;
                    let mut all = run_statements(&plan, kind, window);
                    // The statement-per-step style, selectable there, too.
                    let steps = plan.steps(kind, window);
                    all.extend(steps.writes.into_iter().map(|s| s.sql));
                    all
                })
                .collect();
            assert!(
                texts.windows(2).all(|w| w[0] == w[1]),
                "{kind:?} {strategy:?}"
            );
            // The one-statement merge has its writers in one WITH (PostgreSQL allows it).
            let merge = &texts[0][if strategy == MergeStrategy::DeleteInsert {
                1
            } else {
                0
            }];
            let writers = data_modifying_statements(merge);
            assert!((1..=3).contains(&writers), "{writers}: {merge}");
        }
    }
}
