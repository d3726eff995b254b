-- A serial run whose session is terminated mid-run leaves a record.
CREATE EXTENSION insync;
\i pg_test/setup/sessions.sql
CREATE SCHEMA life;
CREATE TABLE life.src (id int PRIMARY KEY, v text, ts timestamptz NOT NULL);
INSERT INTO life.src SELECT g, 'a', now() - interval '1 hour' FROM generate_series(1, 2000) g;
CREATE TABLE life.s_dst (id int PRIMARY KEY, v text, ts timestamptz);
SELECT job_name FROM sync_define('life_serial', source => 'life.src', target => 'life.s_dst', key => '{id}',
                                 watermark => 'ts', parallel => '1');
SELECT scenario.connect('runner');
SELECT pid AS runner_pid FROM dblink('runner', 'SELECT pg_backend_pid()') AS t(pid int) \gset
BEGIN;
LOCK TABLE life.s_dst IN EXCLUSIVE MODE;
SELECT dblink_send_query('runner', 'SELECT status FROM sync_incremental(''life_serial'')');
SELECT scenario.wait_until(format('SELECT EXISTS (SELECT FROM pg_stat_activity WHERE pid = %s AND wait_event_type = ''Lock'')',
                              :runner_pid)) AS runner_waits;
SELECT pg_terminate_backend(:runner_pid);
SELECT scenario.wait_until(format('SELECT NOT EXISTS (SELECT FROM pg_stat_activity WHERE pid = %s)', :runner_pid)) AS runner_gone;
COMMIT;
SELECT dblink_disconnect('runner');
SELECT status, finished_at IS NOT NULL AS finished, error_message, rows_inserted
  FROM insync.runs WHERE job_name = 'life_serial';
SELECT count(*) AS rows_written FROM life.s_dst;
