-- Shared fixture: roles alice (who may write shop.dst) and bob (who may only read), and a job
-- alice defined and ran once.
CREATE EXTENSION insync;
SET client_min_messages = warning;
CREATE ROLE alice;
CREATE ROLE bob;
CREATE SCHEMA shop;
GRANT USAGE ON SCHEMA shop TO alice, bob;
CREATE TABLE shop.src (id int PRIMARY KEY, v text, ts timestamptz);
CREATE TABLE shop.dst (id int PRIMARY KEY, v text, ts timestamptz);
INSERT INTO shop.src SELECT g, 'v', now() - interval '1 hour' FROM generate_series(1, 5) g;
GRANT SELECT ON shop.src TO alice, bob;
GRANT SELECT, INSERT, UPDATE, DELETE ON shop.dst TO alice;
GRANT SELECT ON shop.dst TO bob;
SET ROLE alice;
SELECT job_name FROM sync_define('alice_job', source => 'shop.src', target => 'shop.dst',
                                 key => '{id}', watermark => 'ts');
SELECT status, rows_inserted FROM sync_incremental('alice_job');
RESET ROLE;
