-- insync catalog: jobs, their state, and the history of their runs.
-- Ordinary roles read it (row-level security shows each role its own jobs); only
-- insync's functions write it, switching to the extension owner for that one step.

CREATE SCHEMA insync;
COMMENT ON SCHEMA insync IS 'insync catalog: sync jobs, their watermarks and run history';

CREATE TABLE insync.jobs (
    job_id             bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    job_name           text PRIMARY KEY CHECK (job_name OPERATOR(pg_catalog.<>) ''),
    owner              regrole NOT NULL,
    source             regclass NOT NULL,
    target             regclass NOT NULL,
    key_columns        text[] NOT NULL CHECK (pg_catalog.cardinality(key_columns) OPERATOR(pg_catalog.>) 0),
    mode               text NOT NULL CHECK (mode OPERATOR(pg_catalog.=) ANY ('{incremental,full,append}'::text[])),
    watermark_column   text,
    watermark_type     regtype,
    watermark_relation regclass,
    watermark_join     jsonb,
    source_filter      text,
    lookback           text,
    columns            text[],
    lookups            jsonb,
    parallel           text NOT NULL DEFAULT 'auto' CHECK (parallel OPERATOR(pg_catalog.=) 'auto' OR parallel OPERATOR(pg_catalog.~) '^[1-9][0-9]?$'),
    created_at         timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at         timestamptz NOT NULL DEFAULT pg_catalog.now(),
    source_timezone    text,
    deletes            text NOT NULL DEFAULT 'ignore' CHECK (deletes OPERATOR(pg_catalog.=) ANY ('{ignore,verify}'::text[])),
    schedule           text,
    upstreams          bigint[],
    backfill_batch     integer CHECK (backfill_batch OPERATOR(pg_catalog.>) 0),
    CHECK ((watermark_column IS NULL) OPERATOR(pg_catalog.=) (watermark_type IS NULL)),
    CHECK ((watermark_relation IS NULL) OPERATOR(pg_catalog.=) (watermark_join IS NULL)),
    CHECK (mode OPERATOR(pg_catalog.=) 'full' OR watermark_column IS NOT NULL)
);
COMMENT ON TABLE insync.jobs IS 'One row per sync job; written by sync_define, sync_alter and sync_drop';
COMMENT ON COLUMN insync.jobs.job_name IS 'Name used to call the job, e.g. sync_incremental(''customer'')';
COMMENT ON COLUMN insync.jobs.owner IS 'Role that defined the job; only it (or a member, or a superuser) may run, alter or drop it';
COMMENT ON COLUMN insync.jobs.source IS 'Table, view or foreign table read by the job';
COMMENT ON COLUMN insync.jobs.target IS 'Table written by the job';
COMMENT ON COLUMN insync.jobs.key_columns IS 'Columns identifying a row in source and target';
COMMENT ON COLUMN insync.jobs.mode IS 'incremental (upsert changed rows), full (make target equal source) or append (insert new keys only)';
COMMENT ON COLUMN insync.jobs.watermark_column IS 'Change-time column: of the source, or of watermark_relation when set';
COMMENT ON COLUMN insync.jobs.watermark_type IS 'Type of the watermark column (timestamptz, timestamp, date or an integer type)';
COMMENT ON COLUMN insync.jobs.watermark_relation IS 'Related table that holds the watermark column, e.g. orders for order lines';
COMMENT ON COLUMN insync.jobs.watermark_join IS 'Join from source to watermark_relation: [{"source": col, "related": col}, ...]';
COMMENT ON COLUMN insync.jobs.source_filter IS 'Boolean SQL expression over source columns restricting what the job reads';
COMMENT ON COLUMN insync.jobs.lookback IS 'Overlap re-read before the watermark: an interval for time watermarks, a number for integer ones';
COMMENT ON COLUMN insync.jobs.lookups IS 'Target columns filled from a dimension''s current value while loading: [{"column", "dimension" (oid), "join": [{"source", "dimension"}], "value", "current_by", "current_flag"}]';
COMMENT ON COLUMN insync.jobs.parallel IS 'Segments a run is split into: 1 (serial), 2-99, or auto (parallel only when the window is large enough to pay for workers)';
COMMENT ON COLUMN insync.jobs.source_timezone IS 'Zone a timestamp-without-time-zone watermark is written in on the source; NULL: a foreign source''s configured TimeZone, else the session''s';
COMMENT ON COLUMN insync.jobs.deletes IS 'ignore, or verify: incremental runs also delete (into the quarantine) target rows whose key left the source, found by a key-only bucket comparison';
COMMENT ON COLUMN insync.jobs.schedule IS 'pg_cron schedule (e.g. */5 * * * *): the job then has the pg_cron entry insync:<job>, owned by and run as the job owner; NULL: not scheduled';
COMMENT ON COLUMN insync.jobs.upstreams IS 'job_ids of the jobs this one runs after (sync_define(..., after => ...)): it runs only once their latest runs succeeded; NULL: none';
COMMENT ON COLUMN insync.jobs.backfill_batch IS 'Rows per batch of the job''s first load: CALL sync_backfill(job) loads it in key ranges of this many source rows, each committed with its progress (insync.backfills); NULL: the first load is one run';
COMMENT ON COLUMN insync.jobs.columns IS 'Columns copied; NULL means every column source and target share by name, resolved at each run';

