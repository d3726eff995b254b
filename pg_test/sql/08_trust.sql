-- Who runs what. A role that defines a job (or owns a table) must never get a superuser's
-- rights when a superuser runs its job, dedups or remaps its table: its code runs as itself.
-- Every attack below made role "tro" superuser (or forged, leaked, blocked) on insync 0.1.0.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS insync;
CREATE ROLE tro LOGIN;
CREATE ROLE eve LOGIN;
CREATE SCHEMA tro AUTHORIZATION tro;
GRANT USAGE ON SCHEMA tro TO eve;

SET ROLE tro;
-- Every piece of tro's code records who it ran as, then tries to make tro superuser.
CREATE TABLE tro.log (ran_as text, via text);
CREATE FUNCTION tro.spy(via text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO tro.log VALUES (current_user, via);
  BEGIN
    EXECUTE 'ALTER ROLE tro SUPERUSER';
  EXCEPTION WHEN insufficient_privilege THEN NULL;
  END;
  RETURN true;
END $$;
CREATE FUNCTION tro.spy_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM tro.spy(TG_ARGV[0]); RETURN NULL; END $$;
CREATE FUNCTION tro.spy_default() RETURNS int LANGUAGE plpgsql AS $$
BEGIN PERFORM tro.spy('default'); RETURN 0; END $$;

CREATE TABLE tro.src (id int PRIMARY KEY, store int, v text, ts timestamptz);
INSERT INTO tro.src SELECT g, g % 3, 'v', now() - interval '1 hour' FROM generate_series(1, 20) g;
CREATE VIEW tro.src_view AS SELECT * FROM tro.src WHERE tro.spy('source view');
CREATE TABLE tro.orders (id int PRIMARY KEY, ts timestamptz);
INSERT INTO tro.orders SELECT g, now() - interval '1 hour' FROM generate_series(0, 2) g;
CREATE VIEW tro.orders_view AS SELECT * FROM tro.orders WHERE tro.spy('watermark view');
CREATE TABLE tro.dim (store int, org int);
INSERT INTO tro.dim VALUES (0, 10), (1, 11), (2, 12);
CREATE VIEW tro.dim_view AS SELECT * FROM tro.dim WHERE tro.spy('lookup view');
CREATE TABLE tro.dst (id int PRIMARY KEY, store int, v text, ts timestamptz, org int,
                      extra int DEFAULT tro.spy_default());
CREATE TRIGGER spy AFTER INSERT ON tro.dst FOR EACH STATEMENT EXECUTE FUNCTION tro.spy_trigger('trigger');

-- Each escalation path, one job each.
SELECT job_name FROM sync_define('by_filter', source => 'tro.src', target => 'tro.dst', key => '{id}',
       watermark => 'ts', source_filter => 'tro.spy(''filter'')', columns => '{id,store,v,ts}');
SELECT job_name FROM sync_define('by_view', source => 'tro.src_view', target => 'tro.dst', key => '{id}',
       watermark => 'ts', columns => '{id,store,v,ts}');
SELECT job_name FROM sync_define('by_lookup', source => 'tro.src', target => 'tro.dst', key => '{id}',
       watermark => 'ts', columns => '{id,store,v,ts}',
       lookups => '[{"column": "org", "dimension": "tro.dim_view", "join_on": ["store"], "value": "org"}]');
SELECT job_name FROM sync_define('by_watermark_view', source => 'tro.src', target => 'tro.dst', key => '{id}',
       watermark => 'ts', watermark_source => 'tro.orders_view', watermark_join => '{store=id}',
       columns => '{id,store,v,ts}');
SELECT job_name FROM sync_define('by_parallel', source => 'tro.src', target => 'tro.dst', key => '{id}',
       watermark => 'ts', source_filter => 'tro.spy(''parallel filter'')', columns => '{id,store,v,ts}');
-- A filter names its functions with their schema: jobs run with search_path = pg_catalog, pg_temp.
SET search_path = tro, public;
SELECT job_name FROM sync_define('unqualified', source => 'tro.src', target => 'tro.dst', key => '{id}',
       watermark => 'ts', source_filter => 'spy(''x'')');
RESET search_path;
TRUNCATE tro.log;
RESET ROLE;

-- The superuser runs every one of them (as pg_cron would): the code runs as tro, every time.
SELECT job_name, (SELECT status FROM sync_run(job_name)) FROM insync.jobs
 WHERE owner = 'tro'::regrole AND job_name <> 'by_parallel' ORDER BY job_id;
SELECT status, rows_read FROM sync_full('by_parallel', parallel => 2);
SELECT via, ran_as, count(*) > 0 AS called FROM tro.log GROUP BY 1, 2 ORDER BY 1, 2;
SELECT rolsuper AS tro_is_superuser FROM pg_roles WHERE rolname = 'tro';
-- The run history keeps who called each run and whom it ran as.
SELECT DISTINCT job_name, owner, run_by FROM insync.runs WHERE owner = 'tro'::regrole ORDER BY 1;

-- dedup_table and remap_dimension by a superuser touch tro's table as tro.
TRUNCATE tro.log;
SET ROLE tro;
CREATE TABLE tro.facts (id int, store int, org int);
INSERT INTO tro.facts VALUES (1, 0, 99), (1, 0, 99), (2, 1, 11);
CREATE TRIGGER spy AFTER DELETE OR UPDATE ON tro.facts FOR EACH STATEMENT EXECUTE FUNCTION tro.spy_trigger('table trigger');
RESET ROLE;
SELECT cause, removed, action FROM dedup_table('tro.facts', '{id}', keep => 'first');
SELECT old_value, new_value, rows_changed FROM remap_dimension('tro.facts', 'org', 'tro.dim_view', '{store}', 'org');
SELECT via, ran_as FROM tro.log GROUP BY 1, 2 ORDER BY 1, 2;
SELECT rolsuper AS tro_is_superuser FROM pg_roles WHERE rolname = 'tro';
-- A caller without the table's privileges gets an error before anything runs as the owner.
SET ROLE eve;
SELECT * FROM dedup_table('tro.facts', '{id}', keep => 'first');
SELECT * FROM find_duplicates('tro.facts', '{id}');
SELECT * FROM remap_dimension('tro.facts', 'org', 'tro.dim', '{store}', 'org');
RESET ROLE;

-- Views show what the tables show: eve sees none of tro's jobs, runs or segments.
SET ROLE eve;
SELECT count(*) AS jobs, (SELECT count(*) FROM insync.job_status) AS status_rows,
       (SELECT count(*) FROM insync.segments) AS segment_rows FROM insync.jobs;
-- A job eve cannot see answers like a job that does not exist.
SELECT * FROM sync_run('by_filter');
SELECT * FROM sync_run('no_such_job');
RESET ROLE;
SELECT set_config('insync_test.run', max(run_id)::text, false) IS NOT NULL AS remembered
  FROM insync.runs WHERE job_name = 'by_parallel';
SET ROLE eve;
DO $$ BEGIN PERFORM sync_resume(current_setting('insync_test.run')::bigint);
EXCEPTION WHEN OTHERS THEN
  RAISE WARNING '%: %', SQLSTATE, regexp_replace(SQLERRM, '[0-9]+', 'N');
END $$;
-- Quarantine rows can only be written by insync, for a batch it opened in this transaction.
INSERT INTO insync.quarantine (batch_id, table_oid, table_name, key, row_data, reason, removed_by)
VALUES (1, 'tro.dst', 'tro.dst', '{}', '{"id": 999}', 'identical', 'eve');
RESET ROLE;

-- The job lock cannot be taken from outside insync. In a session of its own, eve takes the
-- advisory lock insync 0.1.0 used, and cannot lock the job's catalog row.
CREATE EXTENSION IF NOT EXISTS dblink;
SELECT dblink_connect('eve', format('host=127.0.0.1 port=%s dbname=%s user=eve',
                                    inet_server_port(), current_database()));
SELECT * FROM dblink('eve', format('SELECT pg_advisory_lock(1936291427, %s) IS NULL',
                     (SELECT job_id FROM insync.jobs WHERE job_name = 'by_filter'))) AS t(locked boolean);
SELECT dblink_exec('eve', 'BEGIN');
SELECT * FROM dblink('eve', 'SELECT 1 FROM insync.jobs FOR UPDATE') AS t(x int);
SELECT dblink_exec('eve', 'ROLLBACK');
-- Runs are neither skipped nor shown as running because of eve's advisory lock.
SELECT job_name, status FROM insync.job_status WHERE job_name = 'by_filter';
SELECT status FROM sync_run('by_filter');
SELECT dblink_disconnect('eve');
-- While a run holds the job, another session's run is skipped and job_status says running.
SELECT dblink_connect('owner', format('host=127.0.0.1 port=%s dbname=%s user=postgres',
                                      inet_server_port(), current_database()));
SELECT dblink_exec('owner', 'BEGIN');
SELECT * FROM dblink('owner', 'SELECT status FROM sync_run(''by_filter'')') AS t(status text);
SELECT job_name, status FROM insync.job_status WHERE job_name = 'by_filter';
SELECT status FROM sync_run('by_filter');
SELECT dblink_exec('owner', 'COMMIT');
SELECT dblink_disconnect('owner');
SELECT job_name, status FROM insync.job_status WHERE job_name = 'by_filter';

-- A restore goes back only into the table its rows came from, for a role that may write it.
SELECT batch_id AS dedup_batch FROM insync.quarantine WHERE table_name = 'tro.facts' AND reason = 'identical' \gset
SET ROLE eve;
SELECT restore_quarantine(:dedup_batch);
RESET ROLE;
SELECT restore_quarantine(:dedup_batch);
SELECT count(*) AS facts_after_restore FROM tro.facts;

-- A filter is exactly one expression: closing its parentheses to reshape the query is refused.
SET ROLE tro;
SELECT * FROM sync_define('escape', source => 'tro.src', target => 'tro.dst', key => '{id}', watermark => 'ts',
       source_filter => 'false) UNION ALL SELECT * FROM tro.src WHERE (true');
SELECT * FROM sync_define('escape', source => 'tro.src', target => 'tro.dst', key => '{id}', watermark => 'ts',
       source_filter => 'true) ORDER BY (1');
SELECT * FROM sync_define('escape', source => 'tro.src', target => 'tro.dst', key => '{id}', watermark => 'ts',
       source_filter => 'true); DROP TABLE tro.src; SELECT (1');
SELECT * FROM sync_define('escape', source => 'tro.src', target => 'tro.dst', key => '{id}', watermark => 'ts',
       source_filter => 'true) FOR UPDATE --');
-- A subquery inside the expression is fine, and runs as the owner.
SELECT job_name FROM sync_define('subquery', source => 'tro.src', target => 'tro.dst', key => '{id}',
       watermark => 'ts', source_filter => 'store IN (SELECT d.store FROM tro.dim d WHERE d.org > 10)',
       columns => '{id,store,v,ts}');
SELECT sync_drop('subquery');
RESET ROLE;

-- standard_conforming_strings = off: insync's literals read the same (a column name with a
-- backslash, a quote and a newline is reported intact).
SET ROLE tro;
CREATE TABLE tro.odd (id int, "we\'ird
name" text);
INSERT INTO tro.odd VALUES (1, 'a'), (1, 'b');
RESET ROLE;
SET standard_conforming_strings = off;
SET escape_string_warning = off;
SELECT copies, differing_columns, cause FROM find_duplicates('tro.odd', '{id}');
RESET standard_conforming_strings;
RESET escape_string_warning;

-- Bad arguments: NULL where a value is required, lookbacks out of range.
SELECT * FROM sync_define(NULL, 'tro.src', 'tro.dst', '{id}', 'ts');
SELECT * FROM sync_define('j', 'tro.src', 'tro.dst', NULL, 'ts');
SELECT * FROM sync_define('j', 'tro.src', 'tro.dst', '{id,NULL}', 'ts');
SELECT * FROM sync_define('j', 'tro.src', NULL, '{id}', 'ts');
SELECT * FROM sync_define('j', 'tro.src', 'tro.dst', '{id}', 'ts', mode => NULL);
SELECT * FROM sync_alter(NULL, source_filter => 'true');
SELECT * FROM sync_alter('by_filter', reset_watermark => NULL);
SELECT sync_drop(NULL);
SELECT * FROM sync_incremental(NULL);
SELECT * FROM sync_full(NULL);
SELECT * FROM sync_run(NULL);
SELECT * FROM sync_resume(NULL);
SELECT restore_quarantine(NULL);
SELECT * FROM find_duplicates(NULL, '{id}');
SELECT * FROM duplicate_summary('tro.facts', NULL);
SELECT * FROM dedup_table('tro.facts', '{id}', dry_run => NULL);
SELECT * FROM remap_dimension('tro.facts', NULL, 'tro.dim', '{store}', 'org');
CALL remap_dimension_batched(NULL, 'org', 'tro.dim', '{store}', 'org');
SELECT * FROM sync_define('j', 'tro.src', 'tro.dst', '{id}', 'ts', lookback => '-1 hour');
SELECT * FROM sync_define('j', 'tro.src', 'tro.dst', '{id}', 'ts', lookback => '100000 years');
SELECT * FROM sync_define('j', 'tro.src', 'tro.dst', '{id}', 'ts', lookback => 'soon');
SELECT * FROM sync_alter('by_filter', lookback => '1 month -40 days');
SELECT lookback FROM insync.jobs WHERE job_name = 'by_filter';

-- Clean up (the roles own objects in this database only).
SELECT sync_drop(job_name) FROM insync.jobs WHERE owner = 'tro'::regrole;
DROP SCHEMA tro CASCADE;
DROP OWNED BY tro, eve;
DROP ROLE tro;
DROP ROLE eve;
