-- Bad degrees are refused before anything runs; 'auto' is accepted.
CREATE EXTENSION insync;
SET client_min_messages = notice;
CREATE TABLE src (id int PRIMARY KEY, ts timestamptz NOT NULL);
CREATE TABLE dst (id int PRIMARY KEY, ts timestamptz);
SELECT job_name FROM sync_define('par_k', source => 'src', target => 'dst', key => '{id}', watermark => 'ts');
SELECT * FROM sync_incremental('par_k', parallel => 0);
SELECT * FROM sync_define('par_x', source => 'src', target => 'dst', key => '{id}', watermark => 'ts', parallel => '-2');
SELECT * FROM sync_alter('par_k', parallel => 'lots');
SELECT job_name FROM sync_alter('par_k', parallel => 'auto');
SELECT job_name, parallel FROM insync.jobs;
SELECT count(*) AS runs FROM insync.runs;
