-- What a data engineer sees in psql: define jobs, sync, inspect, and every bad input.
CREATE EXTENSION insync;
SET client_min_messages = warning;
CREATE SCHEMA ods;
CREATE SCHEMA dw;
CREATE TABLE ods.customer (customer_id int PRIMARY KEY, name text, city text,
                           updated_at timestamptz NOT NULL);
CREATE TABLE dw.customer (customer_id int PRIMARY KEY, name text, city text, updated_at timestamptz);
INSERT INTO ods.customer
SELECT g, 'customer ' || g, CASE WHEN g % 3 = 0 THEN 'Lyon' ELSE 'Paris' END, now() - interval '1 day'
  FROM generate_series(1, 1000) g;

SELECT * FROM sync_define('customer', source => 'ods.customer', target => 'dw.customer',
                          key => '{customer_id}', watermark => 'updated_at');

-- The first run is the initial load.
SELECT status, window_low, rows_read, rows_inserted, rows_updated FROM sync_incremental('customer');

-- Change some rows, add one, and let the run's one-second start margin pass.
UPDATE ods.customer SET city = 'Nice', updated_at = clock_timestamp() WHERE customer_id <= 25;
INSERT INTO ods.customer VALUES (1001, 'late customer', 'Lille', clock_timestamp());
SELECT pg_sleep(1.2);
SELECT status, window_low IS NOT NULL AS has_low, rows_read, rows_inserted, rows_updated
  FROM sync_incremental('customer');
-- Nothing changed since: nothing is read, nothing rewritten.
SELECT status, rows_read, rows_inserted, rows_updated FROM sync_incremental('customer');

SELECT count(*) AS differences FROM (
  (SELECT * FROM ods.customer EXCEPT SELECT * FROM dw.customer)
  UNION ALL (SELECT * FROM dw.customer EXCEPT SELECT * FROM ods.customer)) d;

SELECT job_name, mode, status, last_rows_read, watermark IS NOT NULL AS has_watermark,
       lag < interval '1 minute' AS fresh
  FROM insync.job_status;
SELECT run_id, job_name, kind, status, rows_read, rows_inserted, rows_updated, rows_deleted
  FROM insync.runs ORDER BY run_id;

-- A full sync also removes rows that left the source.
DELETE FROM ods.customer WHERE customer_id > 990;
SELECT status, rows_read, rows_inserted, rows_updated, rows_deleted FROM sync_full('customer');
SELECT count(*) FROM dw.customer;

-- Bad input: a clear error, and nothing changes.
\set VERBOSITY default
SELECT * FROM sync_incremental('no_such_job');
SELECT * FROM sync_define('customer', source => 'ods.customer', target => 'dw.customer',
                          key => '{customer_id}', watermark => 'updated_at');
SELECT * FROM sync_define('j1', source => 'ods.missing', target => 'dw.customer',
                          key => '{customer_id}', watermark => 'updated_at');
SELECT * FROM sync_define('j1', source => 'ods.customer', target => 'dw.missing',
                          key => '{customer_id}', watermark => 'updated_at');
SELECT * FROM sync_define('j1', source => 'ods.customer', target => 'dw.customer',
                          key => '{id}', watermark => 'updated_at');
SELECT * FROM sync_define('j1', source => 'ods.customer', target => 'dw.customer',
                          key => '{customer_id}', watermark => 'changed_at');
SELECT * FROM sync_define('j1', source => 'ods.customer', target => 'dw.customer',
                          key => '{customer_id}', watermark => 'city');
SELECT * FROM sync_define('j1', source => 'ods.customer', target => 'dw.customer',
                          key => '{customer_id}');
CREATE TABLE ods.events (payload json, seen_at timestamptz);
CREATE TABLE dw.events (payload json, seen_at timestamptz);
SELECT * FROM sync_define('j1', source => 'ods.events', target => 'dw.events',
                          key => '{payload}', watermark => 'seen_at');
SELECT * FROM sync_define('j1', source => 'ods.customer', target => 'dw.customer',
                          key => '{customer_id}', watermark => 'updated_at', mode => 'mirror');
SELECT * FROM sync_define('j1', source => 'ods.customer', target => 'dw.customer',
                          key => '{customer_id}', watermark => 'updated_at', lookback => '3 parsecs');
