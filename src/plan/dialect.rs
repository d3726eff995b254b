//! The engine insync's SQL is generated for, and what each engine accepts.
//!
//! One [`Dialect`] value is detected from the catalog once per backend (see
//! `resolve::detect_dialect`) and carried in every plan; every engine difference the generated
//! SQL depends on is a field here, so each engine's SQL is unit-tested without its server.
//! Greenplum-family facts were desk-checked against the Greenplum 6/7 and Apache Cloudberry
//! sources and documentation (no such server runs on these machines).

/// The engine family and major line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// PostgreSQL (13 and later are what pgrx builds for).
    Postgres,
    /// Greenplum 6 (PostgreSQL 9.4 kernel).
    Greenplum6,
    /// Greenplum 7 (PostgreSQL 12 kernel).
    Greenplum7,
    /// Apache Cloudberry (PostgreSQL 14 kernel).
    Cloudberry,
}

impl Engine {
    pub fn name(self) -> &'static str {
        match self {
            Engine::Postgres => "PostgreSQL",
            Engine::Greenplum6 => "Greenplum 6",
            Engine::Greenplum7 => "Greenplum 7",
            Engine::Cloudberry => "Apache Cloudberry",
        }
    }
}

/// Which engine a run talks to, and what its SQL may use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dialect {
    pub engine: Engine,
    /// The PostgreSQL kernel's `server_version_num` (90426 on Greenplum 6.x, ...).
    pub kernel: u32,
    /// `INSERT ... ON CONFLICT` exists (PostgreSQL 9.5+ kernels: not Greenplum 6).
    pub on_conflict: bool,
    /// `WITH x AS [NOT] MATERIALIZED` is accepted (PostgreSQL 12+ kernels).
    pub as_materialized: bool,
    /// More than one data-modifying statement may share one `WITH` (PostgreSQL only: every
    /// Greenplum-family engine allows one writer per statement), so a merge can be one
    /// statement; otherwise it runs as statement-per-step (see `plan::steps`).
    pub writers_per_with: bool,
    /// `GENERATED ... AS IDENTITY` columns (PostgreSQL 10+ kernels).
    pub identity_columns: bool,
    /// Row-level security policies (PostgreSQL 9.5+ kernels).
    pub row_level_security: bool,
    /// `REFERENCES ... ON DELETE/UPDATE CASCADE` is enforced (Greenplum-family engines accept
    /// foreign keys but do not enforce them: the cascades are written out in code there).
    pub enforces_foreign_keys: bool,
    /// `ctid` ranges are served by a TID range scan (PostgreSQL 14+); without it a block-range
    /// slice would scan the whole table, so hash slices are used instead. Never on MPP engines,
    /// where a ctid is only unique within one segment.
    pub tid_range_scan: bool,
    /// `hash_record_extended` exists (PostgreSQL 14+); before it, hash slices hash the key's
    /// text with `hashtextextended` (PostgreSQL 11+).
    pub record_hash: bool,
    /// The 64-bit hash functions (`hashint4extended`, `hashtextextended`, ...: PostgreSQL 11+
    /// kernels) verify's bucket checksums use: not on Greenplum 6.
    pub extended_hashes: bool,
    /// Greenplum-family: number of primary segments; rows live on `gp_segment_id` 0..n-1.
    pub gp_segments: u32,
}

impl Dialect {
    /// PostgreSQL of the given `server_version_num`.
    pub fn postgres(kernel: u32) -> Self {
        Dialect {
            engine: Engine::Postgres,
            kernel,
            on_conflict: kernel >= 90500,
            as_materialized: kernel >= 120000,
            writers_per_with: true,
            identity_columns: kernel >= 100000,
            row_level_security: kernel >= 90500,
            enforces_foreign_keys: true,
            tid_range_scan: kernel >= 140000,
            record_hash: kernel >= 140000,
            extended_hashes: kernel >= 110000,
            gp_segments: 0,
        }
    }

