-- Shared fixture: an OLTP customer table (1,000 rows changed a day ago) and its warehouse copy.
CREATE EXTENSION insync;
SET client_min_messages = warning;
CREATE SCHEMA ods;
CREATE SCHEMA dw;
CREATE TABLE ods.customer (customer_id int PRIMARY KEY, name text, city text,
                           updated_at timestamptz NOT NULL);
CREATE TABLE dw.customer (customer_id int PRIMARY KEY, name text, city text, updated_at timestamptz);
INSERT INTO ods.customer
SELECT g, 'customer ' || g, CASE WHEN g % 3 = 0 THEN 'Lyon' ELSE 'Paris' END, now() - interval '1 day'
  FROM generate_series(1, 1000) g;
