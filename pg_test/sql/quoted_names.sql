-- Names with capitals, spaces, quotes and semicolons are quoted, never injected; sync_define
-- returns them quoted, so they can be pasted back.
CREATE EXTENSION insync;
SET client_min_messages = warning;
CREATE SCHEMA "Sales; DROP";
CREATE TABLE "Sales; DROP"."Order ""Lines""" ("Line Id" int PRIMARY KEY, "qty;" int, "Changed" date);
CREATE TABLE "Sales; DROP".target ("Line Id" int PRIMARY KEY, "qty;" int, "Changed" date);
INSERT INTO "Sales; DROP"."Order ""Lines""" VALUES (1, 5, current_date - 3), (2, 7, current_date - 2);
SELECT source, target, key_columns, columns FROM sync_define('odd names',
       source => '"Sales; DROP"."Order ""Lines"""', target => '"Sales; DROP".target',
       key => '{Line Id}', watermark => 'Changed');
SELECT status, rows_inserted FROM sync_incremental('odd names');
SELECT "Line Id", "qty;", current_date - "Changed" AS days_ago FROM "Sales; DROP".target ORDER BY 1;
