-- NULL keys in the window: the run fails as a whole, the failure is recorded, and after fixing
-- the source with a filter the same window syncs.
CREATE EXTENSION insync;
SET client_min_messages = warning;
CREATE TABLE feed (id int, v text, ts timestamp);
CREATE TABLE feed_copy (id int PRIMARY KEY, v text, ts timestamp);
INSERT INTO feed SELECT g, 'v', localtimestamp - interval '1 hour' FROM generate_series(1, 10) g;
INSERT INTO feed VALUES (NULL, 'orphan', localtimestamp - interval '1 hour'),
                        (NULL, 'orphan', localtimestamp - interval '1 hour');
SELECT job_name, merge_strategy FROM sync_define('feed', source => 'feed', target => 'feed_copy',
                                                 key => '{id}', watermark => 'ts');
SELECT * FROM sync_incremental('feed');
SELECT count(*) AS synced FROM feed_copy;
SELECT status, error_message FROM insync.runs WHERE job_name = 'feed';
SELECT job_name, status, watermark FROM insync.job_status WHERE job_name = 'feed';
SELECT job_name FROM sync_alter('feed', source_filter => 'id IS NOT NULL');
SELECT status, rows_inserted FROM sync_incremental('feed');
