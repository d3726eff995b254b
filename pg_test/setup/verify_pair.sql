-- Shared fixture: a source and a target synced by a job, with the key and column types sync_verify
-- must handle: a composite key (text, uuid, timestamp), NULLs in non-key columns, and columns
-- without an equality operator (json, point).
CREATE EXTENSION insync;
SET client_min_messages = warning;
CREATE SCHEMA ods;
CREATE SCHEMA dw;
CREATE TABLE ods.item (
    region text, item uuid, valid_from timestamp,
    qty numeric(10,2), note text, attrs json, spot point,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (region, item, valid_from));
CREATE TABLE dw.item (
    region text, item uuid, valid_from timestamp,
    qty numeric(10,2), note text, attrs json, spot point,
    updated_at timestamptz,
    PRIMARY KEY (region, item, valid_from));
INSERT INTO ods.item
SELECT CASE WHEN g % 2 = 0 THEN 'north' ELSE 'south' END,
       ('00000000-0000-0000-0000-' || lpad(g::text, 12, '0'))::uuid,
       timestamp '2024-01-01' + g * interval '1 hour',
       g * 1.5, CASE WHEN g % 5 = 0 THEN NULL ELSE 'note ' || g END,
       CASE WHEN g % 7 = 0 THEN NULL ELSE json_build_object('g', g) END,
       CASE WHEN g % 3 = 0 THEN NULL ELSE point(g, -g) END,
       now() - interval '1 day'
  FROM generate_series(1, 2000) g;
SELECT job_name FROM sync_define('item', source => 'ods.item', target => 'dw.item',
       key => '{region,item,valid_from}', watermark => 'updated_at');
SELECT status, rows_inserted FROM sync_incremental('item');