    /// A Greenplum-family cluster: the line follows from its PostgreSQL kernel (Greenplum 6 is
    /// 9.4 based, Greenplum 7 12 based, Cloudberry 14 based).
    pub fn greenplum_family(kernel: u32, segments: u32) -> Self {
        let engine = if kernel < 120000 {
            Engine::Greenplum6
        } else if kernel < 140000 {
            Engine::Greenplum7
        } else {
            Engine::Cloudberry
        };
        Dialect {
            engine,
            kernel,
            on_conflict: kernel >= 90500,
            as_materialized: kernel >= 120000,
            writers_per_with: false,
            identity_columns: kernel >= 100000,
            row_level_security: kernel >= 90500,
            enforces_foreign_keys: false,
            tid_range_scan: false,
            record_hash: kernel >= 140000,
            extended_hashes: kernel >= 110000,
            gp_segments: segments,
        }
    }

    /// The dialect from what the catalog says: the kernel's `server_version_num`, whether
    /// `pg_catalog.gp_segment_configuration` exists (only Greenplum-family engines have it),
    /// and their number of primary segments.
    pub fn from_catalog(kernel: u32, gp_segment_configuration: bool, segments: u32) -> Self {
        if gp_segment_configuration {
            Self::greenplum_family(kernel, segments)
        } else {
            Self::postgres(kernel)
        }
    }

    /// An MPP engine: rows live on segments, one statement already runs on all of them.
    pub fn mpp(&self) -> bool {
        self.engine != Engine::Postgres
    }

    /// `AS MATERIALIZED` / `AS NOT MATERIALIZED` where the engine has them, nothing otherwise
    /// (a kernel before 12 always materializes a CTE that is read twice).
    pub fn materialized(&self, materialized: bool) -> &'static str {
        match (self.as_materialized, materialized) {
            (false, _) => "",
            (true, true) => " MATERIALIZED",
            (true, false) => " NOT MATERIALIZED",
        }
    }

    /// A row's identity in queries that find rows again by it (dedup, remap): `ctid` on
    /// PostgreSQL; `(gp_segment_id, ctid)` on MPP engines, where a ctid is unique only within
    /// its segment. `None` where rows have no stable physical identity (append-optimized tables
    /// have no TID scans): those are identified by key or refused.
    pub fn row_identity(&self, alias: &str, append_optimized: bool) -> Option<String> {
        match (self.mpp(), append_optimized) {
            (false, _) => Some(format!("{alias}.ctid")),
            (true, false) => Some(format!("({alias}.gp_segment_id, {alias}.ctid)")),
            (true, true) => None,
        }
    }

    /// The `DISTRIBUTED ...` clause a table created by insync gets (empty on PostgreSQL).
    pub fn distributed(&self, distribution: &Distribution) -> String {
        if !self.mpp() {
            return String::new();
        }
        match distribution {
            Distribution::Hash(cols) if !cols.is_empty() => {
                format!(" DISTRIBUTED BY ({})", super::ident_list(cols, None))
            }
            // Greenplum 6.0 introduced replicated tables; Greenplum 7 and Cloudberry keep them.
            Distribution::Replicated => " DISTRIBUTED REPLICATED".into(),
            _ => " DISTRIBUTED RANDOMLY".into(),
        }
    }

    /// The query reading a table's access method and distribution (`$1` = its OID), one row:
    /// `access_method text, policy "char", distkey text[]` (policy and distkey NULL on
    /// PostgreSQL). Greenplum 6 stores the storage kind in `pg_class.relstorage` (`a` = row,
    /// `c` = column-oriented append-optimized, `h` = heap); Greenplum 7 and Cloudberry name it
    /// through `pg_am` (`ao_row`, `ao_column`). Greenplum 6+ keep the key as
    /// `gp_distribution_policy.distkey` (int2vector), empty for DISTRIBUTED RANDOMLY; the
    /// policy is `p` (partitioned) or `r` (replicated).
    pub fn table_storage_query(&self) -> String {
        let access_method = match self.engine {
            Engine::Greenplum6 => {
                "(SELECT CASE c.relstorage WHEN 'a' THEN 'ao_row' WHEN 'c' THEN 'ao_column' \
                 WHEN 'h' THEN 'heap' ELSE c.relstorage::text END \
                 FROM pg_catalog.pg_class c WHERE c.oid = $1)"
            }
            _ => {
                "(SELECT a.amname::text FROM pg_catalog.pg_class c \
                 JOIN pg_catalog.pg_am a ON a.oid = c.relam WHERE c.oid = $1)"
            }
        };
        if !self.mpp() {
            return format!("SELECT {access_method}, NULL::\"char\", NULL::pg_catalog.text[]");
        }
        format!(
            "SELECT {access_method}, p.policytype, \
             ARRAY(SELECT a.attname::text FROM pg_catalog.unnest(p.distkey::pg_catalog.int2[]) WITH ORDINALITY k(attnum, n) \
                   JOIN pg_catalog.pg_attribute a ON a.attrelid = p.localoid AND a.attnum = k.attnum ORDER BY k.n) \
             FROM pg_catalog.gp_distribution_policy p WHERE p.localoid = $1"
        )
    }

    /// Why a run asked to go parallel runs as one statement sequence instead (MPP engines),
    /// said in a NOTICE; `None` on PostgreSQL, where segment workers parallelize the DML.
    pub fn serial_reason(&self) -> Option<String> {
        self.mpp().then(|| {
            format!(
                "on {} each statement already runs on all {} segments at once; a run is one distributed statement sequence",
                self.engine.name(),
                self.gp_segments
            )
        })
    }

    /// The query counting primary segments (Greenplum-family engines).
    pub fn segment_count_query() -> &'static str {
        "SELECT pg_catalog.count(*) FROM pg_catalog.gp_segment_configuration WHERE role = 'p' AND content >= 0"
    }
}

