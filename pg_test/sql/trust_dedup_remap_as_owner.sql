-- dedup_table and remap_dimension by a superuser touch tro's table as tro (its trigger and the
-- dimension view run as tro); a caller without the table's privileges gets an error before
-- anything runs as the owner.
\i pg_test/setup/tro.sql
SET ROLE tro;
CREATE VIEW tro.dim_view AS SELECT * FROM tro.dim WHERE tro.spy('lookup view');
CREATE TABLE tro.facts (id int, store int, org int);
INSERT INTO tro.facts VALUES (1, 0, 99), (1, 0, 99), (2, 1, 11);
CREATE TRIGGER spy AFTER DELETE OR UPDATE ON tro.facts FOR EACH STATEMENT EXECUTE FUNCTION tro.spy_trigger('table trigger');
RESET ROLE;
SELECT cause, removed, action FROM dedup_table('tro.facts', '{id}', keep => 'first');
SELECT old_value, new_value, rows_changed FROM remap_dimension('tro.facts', 'org', 'tro.dim_view', '{store}', 'org');
SELECT via, ran_as FROM tro.log GROUP BY 1, 2 ORDER BY 1, 2;
SELECT rolsuper AS tro_is_superuser FROM pg_roles WHERE rolname = 'tro';
SET ROLE eve;
SELECT * FROM dedup_table('tro.facts', '{id}', keep => 'first');
SELECT * FROM find_duplicates('tro.facts', '{id}');
SELECT * FROM remap_dimension('tro.facts', 'org', 'tro.dim', '{store}', 'org');
RESET ROLE;
-- A restore goes back only into the table its rows came from, for a role that may write it.
SELECT batch_id AS dedup_batch FROM insync.quarantine WHERE table_name = 'tro.facts' AND reason = 'identical' \gset
SET ROLE eve;
SELECT restore_quarantine(:dedup_batch);
RESET ROLE;
SELECT restore_quarantine(:dedup_batch);
SELECT count(*) AS facts_after_restore FROM tro.facts;
