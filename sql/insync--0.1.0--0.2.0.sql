-- insync 0.1.0 -> 0.2.0
--  * Jobs run as their owner (security-restricted), catalog SQL qualified: every operator and
--    function in CHECKs, defaults, policies and views is schema-qualified; the views are
--    security_invoker; quarantine rows only for batches insync opened (quarantine_batches).
--  * Required arguments are no longer STRICT (a NULL gets an error naming it, not a NULL
--    result): the functions are re-created.
--  * Runs carry their transaction (run_xact), so a run whose session is gone shows as
--    interrupted and is closed; the catalog is registered for pg_dump.
\echo Use "ALTER EXTENSION insync UPDATE TO '0.2.0'" to load this file. \quit

-- jobs
ALTER TABLE insync.jobs
    DROP CONSTRAINT jobs_job_name_check,
    DROP CONSTRAINT jobs_key_columns_check,
    DROP CONSTRAINT jobs_mode_check,
    DROP CONSTRAINT jobs_parallel_check,
    DROP CONSTRAINT jobs_check,
    DROP CONSTRAINT jobs_check1,
    DROP CONSTRAINT jobs_check2,
    ADD CONSTRAINT jobs_job_name_check CHECK (job_name OPERATOR(pg_catalog.<>) ''),
    ADD CONSTRAINT jobs_key_columns_check CHECK (pg_catalog.cardinality(key_columns) OPERATOR(pg_catalog.>) 0),
    ADD CONSTRAINT jobs_mode_check CHECK (mode OPERATOR(pg_catalog.=) ANY ('{incremental,full,append}'::text[])),
    ADD CONSTRAINT jobs_parallel_check CHECK (parallel OPERATOR(pg_catalog.=) 'auto' OR parallel OPERATOR(pg_catalog.~) '^[1-9][0-9]?$'),
    ADD CONSTRAINT jobs_check CHECK ((watermark_column IS NULL) OPERATOR(pg_catalog.=) (watermark_type IS NULL)),
    ADD CONSTRAINT jobs_check1 CHECK ((watermark_relation IS NULL) OPERATOR(pg_catalog.=) (watermark_join IS NULL)),
    ADD CONSTRAINT jobs_check2 CHECK (mode OPERATOR(pg_catalog.=) 'full' OR watermark_column IS NOT NULL),
    ALTER COLUMN created_at SET DEFAULT pg_catalog.now(),
    ALTER COLUMN updated_at SET DEFAULT pg_catalog.now();
ALTER TABLE insync.job_state ALTER COLUMN updated_at SET DEFAULT pg_catalog.now();
ALTER POLICY state_of_my_jobs ON insync.job_state
    USING (EXISTS (SELECT 1 FROM insync.jobs j WHERE j.job_name OPERATOR(pg_catalog.=) job_state.job_name));

-- runs
ALTER TABLE insync.runs
    DROP CONSTRAINT runs_kind_check,
    DROP CONSTRAINT runs_status_check,
    ADD CONSTRAINT runs_kind_check CHECK (kind OPERATOR(pg_catalog.=) ANY ('{incremental,full,append}'::text[])),
    ADD CONSTRAINT runs_status_check CHECK (status OPERATOR(pg_catalog.=) ANY ('{running,succeeded,failed,skipped}'::text[])),
    ADD COLUMN run_xact xid8;
COMMENT ON COLUMN insync.runs.status IS 'succeeded, failed (also: interrupted, when its session or transaction ended mid-run), skipped (another run of the same job was in progress), or running (a parallel run in flight)';
COMMENT ON COLUMN insync.runs.run_by IS 'Role that called the run; the run itself ran as the job owner (column owner)';
COMMENT ON COLUMN insync.runs.owner IS 'Owner of the job when it ran: the role whose privileges the run used';
COMMENT ON COLUMN insync.runs.run_xact IS 'Top-level transaction of the session that ran it: a running run whose transaction has ended was interrupted';
-- Runs 0.1.0 left running have no transaction to ask: they are closed at the next run.

-- run_segments
ALTER TABLE insync.run_segments
    DROP CONSTRAINT run_segments_status_check,
    ADD CONSTRAINT run_segments_status_check CHECK (status OPERATOR(pg_catalog.=) ANY ('{pending,running,done,failed}'::text[]));

