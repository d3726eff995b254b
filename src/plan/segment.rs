//! Splitting a run into segments, and the engine differences that shape them.
//!
//! A segment is a slice of the run's source rows that one background worker merges (and
//! checkpoints) in a transaction of its own. Slices never share a key, so segments can run
//! side by side without waiting on each other's rows: a slice is a partition or a block range
//! of a source whose key is unique, a hash slice of the key otherwise, or a Greenplum segment.
//! For full runs each segment also deletes, from its share of the target, rows whose key left
//! the source.

use super::{ident_list, Relation, RunKind, SyncPlan};
use serde::{Deserialize, Serialize};

pub use super::dialect::{Dialect, Engine};

/// `[from, to)` in heap blocks; `None` means unbounded on that side, so consecutive ranges
/// cover every row, including rows added to blocks appended after planning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockRange {
    pub from: Option<u64>,
    pub to: Option<u64>,
}

impl BlockRange {
    /// `count` ranges splitting `blocks` blocks evenly; the first starts at the beginning, the
    /// last is open-ended.
    pub fn split(blocks: u64, count: u32) -> Vec<BlockRange> {
        let count = u64::from(count.max(1));
        let bound = |i: u64| blocks * i / count;
        (0..count)
            .map(|i| BlockRange {
                from: (i > 0).then(|| bound(i)),
                to: (i + 1 < count).then(|| bound(i + 1)),
            })
            .collect()
    }

    /// `ctid` predicate for `alias` (a bare column reference without one).
    fn predicate(&self, alias: Option<&str>) -> String {
        let ctid = match alias {
            Some(a) => format!("{a}.ctid"),
            None => "ctid".into(),
        };
        let mut parts = Vec::new();
        if let Some(from) = self.from {
            parts.push(format!("{ctid} >= '({from},0)'::pg_catalog.tid"));
        }
        if let Some(to) = self.to {
            parts.push(format!("{ctid} < '({to},0)'::pg_catalog.tid"));
        }
        if parts.is_empty() {
            "true".into()
        } else {
            parts.join(" AND ")
        }
    }
}

/// The source rows one segment reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Slice {
    /// Read this leaf partition instead of the partitioned source.
    Partition { schema: String, name: String },
    /// Rows whose key hashes to `index` of `count`.
    Hash { index: u32, count: u32 },
    /// Rows stored in this range of the source's heap blocks.
    Blocks(BlockRange),
    /// Rows stored on one Greenplum segment.
    GpSegment(u32),
    /// Rows whose key lies in a range given by parameters: one backfill batch.
    KeyRange(super::backfill::KeyRange),
}

/// The target rows a full run's segment checks for keys gone from the source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TargetShare {
    Blocks(BlockRange),
    GpSegment(u32),
}

/// One segment of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    /// 1-based, as shown in `insync.segments` and worker names.
    pub number: u32,
    pub slice: Slice,
    /// Full runs only: where this segment deletes target rows whose key left the source.
    pub target_share: Option<TargetShare>,
}

impl Segment {
    /// Short description for `insync.segments` and messages.
    pub fn describe(&self, keys: &[String]) -> String {
        let source = match &self.slice {
            Slice::Partition { schema, name } => {
                format!("partition {}", Relation::new(schema, name).sql())
            }
            Slice::Hash { index, count } => format!(
                "hash slice {} of {count} of ({})",
                index + 1,
                ident_list(keys, None)
            ),
            Slice::Blocks(r) => format!("source blocks {}", describe_range(r)),
            Slice::GpSegment(i) => format!("gp_segment_id {i}"),
            Slice::KeyRange(range) => range.describe(keys),
        };
        match &self.target_share {
            Some(TargetShare::Blocks(r)) => {
                format!("{source}; target blocks {}", describe_range(r))
            }
            Some(TargetShare::GpSegment(i)) => format!("{source}; target gp_segment_id {i}"),
            None => source,
        }
    }
}