/// How a table's rows are spread over an MPP cluster's segments.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Distribution {
    /// PostgreSQL: one node.
    #[default]
    Single,
    /// `DISTRIBUTED BY (columns)`.
    Hash(Vec<String>),
    /// `DISTRIBUTED RANDOMLY`.
    Random,
    /// `DISTRIBUTED REPLICATED` (Greenplum 6+: a full copy on every segment).
    Replicated,
}

impl Distribution {
    /// From `gp_distribution_policy`'s policy type and key column names.
    pub fn from_policy(policy: Option<char>, keys: Vec<String>) -> Self {
        match policy {
            None => Distribution::Single,
            Some('r') => Distribution::Replicated,
            Some(_) if keys.is_empty() => Distribution::Random,
            Some(_) => Distribution::Hash(keys),
        }
    }

    /// Key columns (hash distribution only).
    pub fn columns(&self) -> &[String] {
        match self {
            Distribution::Hash(cols) => cols,
            _ => &[],
        }
    }
}

/// A table's storage as the planner needs it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Storage {
    /// `heap`, `ao_row`, `ao_column`, ...
    pub access_method: String,
    pub distribution: Distribution,
}

impl Storage {
    pub fn heap() -> Self {
        Storage {
            access_method: "heap".into(),
            distribution: Distribution::Single,
        }
    }

    /// Append-optimized (row or column): no `ON CONFLICT`, no `DELETE ... RETURNING`, no TID
    /// scans.
    pub fn append_optimized(&self) -> bool {
        matches!(
            self.access_method.as_str(),
            "ao_row" | "ao_column" | "appendoptimized" | "aoco"
        )
    }
}

/// Whether a target can be merged with `INSERT ... ON CONFLICT` (given a unique index on the
/// job key): the engine has it (not Greenplum 6), the access method allows it (append-optimized
/// tables refuse it), and no distribution-key column could be updated in place (a target
/// distributed by a column outside the job key is merged by delete+insert).
pub fn upsert_allowed(dialect: &Dialect, target: &Storage, keys: &[String]) -> bool {
    dialect.on_conflict
        && !target.append_optimized()
        && target
            .distribution
            .columns()
            .iter()
            .all(|c| keys.contains(c))
}

