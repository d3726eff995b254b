-- The job lock cannot be taken from outside insync. In a session of its own, eve takes the
-- advisory lock insync 0.1.0 used, and cannot lock the job's catalog row: runs are neither
-- skipped nor shown as running. While a real run holds the job, another session's run is
-- skipped and job_status says running.
\i pg_test/setup/tro.sql
\i pg_test/setup/sessions.sql
SELECT dblink_connect('eve', format('host=127.0.0.1 port=%s dbname=%s user=eve',
                                    inet_server_port(), current_database()));
SELECT * FROM dblink('eve', format('SELECT pg_advisory_lock(1936291427, %s) IS NULL',
                     (SELECT job_id FROM insync.jobs WHERE job_name = 'by_filter'))) AS t(locked boolean);
SELECT dblink_exec('eve', 'BEGIN');
SELECT * FROM dblink('eve', 'SELECT 1 FROM insync.jobs FOR UPDATE') AS t(x int);
SELECT dblink_exec('eve', 'ROLLBACK');
SELECT job_name, status FROM insync.job_status WHERE job_name = 'by_filter';
SELECT status FROM sync_run('by_filter');
SELECT dblink_disconnect('eve');
SELECT scenario.connect('owner');
SELECT dblink_exec('owner', 'BEGIN');
SELECT * FROM dblink('owner', 'SELECT status FROM sync_run(''by_filter'')') AS t(status text);
SELECT job_name, status FROM insync.job_status WHERE job_name = 'by_filter';
SELECT status FROM sync_run('by_filter');
SELECT dblink_exec('owner', 'COMMIT');
SELECT dblink_disconnect('owner');
SELECT job_name, status FROM insync.job_status WHERE job_name = 'by_filter';
