-- Shared fixture: wh.orders with duplicates from three causes.
CREATE EXTENSION insync;
SET client_min_messages = notice;
CREATE SCHEMA wh;
-- 1. An overlapping extraction window: 2026-01-02 was extracted twice by the nightly script.
CREATE TABLE wh.orders (order_id int, amount numeric(10,2), data_source text,
                        updated_at timestamptz, loaded_at timestamptz);
INSERT INTO wh.orders SELECT g, g, 'erp', '2026-01-01'::timestamptz + g * interval '1 hour', '2026-01-03 02:00'
  FROM generate_series(1, 48) g;
INSERT INTO wh.orders SELECT order_id, amount, data_source, updated_at, '2026-01-04 02:00'
  FROM wh.orders WHERE updated_at >= '2026-01-02' AND updated_at < '2026-01-03';
-- 2. The same orders arriving from two source systems.
INSERT INTO wh.orders VALUES (1, 1, 'crm', '2026-01-01 01:00', '2026-01-03 02:00'),
                             (2, 2, 'crm', '2026-01-01 02:00', '2026-01-03 02:00');
-- 3. A later version of an order loaded beside the old one.
INSERT INTO wh.orders VALUES (3, 30, 'erp', '2026-01-05', '2026-01-06 02:00');
