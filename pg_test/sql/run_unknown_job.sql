-- Running a job that does not exist names it.
CREATE EXTENSION insync;
SELECT * FROM sync_incremental('no_such_job');
SELECT * FROM sync_full('no_such_job');
SELECT * FROM sync_run('no_such_job');
