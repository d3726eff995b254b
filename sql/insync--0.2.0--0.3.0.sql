-- insync 0.2.0 -> 0.3.0
--  * Sources on another server: a job may say which zone its source writes local times in
--    (jobs.source_timezone, the source_timezone argument of sync_define and sync_alter), and
--    job_status says why rows committed late on the source could be skipped
--    (job_state.late_commit_risk).
\echo Use "ALTER EXTENSION insync UPDATE TO '0.3.0'" to load this file. \quit

ALTER TABLE insync.jobs ADD COLUMN source_timezone text;
COMMENT ON COLUMN insync.jobs.source_timezone IS 'Zone a timestamp-without-time-zone watermark is written in on the source; NULL: a foreign source''s configured TimeZone, else the session''s';
ALTER TABLE insync.job_state ADD COLUMN late_commit_risk text;
COMMENT ON COLUMN insync.job_state.late_commit_risk IS 'Why a row committed late on the source could be skipped (NULL: it cannot), from the definition and the last run';

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
       s.late_commit_risk
  FROM insync.jobs j
  LEFT JOIN insync.job_state s ON s.job_name OPERATOR(pg_catalog.=) j.job_name
  LEFT JOIN LATERAL (SELECT * FROM insync.runs x WHERE x.job_name OPERATOR(pg_catalog.=) j.job_name
                      ORDER BY x.run_id DESC LIMIT 1) r ON true
  LEFT JOIN LATERAL (SELECT x.finished_at FROM insync.runs x
                      WHERE x.job_name OPERATOR(pg_catalog.=) j.job_name AND x.status OPERATOR(pg_catalog.=) 'succeeded'
                      ORDER BY x.run_id DESC LIMIT 1) ok ON true;

DROP FUNCTION sync_define(text, text, text, text[], text, text, text, text[], text, text, text[], jsonb, text);
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
	"source_timezone" TEXT DEFAULT NULL /* Option < String > */
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
COMMENT ON FUNCTION sync_define(text, text, text, text[], text, text, text, text[], text, text, text[], jsonb, text, text) IS
    'Defines a sync job (source, target, key, watermark, mode, filter, lookback, columns, lookups, parallel, source time zone), validated against the live catalog';

DROP FUNCTION sync_alter(text, text, text, text, text[], text, text, text, text[], text, text, text[], jsonb, boolean, text);
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
	"source_timezone" TEXT DEFAULT NULL /* Option < String > */
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
COMMENT ON FUNCTION sync_alter(text, text, text, text, text[], text, text, text, text[], text, text, text[], jsonb, boolean, text, text) IS
    'Changes a sync job: NULL leaves a setting alone, '''' or ''{}'' clears an optional one';