fn describe_range(r: &BlockRange) -> String {
    match (r.from, r.to) {
        (None, None) => "all".into(),
        (None, Some(to)) => format!("0-{}", to.saturating_sub(1)),
        (Some(from), None) => format!("{from}-end"),
        (Some(from), Some(to)) => format!("{from}-{}", to.saturating_sub(1)),
    }
}

/// What the segment planner knows about the relations, read from the live catalog.
#[derive(Debug, Clone, Default)]
pub struct Shape {
    /// Leaf partitions of a partitioned source (empty otherwise).
    pub partitions: Vec<Relation>,
    /// Heap blocks of a plain source table (0 for views, foreign and partitioned tables).
    pub source_blocks: u64,
    /// Heap blocks of the target (0 when partitioned).
    pub target_blocks: u64,
}

/// Splits a run into segments that fit the source. `count` is the parallel degree asked for;
/// a partitioned source gets one segment per partition whatever it is.
pub fn plan_segments(
    plan: &SyncPlan,
    dialect: &Dialect,
    kind: RunKind,
    shape: &Shape,
    count: u32,
) -> Vec<Segment> {
    let count = count.max(1);
    // Partitions and block ranges slice rows, not keys: only safe when a key appears once.
    let rows_are_keys = !plan.needs_latest();
    let slices: Vec<Slice> = if dialect.mpp() && dialect.gp_segments > 0 {
        (0..dialect.gp_segments).map(Slice::GpSegment).collect()
    } else if rows_are_keys && !shape.partitions.is_empty() {
        shape
            .partitions
            .iter()
            .map(|p| Slice::Partition {
                schema: p.schema.clone(),
                name: p.name.clone(),
            })
            .collect()
    } else if rows_are_keys
        && kind == RunKind::Full
        && dialect.tid_range_scan
        && shape.source_blocks >= u64::from(count)
    {
        BlockRange::split(shape.source_blocks, count)
            .into_iter()
            .map(Slice::Blocks)
            .collect()
    } else {
        (0..count)
            .map(|index| Slice::Hash { index, count })
            .collect()
    };
    let total = slices.len() as u32;
    let shares: Vec<Option<TargetShare>> = if kind != RunKind::Full {
        vec![None; slices.len()]
    } else if dialect.mpp() {
        (0..total)
            .map(|i| Some(TargetShare::GpSegment(i)))
            .collect()
    } else {
        BlockRange::split(shape.target_blocks, total)
            .into_iter()
            .map(|r| Some(TargetShare::Blocks(r)))
            .collect()
    };
    slices
        .into_iter()
        .zip(shares)
        .enumerate()
        .map(|(i, (slice, target_share))| Segment {
            number: i as u32 + 1,
            slice,
            target_share,
        })
        .collect()
}

impl SyncPlan {
    /// The source relation a slice reads from, and the predicate (over its bare columns)
    /// that restricts it to the slice.
    pub(super) fn slice_source(&self, slice: &Slice) -> (Relation, Option<String>) {
        match slice {
            Slice::Partition { schema, name } => (Relation::new(schema, name), None),
            Slice::Hash { index, count } => {
                let keys = ident_list(&self.keys, None);
                let hash = if self.dialect.record_hash {
                    format!("pg_catalog.hash_record_extended(ROW({keys}), 0)")
                } else {
                    format!("pg_catalog.hashtextextended(ROW({keys})::pg_catalog.text, 0)")
                };
                (
                    self.source.clone(),
                    Some(format!("pg_catalog.abs({hash} % {count}) = {index}")),
                )
            }
            Slice::Blocks(range) => (self.source.clone(), Some(range.predicate(None))),
            Slice::GpSegment(i) => (self.source.clone(), Some(format!("gp_segment_id = {i}"))),
            Slice::KeyRange(range) => (self.source.clone(), range.predicate(&self.keys)),
        }
    }

