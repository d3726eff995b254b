-- NULL where a value is required, and lookbacks out of range: an error naming the argument.
\i pg_test/setup/tro.sql
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
SELECT * FROM duplicate_summary('tro.dst', NULL);
SELECT * FROM dedup_table('tro.dst', '{id}', dry_run => NULL);
SELECT * FROM remap_dimension('tro.dst', NULL, 'tro.dim', '{store}', 'org');
CALL remap_dimension_batched(NULL, 'org', 'tro.dim', '{store}', 'org');
SELECT * FROM sync_define('j', 'tro.src', 'tro.dst', '{id}', 'ts', lookback => '-1 hour');
SELECT * FROM sync_define('j', 'tro.src', 'tro.dst', '{id}', 'ts', lookback => '100000 years');
SELECT * FROM sync_define('j', 'tro.src', 'tro.dst', '{id}', 'ts', lookback => 'soon');
SELECT * FROM sync_alter('by_filter', lookback => '1 month -40 days');
SELECT job_name, lookback FROM insync.jobs;
