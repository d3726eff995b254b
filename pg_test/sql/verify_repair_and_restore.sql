-- sync_verify(job, repair => true) rewrites only the differing keys, in one transaction:
-- afterwards source and target are equal; every row it deleted or wrote is in the quarantine,
-- so restore_quarantine puts the target back exactly as it was; the watermark does not move.
\i pg_test/setup/verify_pair.sql
DELETE FROM dw.item WHERE item = '00000000-0000-0000-0000-000000000010';
INSERT INTO dw.item VALUES ('east', '00000000-0000-0000-0000-000000009999', '2024-06-01', 1, 'x', NULL, NULL, now());
UPDATE dw.item SET note = 'edited', spot = point(0, 0) WHERE item = '00000000-0000-0000-0000-000000000021';
UPDATE dw.item SET attrs = '{"g": 30, "x": 1}' WHERE item = '00000000-0000-0000-0000-000000000030';
CREATE TABLE before_repair AS SELECT * FROM dw.item;
SELECT watermark AS watermark_before FROM insync.job_state \gset
SELECT status, missing, extra, changed, rows_deleted, rows_inserted, quarantine_batch IS NOT NULL AS quarantined
  FROM sync_verify('item', repair => true);
-- Source and target now agree, row for row (json and point compared through their text).
SELECT count(*) AS rows_differing FROM (
  (SELECT region, item, valid_from, qty, note, attrs::text, spot::text, updated_at FROM ods.item
   EXCEPT ALL SELECT region, item, valid_from, qty, note, attrs::text, spot::text, updated_at FROM dw.item)
  UNION ALL
  (SELECT region, item, valid_from, qty, note, attrs::text, spot::text, updated_at FROM dw.item
   EXCEPT ALL SELECT region, item, valid_from, qty, note, attrs::text, spot::text, updated_at FROM ods.item)) d;
SELECT status, missing, extra, changed FROM sync_verify('item');
SELECT watermark = :'watermark_before' AS watermark_unchanged FROM insync.job_state;
-- The quarantine holds the replaced and removed rows, and the rows the repair wrote.
SELECT quarantine_batch AS batch FROM insync.verifications WHERE status = 'repaired' \gset
SELECT reason, count(*) AS rows, count(*) FILTER (WHERE after_data IS NOT NULL) AS written
  FROM insync.quarantine WHERE batch_id = :batch GROUP BY reason;
-- restore_quarantine undoes the repair exactly.
SELECT restore_quarantine(:batch) AS restored;
SELECT count(*) AS rows_differing_from_before FROM (
  (SELECT region, item, valid_from, qty, note, attrs::text, spot::text, updated_at FROM before_repair
   EXCEPT ALL SELECT region, item, valid_from, qty, note, attrs::text, spot::text, updated_at FROM dw.item)
  UNION ALL
  (SELECT region, item, valid_from, qty, note, attrs::text, spot::text, updated_at FROM dw.item
   EXCEPT ALL SELECT region, item, valid_from, qty, note, attrs::text, spot::text, updated_at FROM before_repair)) d;
SELECT status, missing, extra, changed FROM sync_verify('item');
-- A repair that fails leaves the target untouched: a trigger refusing writes.
CREATE FUNCTION dw.refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'target is frozen'; END $$;
CREATE TRIGGER frozen BEFORE INSERT ON dw.item FOR EACH ROW EXECUTE FUNCTION dw.refuse();
SELECT status FROM sync_verify('item', repair => true);
SELECT count(*) AS rows_differing_from_before FROM (
  SELECT region, item, valid_from FROM before_repair EXCEPT SELECT region, item, valid_from FROM dw.item) d;
SELECT status, left(error_message, 60) AS error FROM insync.verifications ORDER BY verification_id DESC LIMIT 1;
