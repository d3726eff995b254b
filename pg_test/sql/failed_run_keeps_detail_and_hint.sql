-- A failed run keeps the whole error in insync.runs, DETAIL and HINT included: often the
-- part that says which row failed and what to do.
CREATE EXTENSION insync;
SET client_min_messages = warning;
CREATE TABLE src (id int PRIMARY KEY, qty int, ts timestamptz);
CREATE TABLE dst (id int PRIMARY KEY, qty int CHECK (qty < 100), ts timestamptz);
INSERT INTO src VALUES (1, 5, '2026-01-01 10:00+00'), (2, 500, '2026-01-01 10:00+00');
SELECT job_name FROM sync_define('checked', source => 'src', target => 'dst', key => '{id}', watermark => 'ts');
SELECT * FROM sync_incremental('checked');
SELECT status, error_message FROM insync.runs WHERE job_name = 'checked';
