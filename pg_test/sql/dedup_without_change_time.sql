-- Without a change-time column the default keep => 'latest' still removes identical copies
-- (which one stays does not matter); copies that differ are kept as distinct rows.
CREATE EXTENSION insync;
SET client_min_messages = notice;
CREATE TABLE copies (id int, v text);
INSERT INTO copies VALUES (1, 'a'), (1, 'a'), (2, 'b'), (2, 'c');
SELECT cause, keys, removed, action FROM dedup_table('copies', '{id}');
SELECT id, v FROM copies ORDER BY id, v;
