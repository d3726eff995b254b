-- insync 0.3.0 -> 0.4.0
\echo Use "ALTER EXTENSION insync UPDATE TO '0.4.0'" to load this file. \quit

-- ===== verify: sync_verify, sync_verify_keys, insync.verifications, job_status columns =====
-- (self-contained section: another 0.4.0 change can be appended before or after it)
-- Verifications (sync_verify): each comparison of a job's source and target, its differences
-- and, when asked, the repair that followed. Written by insync only, like insync.runs.
CREATE SEQUENCE insync.verifications_id_seq;
CREATE TABLE insync.verifications (
    verification_id bigint PRIMARY KEY,
    job_name        text NOT NULL,
    owner           regrole NOT NULL,
    run_by          regrole NOT NULL,
    status          text NOT NULL CHECK (status OPERATOR(pg_catalog.=) ANY ('{equal,different,repaired,skipped,failed}'::text[])),
    started_at      timestamptz NOT NULL,
    finished_at     timestamptz,
    source_rows     bigint NOT NULL DEFAULT 0,
    target_rows     bigint NOT NULL DEFAULT 0,
    buckets         integer NOT NULL DEFAULT 0,
    differing_buckets integer NOT NULL DEFAULT 0,
    missing         bigint NOT NULL DEFAULT 0,
    extra           bigint NOT NULL DEFAULT 0,
    changed         bigint NOT NULL DEFAULT 0,
    rows_deleted    bigint NOT NULL DEFAULT 0,
    rows_inserted   bigint NOT NULL DEFAULT 0,
    quarantine_batch bigint,
    error_message   text
);
CREATE INDEX verifications_job_name_id ON insync.verifications (job_name, verification_id DESC);
ALTER TABLE insync.verifications ENABLE ROW LEVEL SECURITY;
CREATE POLICY verifications_of_my_roles ON insync.verifications FOR SELECT
    USING (pg_catalog.pg_has_role(owner, 'USAGE') OR pg_catalog.pg_has_role(run_by, 'USAGE'));
GRANT SELECT ON insync.verifications TO PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('insync.verifications', '');
SELECT pg_catalog.pg_extension_config_dump('insync.verifications_id_seq', '');
COMMENT ON SEQUENCE insync.verifications_id_seq IS 'Verification ids; drawn before a verification starts so a failed one keeps its id';
COMMENT ON TABLE insync.verifications IS 'History of sync_verify: per verification, rows compared, buckets, keys missing, extra and changed, and the repair if one was asked for';
COMMENT ON COLUMN insync.verifications.verification_id IS 'Verification id, drawn from insync.verifications_id_seq';
COMMENT ON COLUMN insync.verifications.job_name IS 'Job whose source and target were compared';
COMMENT ON COLUMN insync.verifications.owner IS 'Owner of the job: the role whose privileges the comparison (and repair) used';
COMMENT ON COLUMN insync.verifications.run_by IS 'Role that called sync_verify';
COMMENT ON COLUMN insync.verifications.status IS 'equal, different (differences found and left), repaired, skipped (a run or verification of the job was in progress), failed (an error)';
COMMENT ON COLUMN insync.verifications.started_at IS 'When the verification started';
COMMENT ON COLUMN insync.verifications.finished_at IS 'When it ended';
COMMENT ON COLUMN insync.verifications.source_rows IS 'Source rows compared (filter and lookups applied as a run reads them; rows with a NULL key left out)';
COMMENT ON COLUMN insync.verifications.target_rows IS 'Target rows compared';
COMMENT ON COLUMN insync.verifications.buckets IS 'Key-hash buckets whose row count and checksum were compared';
COMMENT ON COLUMN insync.verifications.differing_buckets IS 'Buckets whose count or checksum differed: only their rows were compared key by key';
COMMENT ON COLUMN insync.verifications.missing IS 'Keys in the source but not in the target';
COMMENT ON COLUMN insync.verifications.extra IS 'Keys in the target but not in the source';
COMMENT ON COLUMN insync.verifications.changed IS 'Keys in both whose values differ (or that the target holds more than once)';
COMMENT ON COLUMN insync.verifications.rows_deleted IS 'Repair: target rows deleted (extra and changed keys), each kept in the quarantine';
COMMENT ON COLUMN insync.verifications.rows_inserted IS 'Repair: source rows written (missing and changed keys)';
COMMENT ON COLUMN insync.verifications.quarantine_batch IS 'Repair: the quarantine batch; restore_quarantine(batch) undoes the repair';
COMMENT ON COLUMN insync.verifications.error_message IS 'Error raised by a failed verification, or the differences when raise_on_difference raised';
COMMENT ON INDEX insync.verifications_job_name_id IS 'Latest verifications of a job first (job_status)';
COMMENT ON POLICY verifications_of_my_roles ON insync.verifications IS 'A role sees verifications of its jobs and those it made';

