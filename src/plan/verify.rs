//! Pure planning for `sync_verify`: compare a job's source and target inside the database, the
//! data-diff way. Rows are put in buckets by a hash of their key; per bucket, each side gives a
//! row count and an order-independent checksum (the sum of 64-bit row hashes). Only buckets that
//! differ are compared key by key, and a repair rewrites only the keys that differ.
//!
//! Hashes are the column types' own extended hash functions (`hashint4extended`, ...), which
//! agree exactly when the type's equality operator does (`1.0 = 1.00`, timestamps whatever the
//! session's zone), so a difference is what a merge would see as one; types without a built-in
//! hash (json, point, xml, domains, enums, composites) are hashed through their text form.
//! Source values are cast to the target column's type first, as a merge would store them.
//! Every hash is an immutable built-in function: on a postgres_fdw source the per-bucket
//! aggregate can be computed on the source server.

use super::{quote_ident, quote_literal, Relation};

/// How a column's values are hashed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hash {
    /// A built-in extended hash function (schema-qualified), `f(value, seed) -> int8`, given
    /// the value as it is ([`Input::Same`]), relabelled to the function's binary-compatible
    /// argument type, or (timestamptz) as its UTC time.
    Typed { function: String, input: Input },
    /// `hashtextextended(value::text, seed)`: types without a built-in hash function.
    Text,
}

/// What a typed hash function is given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    Same,
    /// Cast to this binary-compatible type (varchar to text, say).
    Relabel(String),
    /// A timestamptz, hashed as its distance from the epoch (an interval): the same instant
    /// hashes the same whatever the session's zone, and on a postgres_fdw source (which ships
    /// neither `timezone('UTC', ...)`, whose zone is a collatable constant, nor a cast).
    Utc,
}

/// A compared column: its name, the target's type (with typmod, as `format_type` prints it)
/// and how its values are hashed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyColumn {
    pub name: String,
    pub target_type: String,
    pub hash: Hash,
}

/// Which side of the comparison an expression reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Source,
    Target,
}

/// A job's comparison, ready to be turned into SQL.
#[derive(Debug, Clone)]
pub struct VerifyPlan {
    /// The source read of a full run (filter, lookups, latest row per key), as a query.
    pub source_rows: String,
    pub target: Relation,
    pub keys: Vec<VerifyColumn>,
    /// The compared columns that are not key columns.
    pub payload: Vec<VerifyColumn>,
    /// Number of buckets: a power of two.
    pub buckets: u32,
    /// The engine (the job's plan's): one writer per statement on Greenplum-family engines.
    pub dialect: super::dialect::Dialect,
}

/// A repair as the engine runs it: its statements in order, all given the same parameters, and
/// which one's processed rows are the repair's count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repair {
    pub statements: Vec<String>,
    pub counted: usize,
}

/// Seeds: key columns hash with 1, 2, ...; payload columns with 1001, 1002, ... so that equal
/// values in different columns never cancel out.
const PAYLOAD_SEED: usize = 1000;

/// The epoch as a timestamptz constant (timestamptz hashes are taken relative to it).
const EPOCH: &str = "'1970-01-01 00:00:00+00'::pg_catalog.timestamptz";

/// Buckets for a table of about `rows` rows: about 64 rows per bucket, 16 to 65,536 buckets,
/// a power of two.
pub fn bucket_count(rows: f64) -> u32 {
    let wanted = (rows / 64.0).clamp(16.0, 65536.0) as u32;
    wanted.next_power_of_two().min(65536)
}

impl VerifyPlan {
    fn value(&self, c: &VerifyColumn, side: Side) -> String {
        let column = format!("s.{}", quote_ident(&c.name));
        match side {
            Side::Source => format!("({column})::{}", c.target_type),
            Side::Target => column,
        }
    }

