-- A partitioned source: one segment per partition.
CREATE EXTENSION insync;
SET client_min_messages = notice;
CREATE TABLE sales (id int, region text, amount numeric, ts timestamptz NOT NULL, PRIMARY KEY (id, region))
  PARTITION BY LIST (region);
CREATE TABLE sales_eu PARTITION OF sales FOR VALUES IN ('eu');
CREATE TABLE sales_us PARTITION OF sales FOR VALUES IN ('us');
CREATE TABLE sales_asia PARTITION OF sales FOR VALUES IN ('asia');
INSERT INTO sales SELECT g, (ARRAY['eu', 'us', 'asia'])[1 + g % 3], g * 1.5, now() - interval '1 hour'
  FROM generate_series(1, 3000) g;
CREATE TABLE sales_dst (id int, region text, amount numeric, ts timestamptz, PRIMARY KEY (id, region));
SELECT job_name FROM sync_define('par_sales', source => 'sales', target => 'sales_dst',
                                 key => '{id,region}', watermark => 'ts');
SELECT status, rows_read, rows_inserted FROM sync_incremental('par_sales', parallel => 2);
SELECT segment_no, slice, state, rows_read FROM insync.segments WHERE job_name = 'par_sales' ORDER BY segment_no;
SELECT count(*) AS differing FROM (TABLE sales EXCEPT TABLE sales_dst) d;
