-- sync_verify compares values as the target stores them: source columns of other types
-- (int vs bigint, varchar vs text, a wider numeric) are cast to the target's type first, and a
-- timestamptz is the same instant whatever the session's time zone. Equal values in another
-- form are no difference; a real one is found.
CREATE EXTENSION insync;
SET client_min_messages = warning;
CREATE TABLE src (id int PRIMARY KEY, code varchar(5), amt numeric(10,3), at timestamptz NOT NULL, tags text[]);
CREATE TABLE dst (id bigint PRIMARY KEY, code text, amt numeric(10,2), at timestamptz, tags text[]);
INSERT INTO src SELECT g, 'c' || g, g / 8.0, timestamptz '2024-03-10 12:00:00+00' + g * interval '1 minute',
                       ARRAY['a' || g, NULL] FROM generate_series(1, 300) g;
SELECT job_name FROM sync_define('typed', source => 'src', target => 'dst', key => '{id}', watermark => 'at');
SELECT status, rows_inserted FROM sync_incremental('typed');
SET TimeZone = 'Asia/Kolkata';
SELECT status, source_rows, target_rows, missing, extra, changed FROM sync_verify('typed');
SET TimeZone = 'UTC';
-- amt 0.125 is stored as 0.13 in the target: the source cast to numeric(10,2) agrees with it.
SELECT amt FROM src WHERE id = 1;
SELECT amt FROM dst WHERE id = 1;
UPDATE dst SET at = at + interval '1 microsecond' WHERE id = 7;
UPDATE dst SET tags = ARRAY['a8'] WHERE id = 8;
SELECT * FROM sync_verify_keys('typed');
