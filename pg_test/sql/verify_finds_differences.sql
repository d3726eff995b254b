-- sync_verify compares source and target inside the database: identical tables are equal;
-- missing, extra and changed keys are found exactly (also NULL versus a value, json and point
-- columns; a row rewritten with the same values is no difference); the result is recorded and shown in
-- job_status, and sync_verify_keys lists the keys themselves.
\i pg_test/setup/verify_pair.sql
SELECT status, source_rows, target_rows, missing, extra, changed, rows_deleted, rows_inserted
  FROM sync_verify('item');
SELECT job_name, last_verification, last_differences, last_verified_at IS NOT NULL AS verified
  FROM insync.job_status;
-- Two keys missing in the target, one extra, and five changed in different ways.
DELETE FROM dw.item WHERE item IN ('00000000-0000-0000-0000-000000000010', '00000000-0000-0000-0000-000000000011');
INSERT INTO dw.item VALUES ('east', '00000000-0000-0000-0000-000000009999', '2024-06-01', 1, 'x', NULL, NULL, now());
UPDATE dw.item SET note = NULL WHERE item = '00000000-0000-0000-0000-000000000021';      -- value -> NULL
UPDATE dw.item SET note = 'was null' WHERE item = '00000000-0000-0000-0000-000000000025';-- NULL -> value
UPDATE dw.item SET attrs = '{"g": 30, "x": 1}' WHERE item = '00000000-0000-0000-0000-000000000030';  -- json
UPDATE dw.item SET spot = point(0, 0) WHERE item = '00000000-0000-0000-0000-000000000031';            -- point
UPDATE dw.item SET qty = qty + 0.01 WHERE item = '00000000-0000-0000-0000-000000000032';
-- A row rewritten with the same values is no difference.
UPDATE dw.item SET note = note, attrs = attrs::text::json WHERE item = '00000000-0000-0000-0000-000000000040';
SELECT status, source_rows, target_rows, missing, extra, changed, differing_buckets <= 8 AS few_buckets
  FROM sync_verify('item');
SELECT * FROM sync_verify_keys('item');
SELECT * FROM sync_verify_keys('item', max_keys => 2);
-- Every verification is recorded; job_status shows the last one.
SELECT status, missing, extra, changed, finished_at >= started_at AS timed
  FROM insync.verifications ORDER BY verification_id;
SELECT job_name, last_verification, last_differences FROM insync.job_status;
-- Verification never moves the watermark, nor writes a run.
SELECT count(*) AS runs FROM insync.runs;
SELECT watermark = (SELECT window_high FROM insync.runs) AS watermark_unchanged FROM insync.job_state;