    /// Predicate over target alias `t` for a full run's share of the target.
    pub(super) fn target_share_predicate(share: &TargetShare) -> String {
        match share {
            TargetShare::Blocks(range) => range.predicate(Some("t")),
            TargetShare::GpSegment(i) => format!("t.gp_segment_id = {i}"),
        }
    }

    /// One segment's merge: the run's statement restricted to the segment's slice (same
    /// result columns as [`SyncPlan::merge_statement`]).
    pub fn segment_merge_statement(
        &self,
        kind: RunKind,
        window: super::Window,
        segment: &Segment,
    ) -> String {
        self.merge_statement_for(kind, window, Some(segment))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::tests::customer_plan;
    use crate::plan::{MergeStrategy, Window};

    fn pg() -> Dialect {
        Dialect::postgres(150020)
    }

    #[test]
    fn block_ranges_cover_every_block_once_and_stay_open_at_the_end() {
        let ranges = BlockRange::split(10, 3);
        assert_eq!(
            ranges,
            vec![
                BlockRange {
                    from: None,
                    to: Some(3)
                },
                BlockRange {
                    from: Some(3),
                    to: Some(6)
                },
                BlockRange {
                    from: Some(6),
                    to: None
                },
            ]
        );
        assert_eq!(
            BlockRange::split(0, 1),
            vec![BlockRange {
                from: None,
                to: None
            }]
        );
        assert_eq!(
            ranges[1].predicate(Some("t")),
            "t.ctid >= '(3,0)'::pg_catalog.tid AND t.ctid < '(6,0)'::pg_catalog.tid"
        );
        assert_eq!(ranges[2].predicate(None), "ctid >= '(6,0)'::pg_catalog.tid");
    }

    #[test]
    fn incremental_windows_split_by_hash_of_the_key() {
        let segs = plan_segments(
            &customer_plan(),
            &pg(),
            RunKind::Incremental,
            &Shape::default(),
            4,
        );
        assert_eq!(segs.len(), 4);
        assert_eq!(segs[2].slice, Slice::Hash { index: 2, count: 4 });
        assert!(segs.iter().all(|s| s.target_share.is_none()));
        let sql =
            customer_plan().segment_merge_statement(RunKind::Incremental, Window::Range, &segs[2]);
        assert!(sql.contains(
            "FROM (SELECT * FROM \"ods\".\"customer\" WHERE pg_catalog.abs(pg_catalog.hash_record_extended(ROW(\"customer_id\"), 0) % 4) = 2) s \
             WHERE s.\"updated_at\" > $1"
        ), "{sql}");
        assert_eq!(
            segs[2].describe(&customer_plan().keys),
            "hash slice 3 of 4 of (\"customer_id\")"
        );
    }

    #[test]
    fn full_runs_of_plain_tables_split_by_blocks_and_share_the_target_deletes() {
        let shape = Shape {
            source_blocks: 1000,
            target_blocks: 800,
            ..Default::default()
        };
        let plan = customer_plan();
        let segs = plan_segments(&plan, &pg(), RunKind::Full, &shape, 2);
        assert_eq!(
            segs[0].slice,
            Slice::Blocks(BlockRange {
                from: None,
                to: Some(500)
            })
        );
        assert_eq!(
            segs[1].target_share,
            Some(TargetShare::Blocks(BlockRange {
                from: Some(400),
                to: None
            }))
        );
        let sql = plan.segment_merge_statement(RunKind::Full, Window::Everything, &segs[1]);
        assert!(sql.contains("FROM (SELECT * FROM \"ods\".\"customer\" WHERE ctid >= '(500,0)'::pg_catalog.tid) s"), "{sql}");
        // Deletes check the whole source, not just this segment's slice of it.
        assert!(sql.contains(
            "gone AS (DELETE FROM \"dw\".\"customer\" t WHERE t.ctid >= '(400,0)'::pg_catalog.tid \
             AND NOT EXISTS (SELECT 1 FROM \"ods\".\"customer\" s WHERE s.\"customer_id\" = t.\"customer_id\") RETURNING 1)"
        ), "{sql}");
        assert_eq!(
            segs[1].describe(&plan.keys),
            "source blocks 500-end; target blocks 400-end"
        );
    }

    #[test]
    fn a_source_with_repeated_keys_is_never_split_by_rows() {
        let mut plan = customer_plan();
        plan.source_key_unique = false;
        let shape = Shape {
            source_blocks: 1000,
            partitions: vec![Relation::new("ods", "customer_1")],
            ..Default::default()
        };
        let segs = plan_segments(&plan, &pg(), RunKind::Full, &shape, 2);
        assert!(
            segs.iter().all(|s| matches!(s.slice, Slice::Hash { .. })),
            "{segs:?}"
        );
    }

    #[test]
    fn partitioned_sources_get_one_segment_per_partition() {
        let shape = Shape {
            partitions: vec![
                Relation::new("ods", "customer_2025"),
                Relation::new("ods", "customer_2026"),
                Relation::new("ods", "customer_2027"),
            ],
            ..Default::default()
        };
        let plan = customer_plan();
        let segs = plan_segments(&plan, &pg(), RunKind::Incremental, &shape, 2);
        assert_eq!(segs.len(), 3);
        let sql = plan.segment_merge_statement(RunKind::Incremental, Window::Range, &segs[1]);
        assert!(
            sql.contains("FROM \"ods\".\"customer_2026\" s WHERE"),
            "{sql}"
        );
        assert!(!sql.contains("\"ods\".\"customer\" "), "{sql}");
    }

    #[test]
    fn filters_apply_inside_the_slice() {
        let mut plan = customer_plan();
        plan.filter = Some("region = 'eu'".into());
        let seg = Segment {
            number: 1,
            slice: Slice::Hash { index: 0, count: 2 },
            target_share: None,
        };
        let sql = plan.segment_merge_statement(RunKind::Incremental, Window::Range, &seg);
        assert!(sql.contains(
            "FROM (SELECT * FROM \"ods\".\"customer\" WHERE pg_catalog.abs(pg_catalog.hash_record_extended(ROW(\"customer_id\"), 0) % 2) = 0 AND (\nregion = 'eu'\n)) s"
        ), "{sql}");
    }

    #[test]
    fn segment_delete_insert_compares_its_slice_with_the_target_through_a_full_join() {
        let mut plan = customer_plan();
        plan.strategy = MergeStrategy::DeleteInsert;
        let seg = Segment {
            number: 2,
            slice: Slice::Hash { index: 1, count: 2 },
            target_share: None,
        };
        let sql = plan.segment_merge_statement(RunKind::Incremental, Window::Range, &seg);
        assert!(
            sql.starts_with("WITH src AS MATERIALIZED (SELECT s."),
            "{sql}"
        );
        assert!(
            sql.contains("FROM src FULL JOIN \"dw\".\"customer\" t ON t.\"customer_id\" = src.\"customer_id\" AND NOT"),
            "{sql}"
        );
        assert!(
            sql.contains("replaced AS (DELETE FROM \"dw\".\"customer\" t USING (SELECT DISTINCT"),
            "{sql}"
        );
        assert!(!sql.contains("NOT EXISTS"), "{sql}");
        // A full run's segment also deletes, from its share of the target, keys gone from the source.
        let seg = Segment {
            number: 1,
            slice: Slice::Blocks(BlockRange {
                from: None,
                to: Some(10),
            }),
            target_share: Some(TargetShare::Blocks(BlockRange {
                from: None,
                to: Some(8),
            })),
        };
        let sql = plan.segment_merge_statement(RunKind::Full, Window::Everything, &seg);
        assert!(sql.contains("diff AS MATERIALIZED (SELECT d."), "{sql}");
        // Everything is compared: no one-time filter, and the slice is not materialized.
        assert!(sql.contains(" OFFSET 0) d WHERE"), "{sql}");
        assert!(!sql.contains("EXISTS (SELECT FROM src)"), "{sql}");
        assert!(sql.starts_with("WITH src AS NOT MATERIALIZED"), "{sql}");
        assert!(sql.contains(
            "gone AS (DELETE FROM \"dw\".\"customer\" t WHERE t.ctid < '(8,0)'::pg_catalog.tid AND NOT EXISTS"
        ), "{sql}");
    }

    #[test]
    fn greenplum_slices_by_segment_and_merges_without_on_conflict_before_7() {
        let gp6 = Dialect::from_catalog(90426, true, 4);
        assert_eq!(gp6.engine, Engine::Greenplum6);
        assert!(!gp6.on_conflict && !gp6.tid_range_scan);
        let gp7 = Dialect::from_catalog(120012, true, 4);
        assert!(gp7.on_conflict);
        let mut plan = customer_plan();
        plan.strategy = MergeStrategy::DeleteInsert; // what execute picks when !on_conflict
        let shape = Shape {
            source_blocks: 1000,
            target_blocks: 1000,
            ..Default::default()
        };
        let segs = plan_segments(&plan, &gp6, RunKind::Full, &shape, 2);
        assert_eq!(
            segs.len(),
            4,
            "one per Greenplum segment, not per requested worker"
        );
        let sql = plan.segment_merge_statement(RunKind::Full, Window::Everything, &segs[3]);
        assert!(
            sql.contains("FROM (SELECT * FROM \"ods\".\"customer\" WHERE gp_segment_id = 3) s"),
            "{sql}"
        );
        assert!(
            sql.contains(
                "DELETE FROM \"dw\".\"customer\" t WHERE t.gp_segment_id = 3 AND NOT EXISTS"
            ),
            "{sql}"
        );
        assert!(!sql.contains("ON CONFLICT"), "{sql}");
        assert!(!sql.contains("ctid"), "{sql}");
        assert_eq!(
            segs[3].describe(&plan.keys),
            "gp_segment_id 3; target gp_segment_id 3"
        );
        // Rows are distributed by key on Greenplum: an update must never assign a key column.
        for p in [customer_plan(), plan.clone()] {
            assert!(p.non_key_columns().all(|c| !p.keys.contains(&c.name)));
        }
    }

    #[test]
    fn postgres_before_14_has_no_tid_range_scans_so_full_runs_hash() {
        let shape = Shape {
            source_blocks: 1000,
            ..Default::default()
        };
        let segs = plan_segments(
            &customer_plan(),
            &Dialect::postgres(130012),
            RunKind::Full,
            &shape,
            2,
        );
        assert!(matches!(segs[0].slice, Slice::Hash { .. }));
        assert!(Dialect::from_catalog(150020, false, 0) == pg());
        // hash_record_extended arrived in PostgreSQL 14: before it the key's text is hashed.
        let mut plan = customer_plan();
        plan.dialect = Dialect::postgres(130012);
        let (_, predicate) = plan.slice_source(&segs[0].slice);
        let predicate = predicate.unwrap_or_default();
        assert!(
            predicate
                .contains("pg_catalog.hashtextextended(ROW(\"customer_id\")::pg_catalog.text, 0)"),
            "{predicate}"
        );
        assert!(!predicate.contains("hash_record_extended"), "{predicate}");
    }

    #[test]
    fn segments_survive_a_round_trip_through_the_catalog() {
        let seg = Segment {
            number: 2,
            slice: Slice::Partition {
                schema: "ods".into(),
                name: "c\"1".into(),
            },
            target_share: Some(TargetShare::Blocks(BlockRange {
                from: Some(4),
                to: None,
            })),
        };
        let json = serde_json::to_string(&seg).unwrap();
        assert_eq!(serde_json::from_str::<Segment>(&json).unwrap(), seg);
    }
}
