-- A role that defines a job must never get a superuser's rights when a superuser (or pg_cron)
-- runs its job: its filter, views, lookups, watermark source, target trigger and default all
-- run as itself, serially and in parallel workers. Every path below made tro superuser on
-- insync 0.1.0.
\i pg_test/setup/tro.sql
SET ROLE tro;
CREATE VIEW tro.src_view AS SELECT * FROM tro.src WHERE tro.spy('source view');
CREATE TABLE tro.orders (id int PRIMARY KEY, ts timestamptz);
INSERT INTO tro.orders SELECT g, now() - interval '1 hour' FROM generate_series(0, 2) g;
CREATE VIEW tro.orders_view AS SELECT * FROM tro.orders WHERE tro.spy('watermark view');
CREATE VIEW tro.dim_view AS SELECT * FROM tro.dim WHERE tro.spy('lookup view');
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