SELECT * FROM sync_define('j1', source => 'ods.customer', target => 'dw.customer',
                          key => '{customer_id}', watermark => 'updated_at',
                          source_filter => 'cty = ''Paris''');
SELECT * FROM sync_define('j1', source => 'ods.customer', target => 'dw.customer',
                          key => '{customer_id}', watermark => 'updated_at',
                          source_filter => 'true); DROP TABLE dw.customer; SELECT (1');
CREATE TABLE dw.customer_narrow (name text, city text);
SELECT * FROM sync_define('j1', source => 'ods.customer', target => 'dw.customer_narrow',
                          key => '{customer_id}', watermark => 'updated_at');
CREATE TABLE dw.customer_typed (customer_id int PRIMARY KEY, name int, updated_at timestamptz);
SELECT * FROM sync_define('j1', source => 'ods.customer', target => 'dw.customer_typed',
                          key => '{customer_id}', watermark => 'updated_at');
SELECT count(*) AS jobs FROM insync.jobs;
-- Every insync object says what it is for.
SELECT count(*) AS uncommented FROM pg_catalog.pg_depend d
  JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid AND e.extname = 'insync'
 WHERE d.deptype = 'e' AND obj_description(d.objid, (SELECT relname FROM pg_class WHERE oid = d.classid)) IS NULL
   AND d.classid <> 'pg_catalog.pg_type'::regclass;

-- NULL keys in the window: the run fails as a whole, and the failure is recorded twice.
CREATE TABLE ods.feed (id int, v text, ts timestamp);
CREATE TABLE dw.feed (id int PRIMARY KEY, v text, ts timestamp);
INSERT INTO ods.feed SELECT g, 'v', localtimestamp - interval '1 hour' FROM generate_series(1, 10) g;
INSERT INTO ods.feed VALUES (NULL, 'orphan', localtimestamp - interval '1 hour'),
                            (NULL, 'orphan', localtimestamp - interval '1 hour');
SELECT job_name, merge_strategy FROM sync_define('feed', source => 'ods.feed', target => 'dw.feed',
                                                 key => '{id}', watermark => 'ts');
SELECT * FROM sync_incremental('feed');
SELECT count(*) AS synced FROM dw.feed;
SELECT status, error_message FROM insync.runs WHERE job_name = 'feed';
SELECT job_name, status, watermark FROM insync.job_status WHERE job_name = 'feed';
-- After fixing the source with a filter the same window syncs.
SELECT job_name FROM sync_alter('feed', source_filter => 'id IS NOT NULL');
SELECT status, rows_inserted FROM sync_incremental('feed');

-- Names with capitals, spaces, quotes and semicolons are quoted, never injected.
CREATE SCHEMA "Sales; DROP";
CREATE TABLE "Sales; DROP"."Order ""Lines""" ("Line Id" int PRIMARY KEY, "qty;" int, "Changed" date);
CREATE TABLE "Sales; DROP".target ("Line Id" int PRIMARY KEY, "qty;" int, "Changed" date);
INSERT INTO "Sales; DROP"."Order ""Lines""" VALUES (1, 5, current_date - 3), (2, 7, current_date - 2);
SELECT source, target, key_columns, columns FROM sync_define('odd names',
       source => '"Sales; DROP"."Order ""Lines"""', target => '"Sales; DROP".target',
       key => '{Line Id}', watermark => 'Changed');
SELECT status, rows_inserted FROM sync_incremental('odd names');
SELECT "Line Id", "qty;", current_date - "Changed" AS days_ago FROM "Sales; DROP".target ORDER BY 1;

-- A full-mode job needs no watermark, and says how to run it.
SELECT job_name, mode FROM sync_define('snapshot', source => 'ods.customer', target => 'dw.customer',
                                       key => '{customer_id}', mode => 'full');
SELECT * FROM sync_incremental('snapshot');
SELECT status, rows_deleted FROM sync_run('snapshot');

-- Rename, then drop: the run history stays.
SELECT job_name FROM sync_alter('snapshot', new_name => 'customer_snapshot');
SELECT sync_drop('customer_snapshot');
SELECT sync_drop('customer_snapshot');
SELECT count(*) AS runs_kept FROM insync.runs WHERE job_name = 'customer_snapshot';
