-- insync 0.3.0 -> 0.4.0
\echo Use "ALTER EXTENSION insync UPDATE TO '0.4.0'" to load this file. \quit

-- === Slim remap quarantine ===================================================================
-- A plain remap of a table with a row key quarantines the rows' keys and the old value (one
-- entry per join key and value pair, up to 10,000 rows each) instead of whole before-images.
-- Rows quarantined by 0.3.0 keep row_keys NULL and restore as whole rows, as before.
ALTER TABLE insync.quarantine ADD COLUMN row_keys json;
ALTER TABLE insync.quarantine ADD COLUMN row_key_columns text[];
COMMENT ON TABLE insync.quarantine IS 'What dedup_table removed and remap_dimension changed or merged, written in the same transaction: whole before-images, or for a plain remap of a table with a row key the rows'' keys and the old value';
COMMENT ON COLUMN insync.quarantine.row_data IS 'The whole removed row, as json (not jsonb: json values are kept byte for byte); for entries with row_keys, only the changed column''s old value';
COMMENT ON COLUMN insync.quarantine.after_data IS 'For rows rewritten by a remap merge: the row as it was left, so an undo finds it; for entries with row_keys, the value the remap wrote';
COMMENT ON COLUMN insync.quarantine.row_keys IS 'For a plain remap of a table with a row key: the rows changed, each by that key (a json array of key values, or of arrays of them for a key of several columns; up to 10,000 rows per entry); NULL: row_data is the whole row';
COMMENT ON COLUMN insync.quarantine.row_key_columns IS 'The columns of row_keys: a unique key of NOT NULL columns of the table';
-- === end of slim remap quarantine ============================================================
