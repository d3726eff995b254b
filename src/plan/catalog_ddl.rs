//! insync's catalog tables as DDL text for each engine. On PostgreSQL the extension installs
//! `sql/catalog.sql` (and its upgrade scripts); this is the same catalog for the engines a pgrx
//! build cannot reach yet, kept in step with it by a test that compares the PostgreSQL variant
//! with those files.
//!
//! What differs per engine:
//! - Greenplum 7 and Cloudberry derive a distribution key from the constraints when none is
//!   given, and refuse `insync.jobs` (`PRIMARY KEY (job_name)` and `UNIQUE (job_id)` share no
//!   column): every table says how it is distributed. The small, constraint-rich ones
//!   (jobs, job state, quarantine batches) are replicated; the growing ones are distributed by
//!   the leading column of their key.
//! - Greenplum 6 has no identity columns (a sequence default instead), no row-level security
//!   (its catalog is readable by every role: said in the README), and with Greenplum 7 no xid8
//!   (transaction ids kept as bigint).
//! - Greenplum-family engines accept `REFERENCES ... ON DELETE/UPDATE CASCADE` without
//!   enforcing it: there the reference is left out and [`cascades`] are run by insync.

use super::dialect::{Dialect, Distribution};

/// One column: name, type (PostgreSQL's), and what follows the type.
struct Col {
    name: &'static str,
    ty: &'static str,
    rest: &'static str,
}

const fn col(name: &'static str, ty: &'static str, rest: &'static str) -> Col {
    Col { name, ty, rest }
}

/// A referenced table whose changes cascade.
struct Reference {
    column: &'static str,
    table: &'static str,
}

struct Table {
    name: &'static str,
    columns: Vec<Col>,
    /// Table constraints (PRIMARY KEY, UNIQUE, CHECK), as written.
    constraints: Vec<&'static str>,
    /// Identity column (GENERATED ALWAYS AS IDENTITY on PostgreSQL).
    identity: Option<&'static str>,
    references: Option<Reference>,
    distribution: Distribution,
    row_level_security: bool,
    indexes: Vec<&'static str>,
}

fn by(cols: &[&str]) -> Distribution {
    Distribution::Hash(cols.iter().map(|c| c.to_string()).collect())
}

const MODE_CHECK: &str =
    "CHECK (mode OPERATOR(pg_catalog.=) ANY ('{incremental,full,append}'::text[]))";