-- quarantine
COMMENT ON SEQUENCE insync.quarantine_batch_seq IS 'Batch ids: one per dedup_table or remap_dimension call; drawn by insync only';
REVOKE USAGE ON SEQUENCE insync.quarantine_batch_seq FROM PUBLIC;
ALTER TABLE insync.quarantine
    ALTER COLUMN removed_at SET DEFAULT pg_catalog.now(),
    ALTER COLUMN removed_by DROP DEFAULT;
COMMENT ON COLUMN insync.quarantine.removed_by IS 'Role whose dedup_table or remap_dimension call removed the row (the batch''s opened_by)';
CREATE TABLE insync.quarantine_batches (
    batch_id    bigint NOT NULL,
    table_oid   regclass NOT NULL,
    opened_by   regrole NOT NULL,
    opened_in   xid8 NOT NULL,
    opened_at   timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (batch_id, table_oid)
);
COMMENT ON TABLE insync.quarantine_batches IS 'Quarantine batches insync opened (one row per table a batch touches); written by insync only';
COMMENT ON COLUMN insync.quarantine_batches.batch_id IS 'The batch (restore_quarantine(batch_id) undoes it)';
COMMENT ON COLUMN insync.quarantine_batches.table_oid IS 'The table the batch may quarantine rows of';
COMMENT ON COLUMN insync.quarantine_batches.opened_by IS 'The role whose dedup_table or remap_dimension call opened it';
COMMENT ON COLUMN insync.quarantine_batches.opened_in IS 'Transaction that opened it: quarantine rows of the batch can only be written there';
COMMENT ON COLUMN insync.quarantine_batches.opened_at IS 'When the batch was opened';
COMMENT ON INDEX insync.quarantine_batches_pkey IS 'One row per batch and table';
ALTER TABLE insync.quarantine_batches ENABLE ROW LEVEL SECURITY;
CREATE POLICY batches_open_here ON insync.quarantine_batches FOR SELECT
    USING (pg_catalog.pg_has_role(opened_by, 'USAGE')
           OR opened_in OPERATOR(pg_catalog.=) pg_catalog.pg_current_xact_id_if_assigned());
COMMENT ON POLICY batches_open_here ON insync.quarantine_batches IS 'A role sees its own batches, and any batch opened in its transaction (the statement writing it)';
GRANT SELECT ON insync.quarantine_batches TO PUBLIC;

ALTER POLICY quarantine_read ON insync.quarantine
    USING (pg_catalog.pg_has_role(removed_by, 'USAGE')
           OR pg_catalog.pg_has_role((SELECT c.relowner FROM pg_catalog.pg_class c
                                       WHERE c.oid OPERATOR(pg_catalog.=) table_oid), 'USAGE'));
ALTER POLICY quarantine_write ON insync.quarantine
    WITH CHECK (EXISTS (SELECT 1 FROM insync.quarantine_batches b
                         WHERE b.batch_id OPERATOR(pg_catalog.=) quarantine.batch_id
                           AND b.table_oid OPERATOR(pg_catalog.=) quarantine.table_oid
                           AND b.opened_by OPERATOR(pg_catalog.=) quarantine.removed_by
                           AND b.opened_in OPERATOR(pg_catalog.=) pg_catalog.pg_current_xact_id_if_assigned()));
COMMENT ON POLICY quarantine_read ON insync.quarantine IS 'A role sees the rows its own (or its roles'') calls removed, and the rows removed from tables it owns';
COMMENT ON POLICY quarantine_write ON insync.quarantine IS 'Rows only for a batch insync opened in this transaction, for its table and in its caller''s name';

-- views: same columns, qualified operators, security_invoker
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
       ok.finished_at AS last_success_at
  FROM insync.jobs j
  LEFT JOIN insync.job_state s ON s.job_name OPERATOR(pg_catalog.=) j.job_name
  LEFT JOIN LATERAL (SELECT * FROM insync.runs x WHERE x.job_name OPERATOR(pg_catalog.=) j.job_name
                      ORDER BY x.run_id DESC LIMIT 1) r ON true
  LEFT JOIN LATERAL (SELECT x.finished_at FROM insync.runs x
                      WHERE x.job_name OPERATOR(pg_catalog.=) j.job_name AND x.status OPERATOR(pg_catalog.=) 'succeeded'
                      ORDER BY x.run_id DESC LIMIT 1) ok ON true;
COMMENT ON VIEW insync.job_status IS 'Each job with its last run, status (running while a run holds the job; interrupted when a run recorded as running lost its session), watermark and lag behind now()';