/// Why a job's relations are not co-located on an MPP engine (rows then cross the
/// interconnect in every run), or `None` when source, target and job key line up.
pub fn co_location_problem(
    source: &Distribution,
    target: &Distribution,
    keys: &[String],
) -> Option<String> {
    let within_keys = |cols: &[String]| !cols.is_empty() && cols.iter().all(|c| keys.contains(c));
    let describe = |d: &Distribution| match d {
        Distribution::Single => "not distributed".to_string(),
        Distribution::Hash(cols) => format!("distributed by ({})", cols.join(", ")),
        Distribution::Random => "distributed randomly".into(),
        Distribution::Replicated => "replicated".into(),
    };
    match target {
        Distribution::Single => None,
        Distribution::Replicated => None,
        Distribution::Hash(cols) if !within_keys(cols) => Some(format!(
            "the target is {} but the job key is ({}): each run moves rows between segments",
            describe(target),
            keys.join(", ")
        )),
        Distribution::Random => Some(format!(
            "the target is distributed randomly: each run compares every key across segments; distribute it by ({})",
            keys.join(", ")
        )),
        _ if source != target && !matches!(source, Distribution::Replicated) => Some(format!(
            "the source is {} and the target {}: each run redistributes the source's rows",
            describe(source),
            describe(target)
        )),
        _ => None,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Every engine insync generates SQL for, as the catalog would report it.
    pub fn engines() -> Vec<Dialect> {
        vec![
            Dialect::from_catalog(130012, false, 0),
            Dialect::from_catalog(140009, false, 0),
            Dialect::from_catalog(150020, false, 0),
            Dialect::from_catalog(160004, false, 0),
            Dialect::from_catalog(170002, false, 0),
            Dialect::from_catalog(90426, true, 4),
            Dialect::from_catalog(120012, true, 4),
            Dialect::from_catalog(140004, true, 4),
        ]
    }

    #[test]
    fn the_catalog_decides_the_engine() {
        let e: Vec<Engine> = engines().iter().map(|d| d.engine).collect();
        assert_eq!(
            e,
            vec![
                Engine::Postgres,
                Engine::Postgres,
                Engine::Postgres,
                Engine::Postgres,
                Engine::Postgres,
                Engine::Greenplum6,
                Engine::Greenplum7,
                Engine::Cloudberry
            ]
        );
        let gp6 = Dialect::from_catalog(90426, true, 4);
        assert!(!gp6.on_conflict && !gp6.as_materialized && !gp6.identity_columns);
        assert!(!gp6.row_level_security && !gp6.writers_per_with && !gp6.extended_hashes);
        let gp7 = Dialect::from_catalog(120012, true, 4);
        assert!(gp7.on_conflict && gp7.as_materialized && gp7.identity_columns);
        assert!(!gp7.writers_per_with && !gp7.enforces_foreign_keys && !gp7.tid_range_scan);
        let cb = Dialect::from_catalog(140004, true, 8);
        assert_eq!((cb.engine, cb.gp_segments), (Engine::Cloudberry, 8));
        assert!(cb.record_hash && !cb.tid_range_scan);
        let pg13 = Dialect::from_catalog(130012, false, 0);
        assert!(pg13.writers_per_with && pg13.on_conflict && !pg13.tid_range_scan);
        assert!(!Dialect::postgres(150020).mpp() && gp6.mpp());
    }

    #[test]
    fn mpp_runs_say_why_they_are_one_statement_sequence() {
        assert_eq!(Dialect::postgres(150000).serial_reason(), None);
        assert_eq!(
            Dialect::from_catalog(120012, true, 16).serial_reason().as_deref(),
            Some("on Greenplum 7 each statement already runs on all 16 segments at once; a run is one distributed statement sequence")
        );
    }

    #[test]
    fn row_identity_needs_the_segment_on_mpp_and_a_heap() {
        let pg = Dialect::postgres(150000);
        assert_eq!(pg.row_identity("t", false).as_deref(), Some("t.ctid"));
        for d in engines().iter().filter(|d| d.mpp()) {
            assert_eq!(
                d.row_identity("t", false).as_deref(),
                Some("(t.gp_segment_id, t.ctid)")
            );
            assert_eq!(d.row_identity("t", true), None);
        }
    }

    #[test]
    fn materialized_only_where_the_grammar_has_it() {
        assert_eq!(
            Dialect::postgres(150000).materialized(false),
            " NOT MATERIALIZED"
        );
        assert_eq!(Dialect::from_catalog(90426, true, 2).materialized(true), "");
        assert_eq!(
            Dialect::from_catalog(120012, true, 2).materialized(true),
            " MATERIALIZED"
        );
    }

    #[test]
    fn distribution_clauses_per_engine() {
        let by = Distribution::Hash(vec!["job_id".into()]);
        assert_eq!(Dialect::postgres(150000).distributed(&by), "");
        let gp6 = Dialect::from_catalog(90426, true, 2);
        let gp7 = Dialect::from_catalog(120012, true, 2);
        assert_eq!(gp7.distributed(&by), " DISTRIBUTED BY (\"job_id\")");
        assert_eq!(
            gp7.distributed(&Distribution::Replicated),
            " DISTRIBUTED REPLICATED"
        );
        assert_eq!(
            gp6.distributed(&Distribution::Replicated),
            " DISTRIBUTED REPLICATED"
        );
        assert_eq!(
            gp6.distributed(&Distribution::Random),
            " DISTRIBUTED RANDOMLY"
        );
        assert_eq!(
            Distribution::from_policy(Some('p'), vec![]),
            Distribution::Random
        );
        assert_eq!(
            Distribution::from_policy(Some('r'), vec![]),
            Distribution::Replicated
        );
        assert_eq!(
            Distribution::from_policy(None, vec![]),
            Distribution::Single
        );
    }

    #[test]
    fn storage_queries_read_the_engine_own_catalog() {
        let pg = Dialect::postgres(150000).table_storage_query();
        assert!(
            pg.contains("JOIN pg_catalog.pg_am a ON a.oid = c.relam"),
            "{pg}"
        );
        assert!(!pg.contains("gp_distribution_policy"), "{pg}");
        let gp6 = Dialect::from_catalog(90426, true, 2).table_storage_query();
        assert!(
            gp6.contains("c.relstorage") && !gp6.contains("pg_am"),
            "{gp6}"
        );
        for d in engines().iter().filter(|d| d.mpp()) {
            let q = d.table_storage_query();
            assert!(
                q.contains("FROM pg_catalog.gp_distribution_policy p WHERE p.localoid = $1"),
                "{q}"
            );
            assert!(q.contains("p.distkey::pg_catalog.int2[]"), "{q}");
        }
        assert!(Storage {
            access_method: "ao_column".into(),
            distribution: Distribution::Random
        }
        .append_optimized());
        assert!(!Storage::heap().append_optimized());
    }

    #[test]
    fn co_location_is_checked_against_the_job_key() {
        let keys = vec!["customer_id".to_string()];
        let by = |c: &str| Distribution::Hash(vec![c.to_string()]);
        assert_eq!(
            co_location_problem(&Distribution::Single, &Distribution::Single, &keys),
            None
        );
        assert_eq!(
            co_location_problem(&by("customer_id"), &by("customer_id"), &keys),
            None
        );
        let moved = co_location_problem(&by("customer_id"), &by("region"), &keys).unwrap();
        assert!(
            moved.contains("distributed by (region) but the job key is (customer_id)"),
            "{moved}"
        );
        let src = co_location_problem(&by("region"), &by("customer_id"), &keys).unwrap();
        assert!(src.contains("redistributes the source"), "{src}");
        assert!(co_location_problem(&by("x"), &Distribution::Random, &keys).is_some());
        assert_eq!(
            co_location_problem(&Distribution::Replicated, &by("customer_id"), &keys),
            None
        );
    }
}
