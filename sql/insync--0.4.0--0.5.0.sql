-- insync 0.4.0 -> 0.5.0
\echo Use "ALTER EXTENSION insync UPDATE TO '0.5.0'" to load this file. \quit

-- ============================================================================================
-- Backfill (issue 15, item 3): a job's first load in batches of key ranges, each committed with
-- its progress, resumable after a cancel or crash (CALL sync_backfill). Self-contained section:
--  * jobs.backfill_batch (the sync_define / sync_alter argument of the same name);
--  * insync.backfills: per job, the backfill's state, the watermark it leads to, the key it
--    loaded up to and its progress;
--  * runs.backfill_batch: each batch is a run of its own;
--  * job_status: seven backfill columns appended;
--  * sync_backfill_step (one batch) and the procedure sync_backfill (batches until done).
-- ============================================================================================
ALTER TABLE insync.jobs ADD COLUMN backfill_batch integer CHECK (backfill_batch OPERATOR(pg_catalog.>) 0);
COMMENT ON COLUMN insync.jobs.backfill_batch IS 'Rows per batch of the job''s first load: CALL sync_backfill(job) loads it in key ranges of this many source rows, each committed with its progress (insync.backfills); NULL: the first load is one run';
ALTER TABLE insync.runs ADD COLUMN backfill_batch integer;
COMMENT ON COLUMN insync.runs.backfill_batch IS 'Set for the batches of a backfill (CALL sync_backfill): the batch''s number; each batch is a run of its own';

-- Backfills (CALL sync_backfill): a job's first load in batches of key ranges, each committed
-- with this row's progress, so a cancel or crash resumes after the last committed batch.
CREATE TABLE insync.backfills (
    job_name        text PRIMARY KEY REFERENCES insync.jobs ON UPDATE CASCADE ON DELETE CASCADE,
    state           text NOT NULL CHECK (state OPERATOR(pg_catalog.=) ANY ('{"in progress",done}'::text[])),
    watermark       text,
    last_key        jsonb,
    batches         integer NOT NULL DEFAULT 0,
    rows_done       bigint NOT NULL DEFAULT 0,
    rows_estimated  bigint,
    rows_per_second bigint,
    started_at      timestamptz NOT NULL,
    last_batch_at   timestamptz,
    finished_at     timestamptz,
    started_by      regrole NOT NULL
);
COMMENT ON TABLE insync.backfills IS 'Per job, its backfill (CALL sync_backfill): the first load in key ranges, each batch committed with this row''s progress; written by insync only';
COMMENT ON COLUMN insync.backfills.state IS 'in progress (CALL sync_backfill again resumes after last_key), or done (the job''s watermark was set to watermark)';
COMMENT ON COLUMN insync.backfills.watermark IS 'The safe bound taken when the backfill started (as a first run takes it): the batches read the rows up to it, and it becomes the job''s watermark when the last batch commits, so the next incremental run reads every change made meanwhile; NULL for a job without a watermark';
COMMENT ON COLUMN insync.backfills.last_key IS 'Key (JSON array of the key columns'' values) up to which the committed batches loaded; NULL: no batch yet';
COMMENT ON COLUMN insync.backfills.batches IS 'Batches committed';
COMMENT ON COLUMN insync.backfills.rows_done IS 'Source rows the committed batches read and merged';
COMMENT ON COLUMN insync.backfills.rows_estimated IS 'Rows the backfill reads, as the planner estimated them when it started';
COMMENT ON COLUMN insync.backfills.rows_per_second IS 'Rows per second of the last batch (from its start to its commit)';
COMMENT ON COLUMN insync.backfills.started_at IS 'When the backfill started';
COMMENT ON COLUMN insync.backfills.last_batch_at IS 'When the last batch committed';
COMMENT ON COLUMN insync.backfills.finished_at IS 'When the last batch committed and the watermark was set';
COMMENT ON COLUMN insync.backfills.started_by IS 'Role that started the backfill';
ALTER TABLE insync.backfills ENABLE ROW LEVEL SECURITY;
CREATE POLICY backfills_of_my_jobs ON insync.backfills FOR SELECT
    USING (EXISTS (SELECT 1 FROM insync.jobs j WHERE j.job_name OPERATOR(pg_catalog.=) backfills.job_name));
COMMENT ON POLICY backfills_of_my_jobs ON insync.backfills IS 'A role sees the backfills of the jobs it can see';
GRANT SELECT ON insync.backfills TO PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('insync.backfills', '');