CREATE OR REPLACE VIEW insync.segments WITH (security_invoker = true) AS
SELECT s.run_id,
       s.job_name,
       s.segment_no,
       s.slice,
       CASE WHEN s.status OPERATOR(pg_catalog.=) 'running' AND NOT EXISTS (
                 SELECT 1 FROM pg_catalog.pg_stat_activity a WHERE a.pid OPERATOR(pg_catalog.=) s.worker_pid)
            THEN 'interrupted' ELSE s.status END AS state,
       s.worker_pid,
       a.application_name,
       s.rows_read,
       s.rows_inserted,
       s.rows_updated,
       s.rows_deleted,
       s.started_at,
       s.finished_at,
       coalesce(s.finished_at, CASE WHEN a.pid IS NOT NULL THEN pg_catalog.clock_timestamp() END)
           OPERATOR(pg_catalog.-) s.started_at AS elapsed,
       s.finished_by,
       s.error_message
  FROM insync.run_segments s
  LEFT JOIN pg_catalog.pg_stat_activity a
         ON a.pid OPERATOR(pg_catalog.=) s.worker_pid AND s.status OPERATOR(pg_catalog.=) 'running';
COMMENT ON VIEW insync.segments IS 'Segments of parallel runs: state (interrupted when its worker died mid-merge), rows and timing, live while a run is in flight';

