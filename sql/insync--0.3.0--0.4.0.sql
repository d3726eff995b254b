-- insync 0.3.0 -> 0.4.0
\echo Use "ALTER EXTENSION insync UPDATE TO '0.4.0'" to load this file. \quit

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
-- schedule_problem, runs_after) and one LATERAL join (sr); the rest is 0.3.0's view unchanged.
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
  -- 0.4.0, schedules: the last run the job's pg_cron entry started.
  LEFT JOIN LATERAL (SELECT x.status, x.started_at FROM insync.runs x
                      WHERE x.job_name OPERATOR(pg_catalog.=) j.job_name AND x.scheduled
                      ORDER BY x.run_id DESC LIMIT 1) sr ON true;
COMMENT ON VIEW insync.job_status IS 'Each job with its last run, status (running while a run holds the job; interrupted when a run recorded as running lost its session), watermark and lag behind now(); its pg_cron schedule, last scheduled run and upstream jobs';

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
COMMENT ON FUNCTION sync_define(text, text, text, text[], text, text, text, text[], text, text, text[], jsonb, text, text, text, text[]) IS
    'Defines a sync job (source, target, key, watermark, mode, filter, lookback, columns, lookups, parallel, source time zone, pg_cron schedule, upstream jobs), validated against the live catalog';

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
COMMENT ON FUNCTION sync_alter(text, text, text, text, text[], text, text, text, text[], text, text, text[], jsonb, boolean, text, text, text, text[]) IS
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
