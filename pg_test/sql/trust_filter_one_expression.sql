-- A filter is exactly one expression: closing its parentheses to reshape the query is refused.
-- A subquery inside the expression is fine, and runs as the owner.
\i pg_test/setup/tro.sql
SET ROLE tro;
SELECT * FROM sync_define('escape', source => 'tro.src', target => 'tro.dst', key => '{id}', watermark => 'ts',
       source_filter => 'false) UNION ALL SELECT * FROM tro.src WHERE (true');
SELECT * FROM sync_define('escape', source => 'tro.src', target => 'tro.dst', key => '{id}', watermark => 'ts',
       source_filter => 'true) ORDER BY (1');
SELECT * FROM sync_define('escape', source => 'tro.src', target => 'tro.dst', key => '{id}', watermark => 'ts',
       source_filter => 'true); DROP TABLE tro.src; SELECT (1');
SELECT * FROM sync_define('escape', source => 'tro.src', target => 'tro.dst', key => '{id}', watermark => 'ts',
       source_filter => 'true) FOR UPDATE --');
SELECT job_name FROM sync_define('subquery', source => 'tro.src', target => 'tro.dst', key => '{id}',
       watermark => 'ts', source_filter => 'store IN (SELECT d.store FROM tro.dim d WHERE d.org > 10)',
       columns => '{id,store,v,ts}');
RESET ROLE;
SELECT status, rows_inserted FROM sync_run('subquery');
SELECT job_name FROM insync.jobs ORDER BY 1;
