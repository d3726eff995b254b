-- An integer watermark filled from a sequence: a value drawn before the run and committed
-- after a higher one is not skipped (the run waits for transactions holding sequence values).
CREATE EXTENSION insync;
\i pg_test/setup/sessions.sql
CREATE SCHEMA life;
CREATE TABLE life.events (id bigserial PRIMARY KEY, v text);
CREATE TABLE life.events_copy (id bigint PRIMARY KEY, v text);
INSERT INTO life.events (v) SELECT 'e' FROM generate_series(1, 10);
SELECT job_name FROM sync_define('life_events', source => 'life.events', target => 'life.events_copy',
                                 key => '{id}', watermark => 'id');
SELECT status, rows_inserted FROM sync_incremental('life_events');
SELECT scenario.connect('writer');
SELECT scenario.connect('runner');
SELECT pid AS runner_pid FROM dblink('runner', 'SELECT pg_backend_pid()') AS t(pid int) \gset
SELECT dblink_exec('writer', 'BEGIN');
SELECT * FROM dblink('writer', 'SELECT nextval(''life.events_id_seq'')') AS t(drawn bigint);
INSERT INTO life.events (v) VALUES ('committed first');
SELECT dblink_send_query('runner', 'SELECT status, rows_inserted FROM sync_incremental(''life_events'')');
SELECT scenario.wait_until(format('SELECT EXISTS (SELECT FROM pg_stat_activity WHERE pid = %s AND wait_event_type = ''Lock'')',
                              :runner_pid)) AS run_waits_for_the_holder;
SELECT dblink_exec('writer', 'INSERT INTO life.events (id, v) VALUES (11, ''committed late'')');
SELECT dblink_exec('writer', 'COMMIT');
SELECT * FROM dblink_get_result('runner') AS t(status text, rows_inserted bigint);
SELECT id, v FROM life.events_copy WHERE id > 10 ORDER BY id;
SELECT dblink_disconnect('writer');
SELECT dblink_disconnect('runner');
-- Without a sequence default a run cannot see values held by open transactions: said at
-- definition, with the remedy.
CREATE TABLE life.versions (id int PRIMARY KEY, version bigint NOT NULL);
CREATE TABLE life.versions_copy (id int PRIMARY KEY, version bigint);
SELECT job_name FROM sync_define('life_versions', source => 'life.versions', target => 'life.versions_copy',
                                 key => '{id}', watermark => 'version');
SELECT job_name FROM sync_define('life_versions2', source => 'life.versions', target => 'life.versions_copy',
                                 key => '{id}', watermark => 'version', lookback => '100');