CREATE TABLE insync.job_state (
    job_name       text PRIMARY KEY REFERENCES insync.jobs ON UPDATE CASCADE ON DELETE CASCADE,
    watermark      text,
    last_run_id    bigint,
    updated_at     timestamptz NOT NULL DEFAULT pg_catalog.now(),
    late_commit_risk text
);
COMMENT ON TABLE insync.job_state IS 'Per-job progress: the watermark up to which the source has been synced';
COMMENT ON COLUMN insync.job_state.watermark IS 'Upper bound of the last successful window, in the ISO text form of the watermark type';
COMMENT ON COLUMN insync.job_state.last_run_id IS 'The run that last advanced the watermark';
COMMENT ON COLUMN insync.job_state.late_commit_risk IS 'Why a row committed late on the source could be skipped (NULL: it cannot), from the definition and the last run';

CREATE TABLE insync.runs (
    run_id         bigint PRIMARY KEY,
    job_name       text NOT NULL,
    owner          regrole NOT NULL,
    kind           text NOT NULL CHECK (kind OPERATOR(pg_catalog.=) ANY ('{incremental,full,append}'::text[])),
    status         text NOT NULL CHECK (status OPERATOR(pg_catalog.=) ANY ('{running,succeeded,failed,skipped}'::text[])),
    started_at     timestamptz NOT NULL,
    finished_at    timestamptz,
    window_low     text,
    window_high    text,
    rows_read      bigint NOT NULL DEFAULT 0,
    rows_inserted  bigint NOT NULL DEFAULT 0,
    rows_updated   bigint NOT NULL DEFAULT 0,
    rows_deleted   bigint NOT NULL DEFAULT 0,
    error_message  text,
    run_by         regrole NOT NULL,
    segments       integer,
    resumes        bigint,
    run_xact       xid8,
    scheduled      boolean NOT NULL DEFAULT false,
    backfill_batch integer
);
CREATE INDEX runs_job_name_run_id ON insync.runs (job_name, run_id DESC);
CREATE SEQUENCE insync.runs_run_id_seq OWNED BY insync.runs.run_id;
COMMENT ON TABLE insync.runs IS 'History of every run: written with the data it moved; failed runs are recorded even though their transaction rolled back';
COMMENT ON SEQUENCE insync.runs_run_id_seq IS 'Run ids; drawn before a run starts so a failed run keeps its id';
COMMENT ON COLUMN insync.runs.kind IS 'incremental, full or append';
COMMENT ON COLUMN insync.runs.status IS 'succeeded, failed (also: interrupted, when its session or transaction ended mid-run), skipped (another run of the same job was in progress), or running (a parallel run in flight)';
COMMENT ON COLUMN insync.runs.window_low IS 'Exclusive lower bound of the window read (NULL: from the beginning)';
COMMENT ON COLUMN insync.runs.window_high IS 'Inclusive upper bound of the window read: the safe bound that no uncommitted transaction can fall behind';
COMMENT ON COLUMN insync.runs.rows_read IS 'Source rows in the window after picking the latest row per key';
COMMENT ON COLUMN insync.runs.rows_inserted IS 'Target rows inserted';
COMMENT ON COLUMN insync.runs.rows_updated IS 'Target rows whose values changed (unchanged rows are not rewritten)';
COMMENT ON COLUMN insync.runs.rows_deleted IS 'Target rows deleted because their key left the source (full syncs)';
COMMENT ON COLUMN insync.runs.error_message IS 'Error raised by a failed run, as the caller saw it';
COMMENT ON COLUMN insync.runs.run_by IS 'Role that called the run; the run itself ran as the job owner (column owner)';
COMMENT ON COLUMN insync.runs.segments IS 'Parallel runs: how many segments the run merged (NULL: serial)';
COMMENT ON COLUMN insync.runs.resumes IS 'Set when this run finished the unfinished segments of an earlier failed run, whose window it completed';
COMMENT ON COLUMN insync.runs.run_id IS 'Run id, drawn from insync.runs_run_id_seq';
COMMENT ON COLUMN insync.runs.job_name IS 'Job the run belongs to';
COMMENT ON COLUMN insync.runs.owner IS 'Owner of the job when it ran: the role whose privileges the run used';
COMMENT ON COLUMN insync.runs.started_at IS 'When the run started';
COMMENT ON COLUMN insync.runs.finished_at IS 'When the run ended (NULL while a parallel run is in flight)';
COMMENT ON COLUMN insync.runs.scheduled IS 'Started by the job''s pg_cron entry (sync_run_scheduled) rather than called directly';
COMMENT ON COLUMN insync.runs.backfill_batch IS 'Set for the batches of a backfill (CALL sync_backfill): the batch''s number; each batch is a run of its own';
COMMENT ON COLUMN insync.runs.run_xact IS 'Top-level transaction of the session that ran it: a running run whose transaction has ended was interrupted';