    /// One column's hash; NULL hashes as a constant of its own per column. Written with CASE,
    /// not COALESCE, and without text constants (which carry a collation): postgres_fdw ships
    /// neither COALESCE nor a collatable constant to the source.
    fn column_hash(&self, c: &VerifyColumn, side: Side, seed: usize) -> String {
        let value = self.value(c, side);
        let seed8 = format!("{seed}::pg_catalog.int8");
        let hash = match &c.hash {
            Hash::Typed { function, input } => match input {
                Input::Same => format!("{function}({value}, {seed8})"),
                Input::Relabel(ty) => format!("{function}(({value})::{ty}, {seed8})"),
                Input::Utc => format!(
                    "CASE WHEN pg_catalog.isfinite({value}) \
                     THEN pg_catalog.interval_hash_extended({value} OPERATOR(pg_catalog.-) {EPOCH}, {seed8}) \
                     WHEN {value} OPERATOR(pg_catalog.>) {EPOCH} THEN {inf} ELSE {neg_inf} END",
                    inf = seed * 7 + 1,
                    neg_inf = seed * 7 + 2,
                ),
            },
            Hash::Text => format!("pg_catalog.hashtextextended(({value})::pg_catalog.text, {seed8})"),
        };
        format!("CASE WHEN {value} IS NULL THEN (-{seed})::pg_catalog.int8 ELSE {hash} END")
    }

    /// The key's hash (bucket and row hash build on it).
    fn key_hash(&self, side: Side) -> String {
        let parts: Vec<String> = self
            .keys
            .iter()
            .enumerate()
            .map(|(i, c)| self.column_hash(c, side, i + 1))
            .collect();
        format!("({})", parts.join(" # "))
    }

    /// The whole row's hash: key and payload, each column with its own seed.
    fn row_hash(&self, side: Side) -> String {
        let mut parts = vec![self.key_hash(side)];
        parts.extend(
            self.payload
                .iter()
                .enumerate()
                .map(|(i, c)| self.column_hash(c, side, PAYLOAD_SEED + i + 1)),
        );
        format!("({})", parts.join(" # "))
    }

    /// The bucket of a row: the key hash's low bits.
    fn bucket(&self, side: Side) -> String {
        format!("({} & {})", self.key_hash(side), self.buckets - 1)
    }

    fn from(&self, side: Side) -> String {
        match side {
            Side::Source => format!("({}) s", self.source_rows),
            Side::Target => format!("{} s", self.target.sql()),
        }
    }

    fn keys_not_null(&self) -> String {
        let any_null = self
            .keys
            .iter()
            .map(|c| format!("s.{} IS NULL", quote_ident(&c.name)))
            .collect::<Vec<_>>()
            .join(" OR ");
        format!("NOT ({any_null})")
    }

    /// Per bucket of one side: `b, n, c` (bucket, rows, checksum).
    pub fn bucket_sums(&self, side: Side) -> String {
        format!(
            "SELECT {} AS b, pg_catalog.count(*) AS n, pg_catalog.sum({}) AS c FROM {} WHERE {} GROUP BY 1",
            self.bucket(side),
            self.row_hash(side),
            self.from(side),
            self.keys_not_null()
        )
    }

    /// Compares the buckets of both sides in one statement: returns `source_rows, target_rows,
    /// differing buckets (int8[], sorted)`.
    pub fn compare_buckets(&self) -> String {
        format!(
            "WITH src AS ({}), tgt AS ({}) \
             SELECT coalesce(pg_catalog.sum(src.n), 0)::pg_catalog.int8, \
                    coalesce(pg_catalog.sum(tgt.n), 0)::pg_catalog.int8, \
                    coalesce(pg_catalog.array_agg(coalesce(src.b, tgt.b) ORDER BY coalesce(src.b, tgt.b)) \
                        FILTER (WHERE src.n IS DISTINCT FROM tgt.n OR src.c IS DISTINCT FROM tgt.c), '{{}}') \
               FROM src FULL JOIN tgt ON src.b = tgt.b",
            self.bucket_sums(Side::Source),
            self.bucket_sums(Side::Target)
        )
    }