/// The catalog tables, as `sql/catalog.sql` and the upgrade scripts leave them.
fn tables() -> Vec<Table> {
    vec![
        Table {
            name: "jobs",
            columns: vec![
                col("job_id", "bigint", "UNIQUE"),
                col("job_name", "text", "PRIMARY KEY CHECK (job_name OPERATOR(pg_catalog.<>) '')"),
                col("owner", "regrole", "NOT NULL"),
                col("source", "regclass", "NOT NULL"),
                col("target", "regclass", "NOT NULL"),
                col("key_columns", "text[]", "NOT NULL CHECK (pg_catalog.cardinality(key_columns) OPERATOR(pg_catalog.>) 0)"),
                col("mode", "text", "NOT NULL"),
                col("watermark_column", "text", ""),
                col("watermark_type", "regtype", ""),
                col("watermark_relation", "regclass", ""),
                col("watermark_join", "jsonb", ""),
                col("source_filter", "text", ""),
                col("lookback", "text", ""),
                col("columns", "text[]", ""),
                col("lookups", "jsonb", ""),
                col("parallel", "text", "NOT NULL DEFAULT 'auto' CHECK (parallel OPERATOR(pg_catalog.=) 'auto' OR parallel OPERATOR(pg_catalog.~) '^[1-9][0-9]?$')"),
                col("created_at", "timestamptz", "NOT NULL DEFAULT pg_catalog.now()"),
                col("updated_at", "timestamptz", "NOT NULL DEFAULT pg_catalog.now()"),
                col("source_timezone", "text", ""),
                col("deletes", "text", "NOT NULL DEFAULT 'ignore' CHECK (deletes OPERATOR(pg_catalog.=) ANY ('{ignore,verify}'::text[]))"),
                col("schedule", "text", ""),
                col("upstreams", "bigint[]", ""),
                col("backfill_batch", "integer", "CHECK (backfill_batch OPERATOR(pg_catalog.>) 0)"),
            ],
            constraints: vec![
                MODE_CHECK,
                "CHECK ((watermark_column IS NULL) OPERATOR(pg_catalog.=) (watermark_type IS NULL))",
                "CHECK ((watermark_relation IS NULL) OPERATOR(pg_catalog.=) (watermark_join IS NULL))",
                "CHECK (mode OPERATOR(pg_catalog.=) 'full' OR watermark_column IS NOT NULL)",
            ],
            identity: Some("job_id"),
            references: None,
            distribution: Distribution::Replicated,
            row_level_security: true,
            indexes: vec![],
        },
        Table {
            name: "job_state",
            columns: vec![
                col("job_name", "text", "PRIMARY KEY"),
                col("watermark", "text", ""),
                col("last_run_id", "bigint", ""),
                col("updated_at", "timestamptz", "NOT NULL DEFAULT pg_catalog.now()"),
                col("late_commit_risk", "text", ""),
            ],
            constraints: vec![],
            identity: None,
            references: Some(Reference {
                column: "job_name",
                table: "jobs",
            }),
            distribution: Distribution::Replicated,
            row_level_security: true,
            indexes: vec![],
        },
        Table {
            name: "backfills",
            columns: vec![
                col("job_name", "text", "PRIMARY KEY"),
                col("state", "text", "NOT NULL CHECK (state OPERATOR(pg_catalog.=) ANY ('{\"in progress\",done}'::text[]))"),
                col("watermark", "text", ""),
                col("last_key", "jsonb", ""),
                col("batches", "integer", "NOT NULL DEFAULT 0"),
                col("rows_done", "bigint", "NOT NULL DEFAULT 0"),
                col("rows_estimated", "bigint", ""),
                col("rows_per_second", "bigint", ""),
                col("started_at", "timestamptz", "NOT NULL"),
                col("last_batch_at", "timestamptz", ""),
                col("finished_at", "timestamptz", ""),
                col("started_by", "regrole", "NOT NULL"),
            ],
            constraints: vec![],
            identity: None,
            references: Some(Reference {
                column: "job_name",
                table: "jobs",
            }),
            distribution: Distribution::Replicated,
            row_level_security: true,
            indexes: vec![],
        },
        Table {
            name: "runs",
            columns: vec![
                col("run_id", "bigint", "PRIMARY KEY"),
                col("job_name", "text", "NOT NULL"),
                col("owner", "regrole", "NOT NULL"),
                col("kind", "text", "NOT NULL CHECK (kind OPERATOR(pg_catalog.=) ANY ('{incremental,full,append}'::text[]))"),
                col("status", "text", "NOT NULL CHECK (status OPERATOR(pg_catalog.=) ANY ('{running,succeeded,failed,skipped}'::text[]))"),
                col("started_at", "timestamptz", "NOT NULL"),
                col("finished_at", "timestamptz", ""),
                col("window_low", "text", ""),
                col("window_high", "text", ""),
                col("rows_read", "bigint", "NOT NULL DEFAULT 0"),
                col("rows_inserted", "bigint", "NOT NULL DEFAULT 0"),
                col("rows_updated", "bigint", "NOT NULL DEFAULT 0"),
                col("rows_deleted", "bigint", "NOT NULL DEFAULT 0"),
                col("error_message", "text", ""),
                col("run_by", "regrole", "NOT NULL"),
                col("segments", "integer", ""),
                col("resumes", "bigint", ""),
                col("run_xact", "xid8", ""),
                col("scheduled", "boolean", "NOT NULL DEFAULT false"),
                col("backfill_batch", "integer", ""),
            ],
            constraints: vec![],
            identity: None,
            references: None,
            distribution: by(&["run_id"]),
            row_level_security: true,
            indexes: vec!["runs_job_name_run_id ON insync.runs (job_name, run_id DESC)"],
        },
        Table {
            name: "verifications",
            columns: vec![
                col("verification_id", "bigint", "PRIMARY KEY"),
                col("job_name", "text", "NOT NULL"),
                col("owner", "regrole", "NOT NULL"),
                col("run_by", "regrole", "NOT NULL"),
                col("status", "text", "NOT NULL CHECK (status OPERATOR(pg_catalog.=) ANY ('{equal,different,repaired,skipped,failed}'::text[]))"),
                col("started_at", "timestamptz", "NOT NULL"),
                col("finished_at", "timestamptz", ""),
                col("source_rows", "bigint", "NOT NULL DEFAULT 0"),
                col("target_rows", "bigint", "NOT NULL DEFAULT 0"),
                col("buckets", "integer", "NOT NULL DEFAULT 0"),
                col("differing_buckets", "integer", "NOT NULL DEFAULT 0"),
                col("missing", "bigint", "NOT NULL DEFAULT 0"),
                col("extra", "bigint", "NOT NULL DEFAULT 0"),
                col("changed", "bigint", "NOT NULL DEFAULT 0"),
                col("rows_deleted", "bigint", "NOT NULL DEFAULT 0"),
                col("rows_inserted", "bigint", "NOT NULL DEFAULT 0"),
                col("quarantine_batch", "bigint", ""),
                col("error_message", "text", ""),
            ],
            constraints: vec![],
            identity: None,
            references: None,
            distribution: by(&["verification_id"]),
            row_level_security: true,
            indexes: vec![
                "verifications_job_name_id ON insync.verifications (job_name, verification_id DESC)",
            ],
        },
        Table {
            name: "run_segments",
            columns: vec![
                col("run_id", "bigint", "NOT NULL"),
                col("segment_no", "integer", "NOT NULL"),
                col("job_name", "text", "NOT NULL"),
                col("owner", "regrole", "NOT NULL"),
                col("slice", "text", "NOT NULL"),
                col("plan", "jsonb", "NOT NULL"),
                col("status", "text", "NOT NULL DEFAULT 'pending' CHECK (status OPERATOR(pg_catalog.=) ANY ('{pending,running,done,failed}'::text[]))"),
                col("worker_pid", "integer", ""),
                col("rows_read", "bigint", "NOT NULL DEFAULT 0"),
                col("rows_inserted", "bigint", "NOT NULL DEFAULT 0"),
                col("rows_updated", "bigint", "NOT NULL DEFAULT 0"),
                col("rows_deleted", "bigint", "NOT NULL DEFAULT 0"),
                col("started_at", "timestamptz", ""),
                col("finished_at", "timestamptz", ""),
                col("finished_by", "bigint", ""),
                col("error_message", "text", ""),
            ],
            constraints: vec!["PRIMARY KEY (run_id, segment_no)"],
            identity: None,
            references: None,
            distribution: by(&["run_id"]),
            row_level_security: true,
            indexes: vec![],
        },
        Table {
            name: "quarantine",
            columns: vec![
                col("quarantine_id", "bigint", ""),
                col("batch_id", "bigint", "NOT NULL"),
                col("table_oid", "regclass", "NOT NULL"),
                col("table_name", "text", "NOT NULL"),
                col("key", "jsonb", "NOT NULL"),
                col("row_data", "json", "NOT NULL"),
                col("after_data", "json", ""),
                col("changed_column", "text", ""),
                col("reason", "text", "NOT NULL"),
                col("removed_at", "timestamptz", "NOT NULL DEFAULT pg_catalog.now()"),
                col("removed_by", "regrole", "NOT NULL"),
                col("restored_at", "timestamptz", ""),
                col("row_keys", "json", ""),
                col("row_key_columns", "text[]", ""),
            ],
            constraints: vec![],
            identity: Some("quarantine_id"),
            references: None,
            distribution: by(&["batch_id"]),
            row_level_security: true,
            indexes: vec!["quarantine_batch ON insync.quarantine USING brin (batch_id)"],
        },
        Table {
            name: "quarantine_batches",
            columns: vec![
                col("batch_id", "bigint", "NOT NULL"),
                col("table_oid", "regclass", "NOT NULL"),
                col("opened_by", "regrole", "NOT NULL"),
                col("opened_in", "xid8", "NOT NULL"),
                col("opened_at", "timestamptz", "NOT NULL DEFAULT pg_catalog.now()"),
            ],
            constraints: vec!["PRIMARY KEY (batch_id, table_oid)"],
            identity: None,
            references: None,
            distribution: Distribution::Replicated,
            row_level_security: true,
            indexes: vec![],
        },
    ]
}

