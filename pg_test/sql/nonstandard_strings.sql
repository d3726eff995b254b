-- standard_conforming_strings = off: insync's literals read the same (a column name with a
-- backslash, a quote and a newline is reported intact).
CREATE EXTENSION insync;
CREATE TABLE odd (id int, "we\'ird
name" text);
INSERT INTO odd VALUES (1, 'a'), (1, 'b');
SET standard_conforming_strings = off;
SET escape_string_warning = off;
SELECT copies, differing_columns, cause FROM find_duplicates('odd', '{id}');
