-- A first load in batches: CALL sync_backfill commits each batch (a run of its own) with the
-- backfill's progress; the watermark taken when it started becomes the job's when the last
-- batch commits, so changes made meanwhile reach the target with the next incremental run.
\set VERBOSITY terse
CREATE EXTENSION insync;
CREATE SCHEMA bf;
CREATE TABLE bf.src (id int PRIMARY KEY, v text, ts timestamptz NOT NULL);
INSERT INTO bf.src SELECT g, 'v' || g, now() - interval '1 hour' FROM generate_series(1, 1000) g;
ANALYZE bf.src;
CREATE TABLE bf.dst (id int PRIMARY KEY, v text, ts timestamptz);
SELECT job_name FROM sync_define('bf', source => 'bf.src', target => 'bf.dst', key => '{id}',
                                 watermark => 'ts', backfill_batch => 300);
-- A job that loads its first rows in batches is not loaded by a run (one transaction).
SELECT * FROM sync_incremental('bf');
CALL sync_backfill('bf');
SELECT backfill_state, backfill_batches, backfill_rows_done, backfill_rows_estimated,
       backfill_rate > 0 AS has_rate, backfill_finished_at >= backfill_started_at AS finished,
       watermark = (SELECT watermark FROM insync.backfills WHERE job_name = 'bf') AS watermark_from_backfill,
       status, last_rows_read
  FROM insync.job_status WHERE job_name = 'bf';
-- Each batch is a run; the last one set the watermark.
SELECT backfill_batch, kind, status, rows_read, rows_inserted, window_high IS NOT NULL AS bounded
  FROM insync.runs WHERE job_name = 'bf' ORDER BY run_id;
SELECT last_key FROM insync.backfills;
SELECT (SELECT count(*) FROM (TABLE bf.src EXCEPT TABLE bf.dst) a) AS missing,
       (SELECT count(*) FROM (TABLE bf.dst EXCEPT TABLE bf.src) b) AS extra;
-- Done: calling it again does nothing.
CALL sync_backfill('bf');
-- Changes after the backfill's start are the incremental runs' (the overlap is upserted).
UPDATE bf.src SET v = 'changed', ts = now() WHERE id IN (1, 500);
INSERT INTO bf.src VALUES (1001, 'new', now());
SELECT pg_sleep(1.1);
SELECT status, rows_read, rows_inserted, rows_updated FROM sync_incremental('bf');
SELECT (SELECT count(*) FROM (TABLE bf.src EXCEPT TABLE bf.dst) a) AS missing,
       (SELECT count(*) FROM (TABLE bf.dst EXCEPT TABLE bf.src) b) AS extra;
-- A loaded job is not backfilled again, unless its watermark is reset.
CALL sync_backfill('bf');
SELECT job_name FROM sync_alter('bf', reset_watermark => true, backfill_batch => 600);
SELECT count(*) AS backfills FROM insync.backfills;
CALL sync_backfill('bf');
SELECT backfill_batches, backfill_rows_done FROM insync.job_status WHERE job_name = 'bf';

-- A composite key of mixed types, a filter, and a job without a watermark (full mode).
CREATE TABLE bf.lines (tenant text, line_no int, amount numeric, kind text, PRIMARY KEY (tenant, line_no));
INSERT INTO bf.lines SELECT t, g, g * 1.5, CASE WHEN g % 5 = 0 THEN 'void' ELSE 'sale' END
  FROM unnest('{a,b,c}'::text[]) t, generate_series(1, 70) g;
ANALYZE bf.lines;
CREATE TABLE bf.lines_copy (LIKE bf.lines INCLUDING ALL);
SELECT job_name FROM sync_define('lines', source => 'bf.lines', target => 'bf.lines_copy',
                                 key => '{tenant,line_no}', mode => 'full',
                                 source_filter => 'kind <> ''void''', backfill_batch => 50);
CALL sync_backfill('lines');
SELECT backfill_batch, rows_read FROM insync.runs WHERE job_name = 'lines' ORDER BY run_id;
SELECT (SELECT count(*) FROM (SELECT * FROM bf.lines WHERE kind <> 'void' EXCEPT TABLE bf.lines_copy) a) AS missing,
       (SELECT count(*) FROM bf.lines_copy) AS copied;
SELECT watermark FROM insync.job_state WHERE job_name = 'lines';
-- A full-mode job runs as usual afterwards.
SELECT status, rows_deleted FROM sync_full('lines');

-- Mistakes.
CALL sync_backfill(NULL);
CALL sync_backfill('nope');
SELECT job_name FROM sync_define('bad', source => 'bf.src', target => 'bf.dst', key => '{id}',
                                 watermark => 'ts', backfill_batch => -1);
SELECT job_name FROM sync_define('nobatch', source => 'bf.src', target => 'bf.dst', key => '{id}', watermark => 'ts');
CALL sync_backfill('nobatch');
CALL sync_backfill('nobatch', batch_size => 0);
-- A procedure that commits cannot run inside a transaction block.
BEGIN;
CALL sync_backfill('nobatch', batch_size => 500);
ROLLBACK;
-- The option is cleared with 0: the first load is then one run again.
SELECT job_name FROM sync_alter('bf', backfill_batch => 0, reset_watermark => true);
SELECT status, rows_read FROM sync_incremental('bf');