/// The catalog's tables, sequences and indexes for `dialect`, one statement per element.
/// (Views, policies, comments and grants are the same text on every engine that has them.)
pub fn catalog_tables(dialect: &Dialect) -> Vec<String> {
    let xid8 = dialect.kernel >= 130000;
    let mut out = vec!["CREATE SCHEMA insync".to_string()];
    for t in tables() {
        let identity_seq = format!("insync.{}_{}_seq", t.name, t.identity.unwrap_or(""));
        if t.identity.is_some() && !dialect.identity_columns {
            out.push(format!("CREATE SEQUENCE {identity_seq}"));
        }
        let mut lines: Vec<String> = t
            .columns
            .iter()
            .map(|c| {
                let ty = if c.ty == "xid8" && !xid8 {
                    "bigint"
                } else {
                    c.ty
                };
                let mut rest = c.rest.to_string();
                if t.identity == Some(c.name) {
                    let identity = if dialect.identity_columns {
                        "GENERATED ALWAYS AS IDENTITY".to_string()
                    } else {
                        format!("NOT NULL DEFAULT pg_catalog.nextval('{identity_seq}'::pg_catalog.regclass)")
                    };
                    rest = if rest.is_empty() {
                        identity
                    } else {
                        format!("{identity} {rest}")
                    };
                }
                if let Some(r) = t.references.as_ref().filter(|r| r.column == c.name) {
                    if dialect.enforces_foreign_keys {
                        rest.push_str(&format!(
                            " REFERENCES insync.{} ON UPDATE CASCADE ON DELETE CASCADE",
                            r.table
                        ));
                    }
                }
                if rest.is_empty() {
                    format!("{} {ty}", c.name)
                } else {
                    format!("{} {ty} {rest}", c.name)
                }
            })
            .collect();
        lines.extend(t.constraints.iter().map(|c| c.to_string()));
        out.push(format!(
            "CREATE TABLE insync.{} ({}){}",
            t.name,
            lines.join(", "),
            dialect.distributed(&t.distribution)
        ));
        if t.identity.is_some() && !dialect.identity_columns {
            out.push(format!(
                "ALTER SEQUENCE {identity_seq} OWNED BY insync.{}.{}",
                t.name,
                t.identity.unwrap_or_default()
            ));
        }
        out.extend(t.indexes.iter().map(|i| format!("CREATE INDEX {i}")));
        if t.row_level_security && dialect.row_level_security {
            out.push(format!(
                "ALTER TABLE insync.{} ENABLE ROW LEVEL SECURITY",
                t.name
            ));
        }
    }
    out.push("CREATE SEQUENCE insync.runs_run_id_seq OWNED BY insync.runs.run_id".into());
    out.push("CREATE SEQUENCE insync.verifications_id_seq".into());
    out.push("CREATE SEQUENCE insync.quarantine_batch_seq".into());
    out
}

