-- Every insync object says what it is for.
CREATE EXTENSION insync;
SELECT count(*) AS uncommented FROM pg_catalog.pg_depend d
  JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid AND e.extname = 'insync'
 WHERE d.deptype = 'e' AND obj_description(d.objid, (SELECT relname FROM pg_class WHERE oid = d.classid)) IS NULL
   AND d.classid <> 'pg_catalog.pg_type'::regclass;