-- pg_dump keeps the catalog's rows (as pg_cron does for its jobs): jobs, watermarks, history,
-- segments and quarantine survive a dump and restore, and so do the sequences' positions.
SELECT pg_catalog.pg_extension_config_dump('insync.jobs', '');
SELECT pg_catalog.pg_extension_config_dump('insync.job_state', '');
SELECT pg_catalog.pg_extension_config_dump('insync.runs', '');
SELECT pg_catalog.pg_extension_config_dump('insync.runs_run_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('insync.run_segments', '');
SELECT pg_catalog.pg_extension_config_dump('insync.quarantine', '');
SELECT pg_catalog.pg_extension_config_dump('insync.quarantine_batches', '');
SELECT pg_catalog.pg_extension_config_dump('insync.quarantine_batch_seq', '');
SELECT pg_catalog.pg_extension_config_dump('insync.jobs_job_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('insync.quarantine_quarantine_id_seq', '');

-- functions: required arguments no longer STRICT (re-created from the 0.2.0 definitions)
CREATE OR REPLACE FUNCTION "dedup_table"(
	"tbl" TEXT, /* Option < & str > */
	"keys" TEXT[], /* :: std :: option :: Option < Vec < Option < String > > > */
	"keep" TEXT DEFAULT 'latest', /* Option < String > */
	"order_by" TEXT DEFAULT NULL, /* Option < String > */
	"source_column" TEXT DEFAULT NULL, /* Option < String > */
	"source_order" TEXT[] DEFAULT NULL, /* :: std :: option :: Option < Vec < Option < String > > > */
	"ignore_columns" TEXT[] DEFAULT NULL, /* :: std :: option :: Option < Vec < Option < String > > > */
	"dry_run" bool DEFAULT false, /* Option < bool > */
	"allow_distinct_rows" bool DEFAULT false, /* Option < bool > */
	"add_unique_index" bool DEFAULT false /* Option < bool > */
) RETURNS TABLE (
	"batch_id" bigint,  /* i64 */
	"cause" TEXT,  /* String */
	"keys" bigint,  /* i64 */
	"rows" bigint,  /* i64 */
	"removed" bigint,  /* i64 */
	"action" TEXT  /* String */
)
VOLATILE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'dedup_table_wrapper';

CREATE OR REPLACE FUNCTION "duplicate_summary"(
	"tbl" TEXT, /* Option < & str > */
	"keys" TEXT[], /* :: std :: option :: Option < Vec < Option < String > > > */
	"order_by" TEXT DEFAULT NULL, /* Option < String > */
	"source_column" TEXT DEFAULT NULL, /* Option < String > */
	"ignore_columns" TEXT[] DEFAULT NULL /* :: std :: option :: Option < Vec < Option < String > > > */
) RETURNS TABLE (
	"cause" TEXT,  /* String */
	"keys" bigint,  /* i64 */
	"rows" bigint,  /* i64 */
	"extra_rows" bigint  /* i64 */
)
STABLE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'duplicate_summary_wrapper';

CREATE OR REPLACE FUNCTION "find_duplicates"(
	"tbl" TEXT, /* Option < & str > */
	"keys" TEXT[], /* :: std :: option :: Option < Vec < Option < String > > > */
	"order_by" TEXT DEFAULT NULL, /* Option < String > */
	"source_column" TEXT DEFAULT NULL, /* Option < String > */
	"ignore_columns" TEXT[] DEFAULT NULL /* :: std :: option :: Option < Vec < Option < String > > > */
) RETURNS TABLE (
	"key" jsonb,  /* pgrx :: JsonB */
	"copies" bigint,  /* i64 */
	"differing_columns" TEXT[],  /* Vec < String > */
	"cause" TEXT  /* String */
)
STABLE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'find_duplicates_wrapper';

CREATE OR REPLACE FUNCTION "remap_dimension"(
	"target" TEXT, /* Option < & str > */
	"column" TEXT, /* Option < & str > */
	"dimension" TEXT, /* Option < & str > */
	"join_on" TEXT[], /* :: std :: option :: Option < Vec < Option < String > > > */
	"value" TEXT, /* Option < & str > */
	"current_by" TEXT DEFAULT NULL, /* Option < String > */
	"current_flag" TEXT DEFAULT NULL, /* Option < String > */
	"merge" jsonb DEFAULT NULL, /* Option < pgrx :: JsonB > */
	"dry_run" bool DEFAULT false, /* Option < bool > */
	"block_from" bigint DEFAULT NULL, /* Option < i64 > */
	"block_to" bigint DEFAULT NULL, /* Option < i64 > */
	"batch_id" bigint DEFAULT NULL /* Option < i64 > */
) RETURNS TABLE (
	"old_value" TEXT,  /* Option < String > */
	"new_value" TEXT,  /* Option < String > */
	"rows_changed" bigint,  /* i64 */
	"rows_merged" bigint,  /* i64 */
	"rows_examined" bigint,  /* Option < i64 > */
	"batch_id" bigint  /* Option < i64 > */
)
VOLATILE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'remap_dimension_wrapper';

CREATE OR REPLACE PROCEDURE remap_dimension_batched(target text, "column" text, dimension text, join_on text[],
                                         value text, current_by text DEFAULT NULL,
                                         current_flag text DEFAULT NULL, merge jsonb DEFAULT NULL,
                                         batch_blocks integer DEFAULT 10000)
LANGUAGE plpgsql AS $proc$
-- Runs as its caller with the caller's search_path (a procedure that COMMITs cannot pin one
-- with SET), so every operator and function below is schema-qualified.
DECLARE
    rel regclass;
    part regclass;
    blocks bigint;
    first_block bigint;
    batch bigint;
    changed bigint;
    batch_of_call bigint;
    total bigint := 0;
    batches integer := 0;
BEGIN
    IF target IS NULL OR "column" IS NULL OR dimension IS NULL OR join_on IS NULL OR value IS NULL
       OR batch_blocks IS NULL THEN
        RAISE EXCEPTION 'remap_dimension_batched: argument "%" must not be NULL',
            CASE WHEN target IS NULL THEN 'target' WHEN "column" IS NULL THEN 'column'
                 WHEN dimension IS NULL THEN 'dimension' WHEN join_on IS NULL THEN 'join_on'
                 WHEN value IS NULL THEN 'value' ELSE 'batch_blocks' END
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF batch_blocks OPERATOR(pg_catalog.<) 1 THEN
        RAISE EXCEPTION 'remap_dimension_batched: batch_blocks must be at least 1, not %', batch_blocks
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    rel := target::regclass;
    -- The leaves of a partitioned table, or the table itself.
    FOR part IN SELECT p.relid FROM pg_catalog.pg_partition_tree(rel) p WHERE p.isleaf
                UNION ALL SELECT rel WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_partition_tree(rel))
                ORDER BY 1 LOOP
        blocks := pg_catalog.pg_relation_size(part)
                  OPERATOR(pg_catalog./) pg_catalog.current_setting('block_size')::bigint;
        first_block := 0;
        WHILE first_block OPERATOR(pg_catalog.<) blocks LOOP
            -- The first call opens the quarantine batch; the later ones add to it.
            SELECT coalesce(pg_catalog.sum(r.rows_changed), 0), pg_catalog.max(r.batch_id)
              INTO changed, batch_of_call
              FROM @extschema@.remap_dimension(part::text, "column", dimension, join_on, value,
                                   current_by => current_by, current_flag => current_flag, merge => merge,
                                   block_from => first_block,
                                   block_to => first_block OPERATOR(pg_catalog.+) batch_blocks,
                                   batch_id => batch) r;
            batch := coalesce(batch, batch_of_call);
            total := total OPERATOR(pg_catalog.+) changed;
            batches := batches OPERATOR(pg_catalog.+) 1;
            RAISE NOTICE 'remap_dimension: % blocks % to % of %: % rows changed (% so far)',
                part, first_block,
                least(first_block OPERATOR(pg_catalog.+) batch_blocks, blocks) OPERATOR(pg_catalog.-) 1,
                blocks, changed, total;
            COMMIT;  -- each batch is its own transaction: locks are held one batch at a time
            first_block := first_block OPERATOR(pg_catalog.+) batch_blocks;
        END LOOP;
    END LOOP;
    RAISE NOTICE 'remap_dimension: % rows changed in % batches; restore_quarantine(%) undoes it', total, batches, batch;