-- Each role sees the jobs and runs of roles it belongs to; superusers see all.
ALTER TABLE insync.jobs ENABLE ROW LEVEL SECURITY;
ALTER TABLE insync.job_state ENABLE ROW LEVEL SECURITY;
ALTER TABLE insync.runs ENABLE ROW LEVEL SECURITY;
CREATE POLICY jobs_of_my_roles ON insync.jobs FOR SELECT
    USING (pg_catalog.pg_has_role(owner, 'USAGE'));
CREATE POLICY state_of_my_jobs ON insync.job_state FOR SELECT
    USING (EXISTS (SELECT 1 FROM insync.jobs j WHERE j.job_name OPERATOR(pg_catalog.=) job_state.job_name));
CREATE POLICY runs_of_my_roles ON insync.runs FOR SELECT
    USING (pg_catalog.pg_has_role(owner, 'USAGE') OR pg_catalog.pg_has_role(run_by, 'USAGE'));
COMMENT ON POLICY jobs_of_my_roles ON insync.jobs IS 'A role sees the jobs owned by roles it is a member of';
COMMENT ON POLICY state_of_my_jobs ON insync.job_state IS 'A role sees the state of the jobs it can see';
COMMENT ON POLICY runs_of_my_roles ON insync.runs IS 'A role sees runs of its jobs and runs it made';

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