-- job_status gains last_verified_at, last_verification and last_differences in the one
-- CREATE OR REPLACE VIEW of the schedules section below (it appends both sections' columns).

-- insync::api::sync_verify
CREATE FUNCTION "sync_verify"(
	"job_name" TEXT, /* Option < & str > */
	"repair" bool DEFAULT false, /* Option < bool > */
	"raise_on_difference" bool DEFAULT false /* Option < bool > */
) RETURNS TABLE (
	"verification_id" bigint,  /* i64 */
	"status" TEXT,  /* String */
	"source_rows" bigint,  /* i64 */
	"target_rows" bigint,  /* i64 */
	"buckets" INT,  /* i32 */
	"differing_buckets" INT,  /* i32 */
	"missing" bigint,  /* i64 */
	"extra" bigint,  /* i64 */
	"changed" bigint,  /* i64 */
	"rows_deleted" bigint,  /* i64 */
	"rows_inserted" bigint,  /* i64 */
	"quarantine_batch" bigint,  /* Option < i64 > */
	"elapsed" interval  /* pgrx :: datum :: Interval */
)
VOLATILE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'sync_verify_wrapper';

-- insync::api::sync_verify_keys
CREATE FUNCTION "sync_verify_keys"(
	"job_name" TEXT, /* Option < & str > */
	"max_keys" INT DEFAULT 1000 /* Option < i32 > */
) RETURNS TABLE (
	"key" jsonb,  /* pgrx :: JsonB */
	"difference" TEXT  /* String */
)
VOLATILE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'sync_verify_keys_wrapper';

COMMENT ON FUNCTION sync_verify(text, boolean, boolean) IS
    'Compares a job''s source and target inside the database (bucket checksums, then the keys of differing buckets) and records it; repair => true rewrites only the differing keys, quarantining what it replaces';
COMMENT ON FUNCTION sync_verify_keys(text, integer) IS 'Verifies like sync_verify and returns the differing keys (missing, extra, changed), at most max_keys';
-- Repairs keep what they wrote and removed in the quarantine.
COMMENT ON COLUMN insync.quarantine.reason IS 'dedup_table: identical, multi_source, versions, distinct_rows; remap_dimension: remapped, merged, merge_target; sync_verify: verify_repair; incremental runs with deletes => verify: deleted_from_source';
-- ===== end of verify =====

-- ===== deletes: a job option making incremental runs delete keys that left the source =====
-- (self-contained section, like the one above)
-- Added without a default, then filled: a default given with ADD COLUMN would be kept as the
-- column's "missing value", which a fresh install's catalog does not have.
ALTER TABLE insync.jobs ADD COLUMN deletes text;
UPDATE insync.jobs SET deletes = 'ignore';
ALTER TABLE insync.jobs ALTER COLUMN deletes SET DEFAULT 'ignore',
    ALTER COLUMN deletes SET NOT NULL,
    ADD CONSTRAINT jobs_deletes_check CHECK (deletes OPERATOR(pg_catalog.=) ANY ('{ignore,verify}'::text[]));
COMMENT ON COLUMN insync.jobs.deletes IS 'ignore, or verify: incremental runs also delete (into the quarantine) target rows whose key left the source, found by a key-only bucket comparison';

DROP FUNCTION sync_define(text, text, text, text[], text, text, text, text[], text, text, text[], jsonb, text, text);
CREATE FUNCTION "sync_define"(
	"job_name" TEXT, /* Option < & str > */
	"source" TEXT, /* Option < & str > */
	"target" TEXT, /* Option < & str > */
	"key" TEXT[], /* :: std :: option :: Option < Vec < Option < String > > > */
	"watermark" TEXT DEFAULT NULL, /* Option < String > */
	"mode" TEXT DEFAULT 'incremental', /* Option < String > */
	"watermark_source" TEXT DEFAULT NULL, /* Option < String > */
	"watermark_join" TEXT[] DEFAULT NULL, /* :: std :: option :: Option < Vec < Option < String > > > */
	"source_filter" TEXT DEFAULT NULL, /* Option < String > */
	"lookback" TEXT DEFAULT NULL, /* Option < String > */
	"columns" TEXT[] DEFAULT NULL, /* :: std :: option :: Option < Vec < Option < String > > > */
	"lookups" jsonb DEFAULT NULL, /* Option < pgrx :: JsonB > */
	"parallel" TEXT DEFAULT NULL, /* Option < String > */
	"source_timezone" TEXT DEFAULT NULL, /* Option < String > */
	"deletes" TEXT DEFAULT NULL /* Option < String > */
) RETURNS TABLE (
	"job_name" TEXT,  /* String */
	"source" TEXT,  /* String */
	"target" TEXT,  /* String */
	"key_columns" TEXT[],  /* Vec < String > */
	"mode" TEXT,  /* String */
	"merge_strategy" TEXT,  /* String */
	"columns" TEXT[]  /* Vec < String > */
)
VOLATILE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'sync_define_wrapper';
COMMENT ON FUNCTION sync_define(text, text, text, text[], text, text, text, text[], text, text, text[], jsonb, text, text, text) IS
    'Defines a sync job (source, target, key, watermark, mode, filter, lookback, columns, lookups, parallel, source time zone, deletes), validated against the live catalog';

DROP FUNCTION sync_alter(text, text, text, text, text[], text, text, text, text[], text, text, text[], jsonb, boolean, text, text);
CREATE FUNCTION "sync_alter"(
	"job_name" TEXT, /* Option < & str > */
	"new_name" TEXT DEFAULT NULL, /* Option < & str > */
	"source" TEXT DEFAULT NULL, /* Option < String > */
	"target" TEXT DEFAULT NULL, /* Option < String > */
	"key" TEXT[] DEFAULT NULL, /* :: std :: option :: Option < Vec < Option < String > > > */
	"mode" TEXT DEFAULT NULL, /* Option < String > */
	"watermark" TEXT DEFAULT NULL, /* Option < String > */
	"watermark_source" TEXT DEFAULT NULL, /* Option < String > */
	"watermark_join" TEXT[] DEFAULT NULL, /* :: std :: option :: Option < Vec < Option < String > > > */
	"source_filter" TEXT DEFAULT NULL, /* Option < String > */
	"lookback" TEXT DEFAULT NULL, /* Option < String > */
	"columns" TEXT[] DEFAULT NULL, /* :: std :: option :: Option < Vec < Option < String > > > */
	"lookups" jsonb DEFAULT NULL, /* Option < pgrx :: JsonB > */
	"reset_watermark" bool DEFAULT false, /* Option < bool > */
	"parallel" TEXT DEFAULT NULL, /* Option < String > */
	"source_timezone" TEXT DEFAULT NULL, /* Option < String > */
	"deletes" TEXT DEFAULT NULL /* Option < String > */
) RETURNS TABLE (
	"job_name" TEXT,  /* String */
	"source" TEXT,  /* String */
	"target" TEXT,  /* String */
	"key_columns" TEXT[],  /* Vec < String > */
	"mode" TEXT,  /* String */
	"merge_strategy" TEXT,  /* String */
	"columns" TEXT[]  /* Vec < String > */
)
VOLATILE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'sync_alter_wrapper';
COMMENT ON FUNCTION sync_alter(text, text, text, text, text[], text, text, text, text[], text, text, text[], jsonb, boolean, text, text, text) IS
    'Changes a sync job: NULL leaves a setting alone, '''' or ''{}'' clears an optional one';
-- ===== end of deletes =====

-- === Slim remap quarantine ===================================================================
-- A plain remap of a table with a row key quarantines the rows' keys and the old value (one
-- entry per join key and value pair, up to 10,000 rows each) instead of whole before-images.
-- Rows quarantined by 0.3.0 keep row_keys NULL and restore as whole rows, as before.
ALTER TABLE insync.quarantine ADD COLUMN row_keys json;
ALTER TABLE insync.quarantine ADD COLUMN row_key_columns text[];
COMMENT ON TABLE insync.quarantine IS 'What dedup_table removed and remap_dimension changed or merged, written in the same transaction: whole before-images, or for a plain remap of a table with a row key the rows'' keys and the old value';
-- (with the verify section's repair rows: both meanings)
COMMENT ON COLUMN insync.quarantine.row_data IS 'The whole removed row, as json (not jsonb: json values are kept byte for byte); JSON null for a row a sync_verify repair wrote where there was none; for entries with row_keys, only the changed column''s old value';
COMMENT ON COLUMN insync.quarantine.after_data IS 'For rows rewritten by a remap merge or written by a sync_verify repair: the row as it was left, so an undo finds it; for entries with row_keys, the value the remap wrote';
COMMENT ON COLUMN insync.quarantine.row_keys IS 'For a plain remap of a table with a row key: the rows changed, each by that key (a json array of key values, or of arrays of them for a key of several columns; up to 10,000 rows per entry); NULL: row_data is the whole row';
COMMENT ON COLUMN insync.quarantine.row_key_columns IS 'The columns of row_keys: a unique key of NOT NULL columns of the table';
-- === end of slim remap quarantine ============================================================

-- ============================================================================================
-- Schedules and upstream jobs (issue 15, items 1 and 2). Self-contained section:
--  * a job's pg_cron schedule is part of its definition (jobs.schedule; the schedule argument
--    of sync_define and sync_alter keeps one pg_cron entry per job, insync:<job>, in step);
--    the entry calls sync_run_scheduled, whose runs are marked (runs.scheduled);
--  * a job may run after other jobs (jobs.upstreams, by job_id; the after argument);
--    sync_run_all runs a set of jobs in dependency order;
--  * job_status shows the schedule, the last scheduled run, what keeps pg_cron from running
--    the job, and the jobs it runs after.
-- ============================================================================================
ALTER TABLE insync.jobs ADD COLUMN schedule text;
COMMENT ON COLUMN insync.jobs.schedule IS 'pg_cron schedule (e.g. */5 * * * *): the job then has the pg_cron entry insync:<job>, owned by and run as the job owner; NULL: not scheduled';
ALTER TABLE insync.jobs ADD COLUMN upstreams bigint[];
COMMENT ON COLUMN insync.jobs.upstreams IS 'job_ids of the jobs this one runs after (sync_define(..., after => ...)): it runs only once their latest runs succeeded; NULL: none';
ALTER TABLE insync.runs ADD COLUMN scheduled boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN insync.runs.scheduled IS 'Started by the job''s pg_cron entry (sync_run_scheduled) rather than called directly';

-- job_status: five columns appended (schedule, last_scheduled_status, last_scheduled_at,
-- schedule_problem, runs_after) and one LATERAL join (sr), after the verify section's.
CREATE OR REPLACE VIEW insync.job_status WITH (security_invoker = true, security_barrier) AS
SELECT j.job_name,
       j.owner,
       j.mode,
       j.source,
       j.target,
       r.run_id      AS last_run_id,
       -- A run holds a row lock on its job's catalog row: the row's xmax is then the running
       -- transaction, which holds a lock on its own transaction id.
       -- A run recorded as running whose transaction has ended (rolled back, its session
       -- terminated, the server crashed) is shown as interrupted until insync closes it.
       CASE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_locks l
                          WHERE l.locktype OPERATOR(pg_catalog.=) 'transactionid' AND l.granted
                            AND l.transactionid OPERATOR(pg_catalog.=) j.xmax)
            THEN 'running'
            WHEN r.status OPERATOR(pg_catalog.=) 'running'
                 AND pg_catalog.pg_xact_status(r.run_xact) IS DISTINCT FROM 'in progress'
            THEN 'interrupted'
            ELSE r.status END AS status,
       r.started_at  AS last_started_at,
       r.finished_at AS last_finished_at,
       r.rows_read OPERATOR(pg_catalog.+) 0 AS last_rows_read,
       r.error_message AS last_error,
       s.watermark,
       CASE WHEN j.watermark_type OPERATOR(pg_catalog.=) ANY (ARRAY['timestamp with time zone'::regtype,
                                      'timestamp without time zone'::regtype, 'date'::regtype])
                 AND s.watermark IS NOT NULL
            THEN pg_catalog.now() OPERATOR(pg_catalog.-) s.watermark::timestamptz END AS lag,
       ok.finished_at AS last_success_at,
       s.late_commit_risk,
       v.finished_at AS last_verified_at,
       v.status AS last_verification,
       v.missing OPERATOR(pg_catalog.+) v.extra OPERATOR(pg_catalog.+) v.changed AS last_differences,
       -- 0.4.0, schedules and upstreams (issue 15): the job's pg_cron schedule, the outcome of
       -- its last scheduled run, what keeps pg_cron from running it (NULL: nothing), and the
       -- jobs it runs after.
       j.schedule,
       sr.status AS last_scheduled_status,
       sr.started_at AS last_scheduled_at,
       -- (cron.max_running_jobs is the one pg_cron setting every role may read: it exists only
       -- when pg_cron is preloaded. pg_cron installs only in the database it runs jobs of.)
       CASE WHEN j.schedule IS NULL THEN NULL
            WHEN pg_catalog.current_setting('cron.max_running_jobs', true) IS NULL
            THEN 'pg_cron is not loaded (shared_preload_libraries)'
            WHEN NOT EXISTS (SELECT FROM pg_catalog.pg_extension e WHERE e.extname OPERATOR(pg_catalog.=) 'pg_cron')
            THEN 'extension pg_cron is not installed in this database' END AS schedule_problem,
       -- the jobs it runs after (the ones the reader can see), by name
       ARRAY(SELECT u.job_name FROM insync.jobs u WHERE u.job_id OPERATOR(pg_catalog.=) ANY (j.upstreams)
              ORDER BY u.job_name) AS runs_after
       -- end of 0.4.0, schedules and upstreams
  FROM insync.jobs j
  LEFT JOIN insync.job_state s ON s.job_name OPERATOR(pg_catalog.=) j.job_name
  LEFT JOIN LATERAL (SELECT * FROM insync.runs x WHERE x.job_name OPERATOR(pg_catalog.=) j.job_name
                      ORDER BY x.run_id DESC LIMIT 1) r ON true
  LEFT JOIN LATERAL (SELECT x.finished_at FROM insync.runs x
                      WHERE x.job_name OPERATOR(pg_catalog.=) j.job_name AND x.status OPERATOR(pg_catalog.=) 'succeeded'
                      ORDER BY x.run_id DESC LIMIT 1) ok ON true
  LEFT JOIN LATERAL (SELECT * FROM insync.verifications x
                      WHERE x.job_name OPERATOR(pg_catalog.=) j.job_name AND x.status OPERATOR(pg_catalog.<>) 'skipped'
                      ORDER BY x.verification_id DESC LIMIT 1) v ON true
  -- 0.4.0, schedules: the last run the job's pg_cron entry started.
  LEFT JOIN LATERAL (SELECT x.status, x.started_at FROM insync.runs x
                      WHERE x.job_name OPERATOR(pg_catalog.=) j.job_name AND x.scheduled
                      ORDER BY x.run_id DESC LIMIT 1) sr ON true;
COMMENT ON VIEW insync.job_status IS 'Each job with its last run, status (running while a run holds the job; interrupted when a run recorded as running lost its session), watermark and lag behind now(); its last verification; its pg_cron schedule, last scheduled run and upstream jobs';

DROP FUNCTION sync_define(text, text, text, text[], text, text, text, text[], text, text, text[], jsonb, text, text, text);
CREATE FUNCTION "sync_define"(
	"job_name" TEXT, /* Option < & str > */
	"source" TEXT, /* Option < & str > */
	"target" TEXT, /* Option < & str > */
	"key" TEXT[], /* :: std :: option :: Option < Vec < Option < String > > > */
	"watermark" TEXT DEFAULT NULL, /* Option < String > */
	"mode" TEXT DEFAULT 'incremental', /* Option < String > */
	"watermark_source" TEXT DEFAULT NULL, /* Option < String > */
	"watermark_join" TEXT[] DEFAULT NULL, /* :: std :: option :: Option < Vec < Option < String > > > */
	"source_filter" TEXT DEFAULT NULL, /* Option < String > */
	"lookback" TEXT DEFAULT NULL, /* Option < String > */
	"columns" TEXT[] DEFAULT NULL, /* :: std :: option :: Option < Vec < Option < String > > > */
	"lookups" jsonb DEFAULT NULL, /* Option < pgrx :: JsonB > */
	"parallel" TEXT DEFAULT NULL, /* Option < String > */
	"source_timezone" TEXT DEFAULT NULL, /* Option < String > */
	"deletes" TEXT DEFAULT NULL, /* Option < String > */
	"schedule" TEXT DEFAULT NULL, /* Option < String > */
	"after" TEXT[] DEFAULT NULL /* :: std :: option :: Option < Vec < Option < String > > > */
) RETURNS TABLE (
	"job_name" TEXT,  /* String */
	"source" TEXT,  /* String */
	"target" TEXT,  /* String */
	"key_columns" TEXT[],  /* Vec < String > */
	"mode" TEXT,  /* String */
	"merge_strategy" TEXT,  /* String */
	"columns" TEXT[]  /* Vec < String > */
)
VOLATILE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'sync_define_wrapper';
COMMENT ON FUNCTION sync_define(text, text, text, text[], text, text, text, text[], text, text, text[], jsonb, text, text, text, text, text[]) IS
    'Defines a sync job (source, target, key, watermark, mode, filter, lookback, columns, lookups, parallel, source time zone, deletes, pg_cron schedule, upstream jobs), validated against the live catalog';

DROP FUNCTION sync_alter(text, text, text, text, text[], text, text, text, text[], text, text, text[], jsonb, boolean, text, text, text);
CREATE FUNCTION "sync_alter"(
	"job_name" TEXT, /* Option < & str > */
	"new_name" TEXT DEFAULT NULL, /* Option < & str > */
	"source" TEXT DEFAULT NULL, /* Option < String > */
	"target" TEXT DEFAULT NULL, /* Option < String > */
	"key" TEXT[] DEFAULT NULL, /* :: std :: option :: Option < Vec < Option < String > > > */
	"mode" TEXT DEFAULT NULL, /* Option < String > */
	"watermark" TEXT DEFAULT NULL, /* Option < String > */
	"watermark_source" TEXT DEFAULT NULL, /* Option < String > */
	"watermark_join" TEXT[] DEFAULT NULL, /* :: std :: option :: Option < Vec < Option < String > > > */
	"source_filter" TEXT DEFAULT NULL, /* Option < String > */
	"lookback" TEXT DEFAULT NULL, /* Option < String > */
	"columns" TEXT[] DEFAULT NULL, /* :: std :: option :: Option < Vec < Option < String > > > */
	"lookups" jsonb DEFAULT NULL, /* Option < pgrx :: JsonB > */
	"reset_watermark" bool DEFAULT false, /* Option < bool > */
	"parallel" TEXT DEFAULT NULL, /* Option < String > */
	"source_timezone" TEXT DEFAULT NULL, /* Option < String > */
	"deletes" TEXT DEFAULT NULL, /* Option < String > */
	"schedule" TEXT DEFAULT NULL, /* Option < String > */
	"after" TEXT[] DEFAULT NULL /* :: std :: option :: Option < Vec < Option < String > > > */
) RETURNS TABLE (
	"job_name" TEXT,  /* String */
	"source" TEXT,  /* String */
	"target" TEXT,  /* String */
	"key_columns" TEXT[],  /* Vec < String > */
	"mode" TEXT,  /* String */
	"merge_strategy" TEXT,  /* String */
	"columns" TEXT[]  /* Vec < String > */
)
VOLATILE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'sync_alter_wrapper';
COMMENT ON FUNCTION sync_alter(text, text, text, text, text[], text, text, text, text[], text, text, text[], jsonb, boolean, text, text, text, text, text[]) IS
    'Changes a sync job: NULL leaves a setting alone, '''' or ''{}'' clears an optional one';

CREATE FUNCTION "sync_run_scheduled"(
	"job_name" TEXT /* Option < & str > */
) RETURNS TABLE (
	"job_name" TEXT,  /* String */
	"run_id" bigint,  /* Option < i64 > */
	"status" TEXT,  /* String */
	"rows_read" bigint,  /* Option < i64 > */
	"rows_inserted" bigint,  /* Option < i64 > */
	"rows_updated" bigint,  /* Option < i64 > */
	"rows_deleted" bigint,  /* Option < i64 > */
	"message" TEXT  /* Option < String > */
)
VOLATILE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'sync_run_scheduled_wrapper';
COMMENT ON FUNCTION sync_run_scheduled(text) IS 'What a job''s pg_cron entry (insync:<job>) calls: the job, then the unscheduled jobs downstream of it in dependency order; runs recorded as scheduled';

CREATE FUNCTION "sync_run_all"(
	"jobs" TEXT[] DEFAULT NULL /* :: std :: option :: Option < Vec < Option < String > > > */
) RETURNS TABLE (
	"job_name" TEXT,  /* String */
	"run_id" bigint,  /* Option < i64 > */
	"status" TEXT,  /* String */
	"rows_read" bigint,  /* Option < i64 > */
	"rows_inserted" bigint,  /* Option < i64 > */
	"rows_updated" bigint,  /* Option < i64 > */
	"rows_deleted" bigint,  /* Option < i64 > */
	"message" TEXT  /* Option < String > */
)
VOLATILE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'sync_run_all_wrapper';
COMMENT ON FUNCTION sync_run_all(text[]) IS 'Runs the named jobs (or every job the caller may run) in dependency order; a job whose upstream failed is skipped, with the reason recorded';
-- end of the schedules and upstream jobs section