END
$proc$;
COMMENT ON PROCEDURE remap_dimension_batched(text, text, text, text[], text, text, text, jsonb, integer) IS
    'remap_dimension in batches of heap blocks, each committed on its own (CALL it outside a transaction block); one quarantine batch for the whole run';

CREATE OR REPLACE FUNCTION "restore_quarantine"(
	"batch_id" bigint /* Option < i64 > */
) RETURNS bigint /* SyncResult < i64 > */
VOLATILE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'restore_quarantine_wrapper';

CREATE OR REPLACE FUNCTION "sync_alter"(
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
	"parallel" TEXT DEFAULT NULL /* Option < String > */
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

CREATE OR REPLACE FUNCTION "sync_define"(
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
	"parallel" TEXT DEFAULT NULL /* Option < String > */
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

CREATE OR REPLACE FUNCTION "sync_drop"(
	"job_name" TEXT /* Option < & str > */
) RETURNS bool /* SyncResult < bool > */
VOLATILE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'sync_drop_wrapper';

CREATE OR REPLACE FUNCTION "sync_full"(
	"job_name" TEXT, /* Option < & str > */
	"parallel" INT DEFAULT NULL /* Option < i32 > */
) RETURNS TABLE (
	"run_id" bigint,  /* i64 */
	"status" TEXT,  /* String */
	"window_low" TEXT,  /* Option < String > */
	"window_high" TEXT,  /* Option < String > */
	"rows_read" bigint,  /* i64 */
	"rows_inserted" bigint,  /* i64 */
	"rows_updated" bigint,  /* i64 */
	"rows_deleted" bigint  /* i64 */
)
VOLATILE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'sync_full_wrapper';

CREATE OR REPLACE FUNCTION "sync_incremental"(
	"job_name" TEXT, /* Option < & str > */
	"parallel" INT DEFAULT NULL /* Option < i32 > */
) RETURNS TABLE (
	"run_id" bigint,  /* i64 */
	"status" TEXT,  /* String */
	"window_low" TEXT,  /* Option < String > */
	"window_high" TEXT,  /* Option < String > */
	"rows_read" bigint,  /* i64 */
	"rows_inserted" bigint,  /* i64 */
	"rows_updated" bigint,  /* i64 */
	"rows_deleted" bigint  /* i64 */
)
VOLATILE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'sync_incremental_wrapper';

CREATE OR REPLACE FUNCTION "sync_resume"(
	"run_id" bigint /* Option < i64 > */
) RETURNS TABLE (
	"run_id" bigint,  /* i64 */
	"status" TEXT,  /* String */
	"window_low" TEXT,  /* Option < String > */
	"window_high" TEXT,  /* Option < String > */
	"rows_read" bigint,  /* i64 */
	"rows_inserted" bigint,  /* i64 */
	"rows_updated" bigint,  /* i64 */
	"rows_deleted" bigint  /* i64 */
)
VOLATILE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'sync_resume_wrapper';

CREATE OR REPLACE FUNCTION "sync_run"(
	"job_name" TEXT, /* Option < & str > */
	"parallel" INT DEFAULT NULL /* Option < i32 > */
) RETURNS TABLE (
	"run_id" bigint,  /* i64 */
	"status" TEXT,  /* String */
	"window_low" TEXT,  /* Option < String > */
	"window_high" TEXT,  /* Option < String > */
	"rows_read" bigint,  /* i64 */
	"rows_inserted" bigint,  /* i64 */
	"rows_updated" bigint,  /* i64 */
	"rows_deleted" bigint  /* i64 */
)
VOLATILE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'sync_run_wrapper';

COMMENT ON SEQUENCE insync.jobs_job_id_seq IS 'Identity of insync.jobs.job_id';
