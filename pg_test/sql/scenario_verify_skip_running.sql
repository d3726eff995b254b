-- A verification takes the job's lock like a run: while a run (or verification) holds the job
-- in another session, sync_verify returns at once, skipped and recorded; and a run is skipped
-- while a verification holds the job. A role that cannot run the job cannot verify it.
CREATE EXTENSION insync;
SET client_min_messages = warning;
\i pg_test/setup/sessions.sql
CREATE TABLE src (id int PRIMARY KEY, v text, updated_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE dst (id int PRIMARY KEY, v text, updated_at timestamptz);
INSERT INTO src SELECT g, 'v', now() - interval '1 hour' FROM generate_series(1, 100) g;
SELECT job_name FROM sync_define('busy', source => 'src', target => 'dst', key => '{id}', watermark => 'updated_at');
SELECT status FROM sync_incremental('busy');
SELECT scenario.connect('second');
SELECT dblink_exec('second', 'BEGIN');
SELECT * FROM dblink('second', 'SELECT status FROM sync_incremental(''busy'')') AS t(status text);
SELECT status, source_rows, missing FROM sync_verify('busy', repair => true);
SELECT dblink_exec('second', 'COMMIT');
-- Now the second session verifies inside an open transaction; a run here is skipped.
SELECT dblink_exec('second', 'BEGIN');
SELECT * FROM dblink('second', 'SELECT status FROM sync_verify(''busy'')') AS t(status text);
SELECT status FROM sync_incremental('busy');
SELECT dblink_exec('second', 'COMMIT');
SELECT status, error_message FROM insync.verifications ORDER BY verification_id;
-- Skipped verifications are not what job_status reports as the last verification.
SELECT last_verification, last_differences FROM insync.job_status;
SELECT dblink_disconnect('second');
-- Another role neither sees nor verifies the job.
CREATE ROLE stranger;
SET ROLE stranger;
SELECT status FROM sync_verify('busy');
SELECT count(*) AS verifications_seen FROM insync.verifications;
RESET ROLE;
-- Bad arguments.
SELECT status FROM sync_verify(NULL);
SELECT status FROM sync_verify('busy', repair => NULL);
SELECT * FROM sync_verify_keys('busy', max_keys => -1);