/// The statements insync runs itself where the engine does not enforce a reference's cascades
/// (none on PostgreSQL): on a job's rename (`$1` old name, `$2` new) and its drop (`$1`).
pub fn cascades(dialect: &Dialect) -> Cascades {
    if dialect.enforces_foreign_keys {
        return Cascades::default();
    }
    let mut c = Cascades::default();
    for t in tables() {
        if let Some(r) = &t.references {
            c.on_rename.push(format!(
                "UPDATE insync.{} SET {col} = $2 WHERE {col} = $1",
                t.name,
                col = r.column
            ));
            c.on_drop.push(format!(
                "DELETE FROM insync.{} WHERE {} = $1",
                t.name, r.column
            ));
        }
    }
    c
}

/// Cascades run by insync (see [`cascades`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cascades {
    pub on_rename: Vec<String>,
    pub on_drop: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::dialect::tests::engines;
    use crate::plan::steps::data_modifying_statements;
    use std::collections::BTreeMap;

    /// Tables and their columns as the installed catalog has them: `sql/catalog.sql` plus every
    /// upgrade script's `ADD COLUMN` / `DROP COLUMN`.
    fn installed() -> BTreeMap<String, Vec<String>> {
        let mut tables: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let catalog = include_str!("../../sql/catalog.sql");
        let mut current: Option<String> = None;
        for line in catalog.lines() {
            let line = line.trim();
            if let Some(rest) = line.strip_prefix("CREATE TABLE insync.") {
                let name = rest
                    .split([' ', '('])
                    .next()
                    .unwrap_or_default()
                    .to_string();
                tables.insert(name.clone(), Vec::new());
                current = Some(name);
            } else if line.starts_with(");") {
                current = None;
            } else if let Some(t) = &current {
                let first = line.split_whitespace().next().unwrap_or_default();
                if !first.is_empty()
                    && !["PRIMARY", "UNIQUE", "CHECK", "CONSTRAINT", "FOREIGN", "--"]
                        .iter()
                        .any(|k| first.starts_with(k))
                {
                    tables.get_mut(t).unwrap().push(first.to_string());
                }
            }
        }
        for upgrade in [
            include_str!("../../sql/insync--0.1.0--0.2.0.sql"),
            include_str!("../../sql/insync--0.2.0--0.3.0.sql"),
            include_str!("../../sql/insync--0.3.0--0.4.0.sql"),
        ] {
            let mut altered: Option<String> = None;
            for line in upgrade.lines() {
                let line = line.trim();
                if line.starts_with("--") {
                    continue;
                }
                if let Some(rest) = line.strip_prefix("ALTER TABLE insync.") {
                    altered = Some(rest.split([' ', ';']).next().unwrap_or_default().into());
                }
                for (verb, add) in [("ADD COLUMN ", true), ("DROP COLUMN ", false)] {
                    if let (Some(pos), Some(t)) = (line.find(verb), &altered) {
                        let column = line[pos + verb.len()..]
                            .split([' ', ';', ','])
                            .next()
                            .unwrap_or_default()
                            .to_string();
                        let cols = tables.entry(t.clone()).or_default();
                        if add {
                            if !cols.contains(&column) {
                                cols.push(column);
                            }
                        } else {
                            cols.retain(|c| c != &column);
                        }
                    }
                }
            }
        }
        tables
    }

    #[test]
    fn the_postgres_variant_names_the_installed_catalog() {
        let installed = installed();
        let generated: BTreeMap<String, Vec<String>> = tables()
            .iter()
            .map(|t| {
                (
                    t.name.to_string(),
                    t.columns.iter().map(|c| c.name.to_string()).collect(),
                )
            })
            .collect();
        assert_eq!(
            installed.keys().collect::<Vec<_>>(),
            generated.keys().collect::<Vec<_>>()
        );
        for (table, columns) in &installed {
            let mut a = columns.clone();
            let mut b = generated[table].clone();
            a.sort();
            b.sort();
            assert_eq!(a, b, "insync.{table}");
        }
        // And the PostgreSQL text is the installed one for a table written out in full.
        let pg = catalog_tables(&Dialect::postgres(150000));
        assert!(
            pg.contains(
                &"CREATE TABLE insync.job_state (job_name text PRIMARY KEY REFERENCES insync.jobs \
             ON UPDATE CASCADE ON DELETE CASCADE, watermark text, last_run_id bigint, \
             updated_at timestamptz NOT NULL DEFAULT pg_catalog.now(), late_commit_risk text)"
                    .to_string()
            ),
            "{pg:#?}"
        );
        assert!(pg.iter().any(|s| s.starts_with(
            "CREATE TABLE insync.jobs (job_id bigint GENERATED ALWAYS AS IDENTITY UNIQUE, job_name text PRIMARY KEY"
        )));
        assert!(pg.iter().all(|s| !s.contains("DISTRIBUTED")));
        assert_eq!(cascades(&Dialect::postgres(150000)), Cascades::default());
    }

    #[test]
    fn gp7_and_cloudberry_say_how_every_table_is_distributed() {
        for d in engines().iter().filter(|d| d.mpp()) {
            let ddl = catalog_tables(d);
            for create in ddl.iter().filter(|s| s.starts_with("CREATE TABLE")) {
                assert!(create.contains(" DISTRIBUTED "), "{create}");
                assert!(!create.contains("REFERENCES"), "{create}");
            }
            let jobs = ddl
                .iter()
                .find(|s| s.starts_with("CREATE TABLE insync.jobs "))
                .unwrap();
            // PRIMARY KEY (job_name) and UNIQUE (job_id) share no column: only a replicated
            // table can hold both.
            assert!(jobs.ends_with(") DISTRIBUTED REPLICATED"), "{jobs}");
            let runs = ddl
                .iter()
                .find(|s| s.starts_with("CREATE TABLE insync.runs "))
                .unwrap();
            assert!(runs.ends_with(") DISTRIBUTED BY (\"run_id\")"), "{runs}");
            let c = cascades(d);
            assert_eq!(
                c.on_drop,
                vec![
                    "DELETE FROM insync.job_state WHERE job_name = $1".to_string(),
                    "DELETE FROM insync.backfills WHERE job_name = $1".to_string()
                ]
            );
            assert_eq!(
                c.on_rename,
                vec![
                    "UPDATE insync.job_state SET job_name = $2 WHERE job_name = $1".to_string(),
                    "UPDATE insync.backfills SET job_name = $2 WHERE job_name = $1".to_string()
                ]
            );
            assert!(c
                .on_drop
                .iter()
                .chain(&c.on_rename)
                .all(|s| data_modifying_statements(s) == 1));
        }
    }

    #[test]
    fn gp6_has_no_identity_columns_row_level_security_or_xid8() {
        let ddl = catalog_tables(&Dialect::from_catalog(90426, true, 4));
        let all = ddl.join(";\n");
        assert!(!all.contains("IDENTITY"), "{all}");
        assert!(!all.contains("ROW LEVEL SECURITY"), "{all}");
        assert!(!all.contains("xid8"), "{all}");
        assert!(ddl.contains(&"CREATE SEQUENCE insync.jobs_job_id_seq".to_string()));
        assert!(all.contains(
            "CREATE TABLE insync.jobs (job_id bigint NOT NULL DEFAULT pg_catalog.nextval('insync.jobs_job_id_seq'::pg_catalog.regclass) UNIQUE"
        ), "{all}");
        assert!(ddl.contains(
            &"ALTER SEQUENCE insync.quarantine_quarantine_id_seq OWNED BY insync.quarantine.quarantine_id".to_string()
        ));
        assert!(all.contains("run_xact bigint"), "{all}");
        // Greenplum 7 has identity columns and RLS, but no xid8 (a PostgreSQL 13 type).
        let gp7 = catalog_tables(&Dialect::from_catalog(120012, true, 4)).join(";\n");
        assert!(gp7.contains("GENERATED ALWAYS AS IDENTITY") && gp7.contains("run_xact bigint"));
        assert!(gp7.contains("ALTER TABLE insync.jobs ENABLE ROW LEVEL SECURITY"));
        let cb = catalog_tables(&Dialect::from_catalog(140004, true, 4)).join(";\n");
        assert!(cb.contains("run_xact xid8"), "{cb}");
    }
}
