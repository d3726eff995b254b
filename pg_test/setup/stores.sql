-- Shared fixture: a store dimension with history (store 4 moved from org 11 to org 42), and
-- sales facts and daily aggregates that still carry the old organization.
CREATE EXTENSION insync;
SET client_min_messages = notice;
CREATE SCHEMA mart;
CREATE TABLE mart.dim_store (store_id int, org_id int, valid_from date, is_current boolean);
INSERT INTO mart.dim_store SELECT s, 10 + s % 3, '2025-01-01', true FROM generate_series(1, 6) s;
CREATE TABLE mart.sales (sale_id int PRIMARY KEY, store_id int, store_org_id int, day date, amount numeric(10,2));
INSERT INTO mart.sales SELECT g, 1 + g % 6, 10 + (1 + g % 6) % 3, '2026-01-01'::date + g % 3, g
  FROM generate_series(1, 60) g;
CREATE TABLE mart.sales_daily (day date, store_id int, store_org_id int, amount numeric(10,2),
                               PRIMARY KEY (day, store_id));
INSERT INTO mart.sales_daily SELECT day, store_id, store_org_id, sum(amount) FROM mart.sales GROUP BY 1, 2, 3;
UPDATE mart.dim_store SET is_current = false WHERE store_id = 4;
INSERT INTO mart.dim_store VALUES (4, 42, '2026-02-01', true);