-- security_invoker: the view shows what the tables under it show the reader (row-level
-- security applies to the reader, not to the view's owner). Every operator is qualified, so
-- nothing planted in a schema on the installer's search_path is bound into the view.
CREATE VIEW insync.job_status WITH (security_invoker = true, security_barrier) AS
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

GRANT USAGE ON SCHEMA insync TO PUBLIC;
GRANT SELECT ON insync.jobs, insync.job_state, insync.runs, insync.job_status TO PUBLIC;

-- Segments of parallel runs: planned (with the run) before any worker starts, then each worker
-- commits its merge and its segment's row in one transaction. A run's watermark advances only
-- when all its segments are done.
CREATE TABLE insync.run_segments (
    run_id         bigint NOT NULL,
    segment_no     integer NOT NULL,
    job_name       text NOT NULL,
    owner          regrole NOT NULL,
    slice          text NOT NULL,
    plan           jsonb NOT NULL,
    status         text NOT NULL DEFAULT 'pending' CHECK (status OPERATOR(pg_catalog.=) ANY ('{pending,running,done,failed}'::text[])),
    worker_pid     integer,
    rows_read      bigint NOT NULL DEFAULT 0,
    rows_inserted  bigint NOT NULL DEFAULT 0,
    rows_updated   bigint NOT NULL DEFAULT 0,
    rows_deleted   bigint NOT NULL DEFAULT 0,
    started_at     timestamptz,
    finished_at    timestamptz,
    finished_by    bigint,
    error_message  text,
    PRIMARY KEY (run_id, segment_no)
);
COMMENT ON TABLE insync.run_segments IS 'One row per segment of a parallel run; written by the segment workers in the transaction of their merge';
COMMENT ON COLUMN insync.run_segments.run_id IS 'The parallel run that planned the segment';
COMMENT ON COLUMN insync.run_segments.segment_no IS 'Segment number, 1-based';
COMMENT ON COLUMN insync.run_segments.job_name IS 'Job of the run';
COMMENT ON COLUMN insync.run_segments.owner IS 'Job owner: the role the segment worker connects as';
COMMENT ON COLUMN insync.run_segments.slice IS 'Which rows the segment merges: a partition, a hash slice of the key, a block range, or a Greenplum segment';
COMMENT ON COLUMN insync.run_segments.plan IS 'The slice in machine-readable form, so a resumed run merges exactly the same rows';
COMMENT ON COLUMN insync.run_segments.status IS 'pending, running, done (merged and committed), failed';
COMMENT ON COLUMN insync.run_segments.worker_pid IS 'Backend pid of the worker that ran (or runs) the segment';
COMMENT ON COLUMN insync.run_segments.rows_read IS 'Source rows of the slice in the window';
COMMENT ON COLUMN insync.run_segments.rows_inserted IS 'Target rows inserted by the segment';
COMMENT ON COLUMN insync.run_segments.rows_updated IS 'Target rows changed by the segment';
COMMENT ON COLUMN insync.run_segments.rows_deleted IS 'Target rows deleted by the segment (full runs)';
COMMENT ON COLUMN insync.run_segments.started_at IS 'When a worker started merging the segment';
COMMENT ON COLUMN insync.run_segments.finished_at IS 'When the segment committed (or failed)';
COMMENT ON COLUMN insync.run_segments.finished_by IS 'Run that completed the segment: the planning run, or the run that resumed it';
COMMENT ON COLUMN insync.run_segments.error_message IS 'Why the segment failed';
ALTER TABLE insync.run_segments ENABLE ROW LEVEL SECURITY;
CREATE POLICY segments_of_my_roles ON insync.run_segments FOR SELECT
    USING (pg_catalog.pg_has_role(owner, 'USAGE'));
COMMENT ON POLICY segments_of_my_roles ON insync.run_segments IS 'A role sees the segments of its jobs'' runs';

CREATE VIEW insync.segments WITH (security_invoker = true) AS
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
GRANT SELECT ON insync.run_segments, insync.segments TO PUBLIC;

-- Rows removed by dedup_table, or changed or merged away by remap_dimension: kept whole, so a
-- batch can be put back with restore_quarantine(batch_id).
CREATE SEQUENCE insync.quarantine_batch_seq;
COMMENT ON SEQUENCE insync.quarantine_batch_seq IS 'Batch ids: one per dedup_table or remap_dimension call; drawn by insync only';
CREATE TABLE insync.quarantine (
    quarantine_id  bigint GENERATED ALWAYS AS IDENTITY,
    batch_id       bigint NOT NULL,
    table_oid      regclass NOT NULL,
    table_name     text NOT NULL,
    key            jsonb NOT NULL,
    row_data       json NOT NULL,
    after_data     json,
    changed_column text,
    reason         text NOT NULL,
    removed_at     timestamptz NOT NULL DEFAULT pg_catalog.now(),
    removed_by     regrole NOT NULL,
    restored_at    timestamptz,
    row_keys       json,
    row_key_columns text[]
);
-- Batch ids grow with insertion order, so a BRIN index finds a batch at almost no write cost
-- (a remap can quarantine hundreds of thousands of rows; B-tree upkeep doubled its cost).
CREATE INDEX quarantine_batch ON insync.quarantine USING brin (batch_id);
COMMENT ON TABLE insync.quarantine IS 'What dedup_table removed and remap_dimension changed or merged, written in the same transaction: whole before-images, or for a plain remap of a table with a row key the rows'' keys and the old value';
COMMENT ON COLUMN insync.quarantine.quarantine_id IS 'Order in which rows were quarantined';
COMMENT ON COLUMN insync.quarantine.batch_id IS 'One dedup_table or remap_dimension call; restore_quarantine(batch_id) undoes it';
COMMENT ON COLUMN insync.quarantine.table_oid IS 'Table the row was removed from';
COMMENT ON COLUMN insync.quarantine.table_name IS 'Schema-qualified name of that table when the row was removed';
COMMENT ON COLUMN insync.quarantine.key IS 'The duplicated key, as JSON';
COMMENT ON COLUMN insync.quarantine.row_data IS 'The whole removed row, as json (not jsonb: json values are kept byte for byte); JSON null for a row a sync_verify repair wrote where there was none; for entries with row_keys, only the changed column''s old value';
COMMENT ON COLUMN insync.quarantine.after_data IS 'For rows rewritten by a remap merge or written by a sync_verify repair: the row as it was left, so an undo finds it; for entries with row_keys, the value the remap wrote';
COMMENT ON COLUMN insync.quarantine.changed_column IS 'For remapped rows: the only column the remap changed, so an undo finds the row by the rest';
COMMENT ON COLUMN insync.quarantine.reason IS 'dedup_table: identical, multi_source, versions, distinct_rows; remap_dimension: remapped, merged, merge_target; sync_verify: verify_repair; incremental runs with deletes => verify: deleted_from_source';
COMMENT ON COLUMN insync.quarantine.removed_by IS 'Role whose dedup_table or remap_dimension call removed the row (the batch''s opened_by)';
COMMENT ON COLUMN insync.quarantine.restored_at IS 'When restore_quarantine put the row back (NULL: still quarantined)';
COMMENT ON COLUMN insync.quarantine.row_keys IS 'For a plain remap of a table with a row key: the rows changed, each by that key (a json array of key values, or of arrays of them for a key of several columns; up to 10,000 rows per entry); NULL: row_data is the whole row';
COMMENT ON COLUMN insync.quarantine.row_key_columns IS 'The columns of row_keys: a unique key of NOT NULL columns of the table';
-- The removal runs as the table's owner (a security-restricted operation), inside one
-- statement that also writes the quarantine. A quarantine row can only be written for a batch
-- insync opened in the writing transaction, for that table and in the name of the role that
-- called it (after checking that role's privileges): nobody can forge rows that a later
-- restore_quarantine would write into a table.
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

ALTER TABLE insync.quarantine ENABLE ROW LEVEL SECURITY;
CREATE POLICY quarantine_read ON insync.quarantine FOR SELECT
    USING (pg_catalog.pg_has_role(removed_by, 'USAGE')
           OR pg_catalog.pg_has_role((SELECT c.relowner FROM pg_catalog.pg_class c
                                       WHERE c.oid OPERATOR(pg_catalog.=) table_oid), 'USAGE'));
CREATE POLICY quarantine_write ON insync.quarantine FOR INSERT
    WITH CHECK (EXISTS (SELECT 1 FROM insync.quarantine_batches b
                         WHERE b.batch_id OPERATOR(pg_catalog.=) quarantine.batch_id
                           AND b.table_oid OPERATOR(pg_catalog.=) quarantine.table_oid
                           AND b.opened_by OPERATOR(pg_catalog.=) quarantine.removed_by
                           AND b.opened_in OPERATOR(pg_catalog.=) pg_catalog.pg_current_xact_id_if_assigned()));
COMMENT ON POLICY quarantine_read ON insync.quarantine IS 'A role sees the rows its own (or its roles'') calls removed, and the rows removed from tables it owns';
COMMENT ON POLICY quarantine_write ON insync.quarantine IS 'Rows only for a batch insync opened in this transaction, for its table and in its caller''s name';
GRANT SELECT, INSERT ON insync.quarantine TO PUBLIC;

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