-- job_status: the backfill columns appended, and the join to insync.backfills.
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
              ORDER BY u.job_name) AS runs_after,
       -- end of 0.4.0, schedules and upstreams
       -- 0.5.0, backfill (issue 15): the job's batched first load (insync.backfills).
       b.state AS backfill_state,
       b.batches AS backfill_batches,
       b.rows_done AS backfill_rows_done,
       b.rows_estimated AS backfill_rows_estimated,
       b.rows_per_second AS backfill_rate,
       b.started_at AS backfill_started_at,
       b.finished_at AS backfill_finished_at
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
                      ORDER BY x.run_id DESC LIMIT 1) sr ON true
  -- 0.5.0, backfill
  LEFT JOIN insync.backfills b ON b.job_name OPERATOR(pg_catalog.=) j.job_name;
COMMENT ON VIEW insync.job_status IS 'Each job with its last run, status (running while a run holds the job; interrupted when a run recorded as running lost its session), watermark and lag behind now(); its last verification; its pg_cron schedule, last scheduled run and upstream jobs; its backfill''s progress';

DROP FUNCTION sync_define(text, text, text, text[], text, text, text, text[], text, text, text[], jsonb, text, text, text, text, text[]);
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
	"after" TEXT[] DEFAULT NULL, /* :: std :: option :: Option < Vec < Option < String > > > */
	"backfill_batch" INT DEFAULT NULL /* Option < i32 > */
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
COMMENT ON FUNCTION sync_define(text, text, text, text[], text, text, text, text[], text, text, text[], jsonb, text, text, text, text, text[], integer) IS
    'Defines a sync job (source, target, key, watermark, mode, filter, lookback, columns, lookups, parallel, source time zone, deletes, pg_cron schedule, upstream jobs, backfill batch size), validated against the live catalog';

DROP FUNCTION sync_alter(text, text, text, text, text[], text, text, text, text[], text, text, text[], jsonb, boolean, text, text, text, text, text[]);
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
	"after" TEXT[] DEFAULT NULL, /* :: std :: option :: Option < Vec < Option < String > > > */
	"backfill_batch" INT DEFAULT NULL /* Option < i32 > */
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
COMMENT ON FUNCTION sync_alter(text, text, text, text, text[], text, text, text, text[], text, text, text[], jsonb, boolean, text, text, text, text, text[], integer) IS
    'Changes a sync job: NULL leaves a setting alone, '''' or ''{}'' clears an optional one';

CREATE FUNCTION "sync_backfill_step"(
	"job_name" TEXT, /* Option < & str > */
	"batch_size" INT DEFAULT NULL /* Option < i32 > */
) RETURNS TABLE (
	"batch" INT,  /* Option < i32 > */
	"rows_read" bigint,  /* i64 */
	"rows_done" bigint,  /* i64 */
	"rows_estimated" bigint,  /* Option < i64 > */
	"done" bool  /* bool */
)
VOLATILE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'sync_backfill_step_wrapper';
COMMENT ON FUNCTION sync_backfill_step(text, integer) IS 'One batch of a job''s backfill in the caller''s transaction (CALL sync_backfill(job) calls it and commits until done): returns the batch, its rows, the rows done and estimated, and whether the backfill is done';

CREATE PROCEDURE sync_backfill(job_name text, batch_size integer DEFAULT NULL)
LANGUAGE plpgsql AS $proc$
-- Runs as its caller with the caller's search_path (a procedure that COMMITs cannot pin one
-- with SET), so the one function it calls is schema-qualified; every batch runs in it as the
-- job's owner, as any run does.
DECLARE
    finished boolean := false;
BEGIN
    IF job_name IS NULL THEN
        RAISE EXCEPTION 'sync_backfill: argument "job_name" must not be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    WHILE NOT finished LOOP
        SELECT s.done INTO finished FROM @extschema@.sync_backfill_step(job_name, batch_size) s;
        COMMIT;  -- the batch, its run and the backfill's progress, together
    END LOOP;
END
$proc$;
COMMENT ON PROCEDURE sync_backfill(text, integer) IS
    'Loads a job''s first rows in batches of key ranges (batch_size, else the job''s backfill_batch), each committed with its progress; CALL it outside a transaction block, and again to resume after a cancel or crash';
-- end of the backfill section