    /// Per key of one side, in the differing buckets (`$1`, int8[]): the key columns (of the
    /// target's types), the rows with that key and their checksum.
    fn key_sums(&self, side: Side) -> String {
        let keys = self
            .keys
            .iter()
            .map(|c| format!("{} AS {}", self.value(c, side), quote_ident(&c.name)))
            .collect::<Vec<_>>()
            .join(", ");
        let group = (1..=self.keys.len())
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            "SELECT {keys}, pg_catalog.count(*) AS n, pg_catalog.sum({}) AS c FROM {} \
             WHERE {} AND {} = ANY ($1::pg_catalog.int8[]) GROUP BY {group}",
            self.row_hash(side),
            self.from(side),
            self.keys_not_null(),
            self.bucket(side)
        )
    }

    /// The key as JSON, `{"col": value, ...}`, read from the row `alias`.
    fn key_json(&self, alias: &str) -> String {
        let pairs = self
            .keys
            .iter()
            .map(|c| {
                format!(
                    "{}, {alias}.{}",
                    quote_literal(&c.name),
                    quote_ident(&c.name)
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        format!("pg_catalog.jsonb_build_object({pairs})")
    }

    /// The keys that differ within the buckets `$1`: `key jsonb, difference text` (`missing`:
    /// only in the source; `extra`: only in the target; `changed`: other values, or several
    /// target rows), ordered by difference then key.
    pub fn differing_keys(&self) -> String {
        let on = self
            .keys
            .iter()
            .map(|c| format!("src.{q} = tgt.{q}", q = quote_ident(&c.name)))
            .collect::<Vec<_>>()
            .join(" AND ");
        let merged = self
            .keys
            .iter()
            .map(|c| {
                format!(
                    "{}, coalesce(src.{q}, tgt.{q})",
                    quote_literal(&c.name),
                    q = quote_ident(&c.name)
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            "WITH src AS{m} ({}), tgt AS{m} ({}) \
             SELECT d.key, d.difference FROM (SELECT pg_catalog.jsonb_build_object({merged}) AS key, \
                    CASE WHEN tgt.n IS NULL THEN 'missing' WHEN src.n IS NULL THEN 'extra' ELSE 'changed' END AS difference \
               FROM src FULL JOIN tgt ON {on} \
              WHERE src.n IS DISTINCT FROM tgt.n OR src.c IS DISTINCT FROM tgt.c) d \
             ORDER BY d.difference, d.key::pg_catalog.text",
            self.key_sums(Side::Source),
            self.key_sums(Side::Target),
            m = self.dialect.materialized(true)
        )
    }

    /// The keys of `$1` (a JSON array of key objects) as rows of the target's type.
    fn keys_of_json(&self) -> String {
        format!(
            "SELECT * FROM pg_catalog.jsonb_populate_recordset(NULL::{}, $1::pg_catalog.jsonb)",
            self.target.sql()
        )
    }

    /// [`VerifyPlan::repair_delete`] as the engine runs it. One writer per statement
    /// (Greenplum-family engines): with the target locked against other writers, the rows of the
    /// keys are copied into the quarantine, then deleted (the count).
    pub fn repair_delete_steps(&self, reason: &str) -> Repair {
        if self.dialect.writers_per_with {
            return Repair {
                statements: vec![self.repair_delete(reason)],
                counted: 0,
            };
        }
        let on = self.keys_on("t", "k");
        Repair {
            statements: vec![
                self.lock_target(),
                format!(
                    "INSERT INTO insync.quarantine (batch_id, table_oid, table_name, key, row_data, reason, removed_by) \
                     SELECT $2::pg_catalog.int8, $3::pg_catalog.oid::pg_catalog.regclass, {name}, {key}, pg_catalog.row_to_json(t), {reason}, {opener} \
                       FROM {target} t JOIN ({keys}) k ON {on}",
                    reason = quote_literal(reason),
                    keys = self.keys_of_json(),
                    target = self.target.sql(),
                    key = self.key_json("t"),
                    name = self.quoted_name(),
                    opener = super::quarantine::batch_opener("$2", "$3"),
                ),
                format!(
                    "DELETE FROM {} t USING ({}) k WHERE {on}",
                    self.target.sql(),
                    self.keys_of_json()
                ),
            ],
            counted: 2,
        }
    }

    /// [`VerifyPlan::repair_insert`] as the engine runs it. One writer per statement: with the
    /// target locked against other writers, the source rows are written (the count), then the
    /// rows now under those keys, exactly the ones written (the keys' old rows were deleted
    /// first), are recorded as after-images.
    pub fn repair_insert_steps(&self, columns: &[String]) -> Repair {
        if self.dialect.writers_per_with {
            return Repair {
                statements: vec![self.repair_insert(columns)],
                counted: 0,
            };
        }
        Repair {
            statements: vec![
                self.lock_target(),
                format!(
                    "INSERT INTO {target} ({cols}) SELECT {src_cols} FROM {from} JOIN ({keys}) k ON {on} \
                      WHERE {bucket} = ANY ($4::pg_catalog.int8[])",
                    keys = self.keys_of_json(),
                    target = self.target.sql(),
                    cols = super::ident_list(columns, None),
                    src_cols = super::ident_list(columns, Some("s")),
                    from = self.from(Side::Source),
                    on = self.source_keys_on(),
                    bucket = self.bucket(Side::Source),
                ),
                format!(
                    "INSERT INTO insync.quarantine (batch_id, table_oid, table_name, key, row_data, after_data, reason, removed_by) \
                     SELECT $2::pg_catalog.int8, $3::pg_catalog.oid::pg_catalog.regclass, {name}, {key}, 'null'::pg_catalog.json, \
                            pg_catalog.row_to_json(t), 'verify_repair', {opener} \
                       FROM {target} t JOIN ({keys}) k ON {on}",
                    keys = self.keys_of_json(),
                    target = self.target.sql(),
                    key = self.key_json("t"),
                    name = self.quoted_name(),
                    on = self.keys_on("t", "k"),
                    opener = super::quarantine::batch_opener("$2", "$3"),
                ),
            ],
            counted: 1,
        }
    }

    /// Blocks other writers of the target (what UPDATE and DELETE take anyway on Greenplum
    /// without the global deadlock detector) while a repair's steps run.
    fn lock_target(&self) -> String {
        format!("LOCK TABLE {} IN EXCLUSIVE MODE", self.target.sql())
    }

    fn quoted_name(&self) -> String {
        quote_literal(&format!("{}.{}", self.target.schema, self.target.name))
    }

    /// `a.k1 = b.k1 AND ...` over the key columns.
    fn keys_on(&self, a: &str, b: &str) -> String {
        self.keys
            .iter()
            .map(|c| format!("{a}.{q} = {b}.{q}", q = quote_ident(&c.name)))
            .collect::<Vec<_>>()
            .join(" AND ")
    }

    /// The source's key values (in the target's types) equal to `k`'s.
    fn source_keys_on(&self) -> String {
        self.keys
            .iter()
            .map(|c| {
                format!(
                    "{} = k.{}",
                    self.value(c, Side::Source),
                    quote_ident(&c.name)
                )
            })
            .collect::<Vec<_>>()
            .join(" AND ")
    }

    /// Repair, first statement: deletes the target rows of the keys in `$1` (extra and changed
    /// keys), keeping each in the quarantine batch `$2` of the target (OID `$3`) with `reason`.
    /// One row per row deleted.
    pub fn repair_delete(&self, reason: &str) -> String {
        let on = self
            .keys
            .iter()
            .map(|c| format!("t.{q} = k.{q}", q = quote_ident(&c.name)))
            .collect::<Vec<_>>()
            .join(" AND ");
        format!(
            "WITH k AS ({keys}), \
             gone AS (DELETE FROM {target} t USING k WHERE {on} \
                      RETURNING {key} AS key, pg_catalog.row_to_json(t) AS row_data) \
             INSERT INTO insync.quarantine (batch_id, table_oid, table_name, key, row_data, reason, removed_by) \
             SELECT $2::pg_catalog.int8, $3::pg_catalog.oid::pg_catalog.regclass, {name}, g.key, g.row_data, {reason}, {opener} \
               FROM gone g RETURNING 1",
            reason = quote_literal(reason),
            keys = self.keys_of_json(),
            target = self.target.sql(),
            key = self.key_json("t"),
            name = quote_literal(&format!("{}.{}", self.target.schema, self.target.name)),
            opener = super::quarantine::batch_opener("$2", "$3"),
        )
    }

    /// Repair, second statement: writes the source rows of the keys in `$1` (missing and
    /// changed keys) found in the buckets `$4`, recording each written row in the quarantine
    /// batch `$2` as an after-image (with no before-image), so restoring the batch removes it
    /// again. `columns` are the job's copied columns. One row per row written.
    pub fn repair_insert(&self, columns: &[String]) -> String {
        let on = self
            .keys
            .iter()
            .map(|c| {
                format!(
                    "{} = k.{}",
                    self.value(c, Side::Source),
                    quote_ident(&c.name)
                )
            })
            .collect::<Vec<_>>()
            .join(" AND ");
        format!(
            "WITH k AS ({keys}), \
             added AS (INSERT INTO {target} AS t ({cols}) SELECT {src_cols} FROM {from} JOIN k ON {on} \
                        WHERE {bucket} = ANY ($4::pg_catalog.int8[]) \
                       RETURNING {key} AS key, pg_catalog.row_to_json(t) AS after_data) \
             INSERT INTO insync.quarantine (batch_id, table_oid, table_name, key, row_data, after_data, reason, removed_by) \
             SELECT $2::pg_catalog.int8, $3::pg_catalog.oid::pg_catalog.regclass, {name}, a.key, 'null'::pg_catalog.json, a.after_data, \
                    'verify_repair', {opener} \
               FROM added a RETURNING 1",
            keys = self.keys_of_json(),
            target = self.target.sql(),
            cols = super::ident_list(columns, None),
            src_cols = super::ident_list(columns, Some("s")),
            from = self.from(Side::Source),
            bucket = self.bucket(Side::Source),
            key = self.key_json("t"),
            name = quote_literal(&format!("{}.{}", self.target.schema, self.target.name)),
            opener = super::quarantine::batch_opener("$2", "$3"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> VerifyPlan {
        VerifyPlan {
            source_rows: "SELECT s.\"id\", s.\"doc\" FROM \"ods\".\"t\" s".into(),
            target: Relation::new("dw", "t"),
            keys: vec![VerifyColumn {
                name: "id".into(),
                target_type: "integer".into(),
                hash: Hash::Typed {
                    function: "pg_catalog.hashint4extended".into(),
                    input: Input::Same,
                },
            }],
            payload: vec![VerifyColumn {
                name: "doc".into(),
                target_type: "json".into(),
                hash: Hash::Text,
            }],
            buckets: 16,
            dialect: crate::plan::dialect::Dialect::postgres(150000),
        }
    }

    #[test]
    fn mpp_repairs_take_one_writer_per_statement() {
        use crate::plan::dialect::tests::engines;
        use crate::plan::steps::data_modifying_statements;
        let pg = plan();
        assert_eq!(
            pg.repair_delete_steps("verify_repair").statements,
            vec![pg.repair_delete("verify_repair")]
        );
        assert!(pg
            .differing_keys()
            .starts_with("WITH src AS MATERIALIZED ("));
        for d in engines().into_iter().filter(|d| d.mpp()) {
            let mut p = plan();
            p.dialect = d.clone();
            let del = p.repair_delete_steps("verify_repair");
            let ins = p.repair_insert_steps(&["id".into(), "doc".into()]);
            for sql in del
                .statements
                .iter()
                .chain(&ins.statements)
                .chain([&p.differing_keys(), &p.compare_buckets()])
            {
                assert!(data_modifying_statements(sql) <= 1, "{sql}");
                assert!(!sql.contains("RETURNING") && !sql.contains("ctid"), "{sql}");
                if !d.as_materialized {
                    assert!(!sql.contains("MATERIALIZED"), "{sql}");
                }
            }
            assert_eq!(
                del.statements[0],
                "LOCK TABLE \"dw\".\"t\" IN EXCLUSIVE MODE"
            );
            assert!(del.statements[del.counted].starts_with("DELETE FROM \"dw\".\"t\" t USING (SELECT * FROM pg_catalog.jsonb_populate_recordset"));
            assert!(
                del.statements[1].starts_with("INSERT INTO insync.quarantine"),
                "{}",
                del.statements[1]
            );
            assert!(ins.statements[ins.counted].starts_with(
                "INSERT INTO \"dw\".\"t\" (\"id\", \"doc\") SELECT s.\"id\", s.\"doc\""
            ));
            assert!(
                ins.statements[2].contains("pg_catalog.row_to_json(t), 'verify_repair'"),
                "{}",
                ins.statements[2]
            );
        }
    }

    #[test]
    fn a_key_only_comparison_hashes_no_payload() {
        let mut p = plan();
        p.payload.clear();
        let sql = p.compare_buckets();
        assert!(!sql.contains("1001"), "{sql}");
        assert!(!sql.contains("(s.\"doc\")::json"), "{sql}");
        assert!(sql.contains("hashint4extended"), "{sql}");
        let del = p.repair_delete("deleted_from_source");
        assert!(del.contains("'deleted_from_source'"), "{del}");
    }

    #[test]
    fn bucket_counts_are_powers_of_two_within_bounds() {
        assert_eq!(bucket_count(0.0), 16);
        assert_eq!(bucket_count(-1.0), 16);
        assert_eq!(bucket_count(1_000_000.0), 16384);
        assert_eq!(bucket_count(1e12), 65536);
        assert!(bucket_count(5000.0).is_power_of_two());
    }

    #[test]
    fn source_values_are_cast_to_the_target_type_and_hashed_by_type() {
        let sql = plan().bucket_sums(Side::Source);
        let key = "CASE WHEN (s.\"id\")::integer IS NULL THEN (-1)::pg_catalog.int8 \
                   ELSE pg_catalog.hashint4extended((s.\"id\")::integer, 1::pg_catalog.int8) END";
        let doc = "CASE WHEN (s.\"doc\")::json IS NULL THEN (-1001)::pg_catalog.int8 \
                   ELSE pg_catalog.hashtextextended(((s.\"doc\")::json)::pg_catalog.text, 1001::pg_catalog.int8) END";
        assert_eq!(
            sql,
            format!(
                "SELECT (({key}) & 15) AS b, pg_catalog.count(*) AS n, pg_catalog.sum((({key}) # {doc})) AS c \
                 FROM (SELECT s.\"id\", s.\"doc\" FROM \"ods\".\"t\" s) s WHERE NOT (s.\"id\" IS NULL) GROUP BY 1"
            )
        );
        let target = plan().bucket_sums(Side::Target);
        assert!(
            target.contains("hashint4extended(s.\"id\", 1::pg_catalog.int8)"),
            "{target}"
        );
        assert!(target.contains("FROM \"dw\".\"t\" s WHERE"), "{target}");
        // Nothing postgres_fdw keeps local: no COALESCE.
        assert!(!sql.to_lowercase().contains("coalesce"), "{sql}");
    }

    #[test]
    fn timestamptz_hashes_as_its_utc_time_and_varchar_as_text() {
        let mut p = plan();
        p.payload = vec![
            VerifyColumn {
                name: "at".into(),
                target_type: "timestamp with time zone".into(),
                hash: Hash::Typed {
                    function: "pg_catalog.timestamp_hash_extended".into(),
                    input: Input::Utc,
                },
            },
            VerifyColumn {
                name: "code".into(),
                target_type: "character varying(8)".into(),
                hash: Hash::Typed {
                    function: "pg_catalog.hashtextextended".into(),
                    input: Input::Relabel("text".into()),
                },
            },
        ];
        let sql = p.bucket_sums(Side::Source);
        assert!(sql.contains("CASE WHEN pg_catalog.isfinite((s.\"at\")::timestamp with time zone) \
             THEN pg_catalog.interval_hash_extended((s.\"at\")::timestamp with time zone OPERATOR(pg_catalog.-) '1970-01-01 00:00:00+00'::pg_catalog.timestamptz, 1001::pg_catalog.int8)"), "{sql}");
        assert!(!sql.contains("timezone("), "{sql}");
        assert!(sql.contains("pg_catalog.hashtextextended(((s.\"code\")::character varying(8))::text, 1002::pg_catalog.int8)"), "{sql}");
    }

    #[test]
    fn composite_keys_hash_each_column_with_its_own_seed() {
        let mut p = plan();
        p.keys.push(VerifyColumn {
            name: "tenant".into(),
            target_type: "uuid".into(),
            hash: Hash::Typed {
                function: "pg_catalog.uuid_hash_extended".into(),
                input: Input::Same,
            },
        });
        let sql = p.differing_keys();
        assert!(
            sql.contains("pg_catalog.uuid_hash_extended(s.\"tenant\", 2::pg_catalog.int8)"),
            "{sql}"
        );
        assert!(
            sql.contains("ON src.\"id\" = tgt.\"id\" AND src.\"tenant\" = tgt.\"tenant\""),
            "{sql}"
        );
        assert!(
            sql.contains("NOT (s.\"id\" IS NULL OR s.\"tenant\" IS NULL)"),
            "{sql}"
        );
        assert!(
            sql.contains("jsonb_build_object('id', coalesce(src.\"id\", tgt.\"id\"), 'tenant', coalesce(src.\"tenant\", tgt.\"tenant\"))"),
            "{sql}"
        );
        assert!(sql.contains("GROUP BY 1, 2"), "{sql}");
    }

    #[test]
    fn buckets_compare_in_one_full_join() {
        let sql = plan().compare_buckets();
        assert!(
            sql.contains("FROM src FULL JOIN tgt ON src.b = tgt.b"),
            "{sql}"
        );
        assert!(
            sql.contains(
                "FILTER (WHERE src.n IS DISTINCT FROM tgt.n OR src.c IS DISTINCT FROM tgt.c)"
            ),
            "{sql}"
        );
    }

    #[test]
    fn only_differing_buckets_are_read_key_by_key() {
        let sql = plan().differing_keys();
        assert_eq!(
            sql.matches("= ANY ($1::pg_catalog.int8[])").count(),
            2,
            "{sql}"
        );
        assert!(sql.contains("CASE WHEN tgt.n IS NULL THEN 'missing' WHEN src.n IS NULL THEN 'extra' ELSE 'changed' END"), "{sql}");
    }

    #[test]
    fn repair_quarantines_what_it_deletes_and_what_it_writes() {
        let p = plan();
        let del = p.repair_delete("verify_repair");
        assert!(
            del.contains("DELETE FROM \"dw\".\"t\" t USING k WHERE t.\"id\" = k.\"id\""),
            "{del}"
        );
        assert!(
            del.contains("jsonb_populate_recordset(NULL::\"dw\".\"t\", $1::pg_catalog.jsonb)"),
            "{del}"
        );
        assert!(del.contains("g.row_data, 'verify_repair'"), "{del}");
        let ins = p.repair_insert(&["id".into(), "doc".into()]);
        assert!(ins.contains("INSERT INTO \"dw\".\"t\" AS t (\"id\", \"doc\") SELECT s.\"id\", s.\"doc\" FROM (SELECT"), "{ins}");
        assert!(
            ins.contains("JOIN k ON (s.\"id\")::integer = k.\"id\""),
            "{ins}"
        );
        assert!(ins.contains("= ANY ($4::pg_catalog.int8[])"), "{ins}");
        assert!(
            ins.contains("'null'::pg_catalog.json, a.after_data"),
            "{ins}"
        );
    }
}
