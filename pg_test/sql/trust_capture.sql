-- Capture: a role that can CREATE in public plants functions and operators that match
-- insync's SQL better than the built-ins, before and after CREATE EXTENSION. Each one
-- raises a WARNING naming itself when called: this file shows none of them ever is.
SET client_min_messages = warning;
CREATE ROLE planter;
CREATE ROLE victim LOGIN;
GRANT CREATE ON SCHEMA public TO planter, victim;

SET ROLE planter;
CREATE FUNCTION public.cardinality(text[]) RETURNS int LANGUAGE plpgsql AS $$
BEGIN RAISE WARNING 'captured: cardinality(text[]) as %', current_user; RETURN pg_catalog.cardinality($1); END $$;
CREATE FUNCTION public.captured_regrole_eq(regrole, regrole) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN RAISE WARNING 'captured: =(regrole,regrole) as %', current_user; RETURN $1::oid OPERATOR(pg_catalog.=) $2::oid; END $$;
CREATE OPERATOR public.= (LEFTARG = regrole, RIGHTARG = regrole, FUNCTION = public.captured_regrole_eq);
CREATE FUNCTION public.captured_varchar_eq(varchar, varchar) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN RAISE WARNING 'captured: =(varchar,varchar) as %', current_user; RETURN $1::text OPERATOR(pg_catalog.=) $2::text; END $$;
CREATE OPERATOR public.= (LEFTARG = varchar, RIGHTARG = varchar, FUNCTION = public.captured_varchar_eq);
CREATE FUNCTION public.captured_contained(text[], text[]) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN RAISE WARNING 'captured: <@(text[],text[]) as %', current_user; RETURN $1 OPERATOR(pg_catalog.<@) $2; END $$;
CREATE OPERATOR public.<@ (LEFTARG = text[], RIGHTARG = text[], FUNCTION = public.captured_contained);
CREATE FUNCTION public.jsonb_build_object(text, text) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN RAISE WARNING 'captured: jsonb_build_object(text,text) as %', current_user; RETURN pg_catalog.jsonb_build_object($1, $2); END $$;
CREATE FUNCTION public.captured_count(bigint, integer) RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN RAISE WARNING 'captured: count(integer) as %', current_user; RETURN $1 OPERATOR(pg_catalog.+) 1; END $$;
CREATE AGGREGATE public.count(integer) (SFUNC = public.captured_count, STYPE = bigint, INITCOND = '0');
CREATE FUNCTION public.captured_array_agg(text[], text) RETURNS text[] LANGUAGE plpgsql AS $$
BEGIN RAISE WARNING 'captured: array_agg(text) as %', current_user; RETURN pg_catalog.array_append($1, $2); END $$;
CREATE AGGREGATE public.array_agg(text) (SFUNC = public.captured_array_agg, STYPE = text[]);
RESET ROLE;

CREATE EXTENSION insync;

-- Planted after the install, against insync's own types.
SET ROLE planter;
CREATE FUNCTION public.jsonb_populate_record(insync.runs, jsonb) RETURNS insync.runs LANGUAGE plpgsql AS $$
BEGIN RAISE WARNING 'captured: jsonb_populate_record(insync.runs,jsonb) as %', current_user;
      RETURN pg_catalog.jsonb_populate_record($1, $2); END $$;
CREATE FUNCTION public.captured_oid_eq(oid, integer) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN RAISE WARNING 'captured: =(oid,integer) as %', current_user; RETURN $1 OPERATOR(pg_catalog.=) $2::oid; END $$;
CREATE OPERATOR public.= (LEFTARG = oid, RIGHTARG = integer, FUNCTION = public.captured_oid_eq);
RESET ROLE;

-- A victim's job over varchar keys, run every way insync runs SQL: serial, parallel with
-- workers, failed (the recorder), views; then the repairs, by the victim and by a superuser.
SET ROLE victim;
CREATE TABLE public.src (code varchar PRIMARY KEY, store int, ts timestamptz);
CREATE TABLE public.dst (code varchar PRIMARY KEY, store int, ts timestamptz);
CREATE TABLE public.bad (code varchar, store int, ts timestamptz);
INSERT INTO public.src SELECT 'c' || g, g % 3, now() - interval '1 hour' FROM generate_series(1, 50) g;
INSERT INTO public.bad VALUES (NULL, 1, now() - interval '1 hour');
CREATE TABLE public.facts (code varchar, store int, org int);
INSERT INTO public.facts VALUES ('a', 1, 99), ('a', 1, 99), ('b', 2, 12);
CREATE TABLE public.dim (store int PRIMARY KEY, org int);
INSERT INTO public.dim VALUES (1, 11), (2, 12);
SELECT job_name, merge_strategy FROM sync_define('cap', source => 'src', target => 'dst', key => '{code}',
       watermark => 'ts', source_filter => 'store <> 7', lookback => '1 minute');
SELECT job_name FROM sync_define('cap_bad', source => 'bad', target => 'dst', key => '{code}', watermark => 'ts');
SELECT status, rows_inserted FROM sync_incremental('cap');
SELECT status, rows_read FROM sync_full('cap', parallel => 2);
SELECT status FROM sync_run('cap_bad');
SELECT job_name, status FROM insync.job_status ORDER BY 1;
SELECT count(*) > 0 AS has_segments FROM insync.segments;
SELECT job_name FROM sync_alter('cap', source_filter => 'store <> 8');
SELECT cause, copies FROM find_duplicates('facts', '{code}');
SELECT cause, keys FROM duplicate_summary('facts', '{code}');
SELECT cause, removed FROM dedup_table('facts', '{code}', keep => 'first');
SELECT old_value, new_value, rows_changed FROM remap_dimension('facts', 'org', 'dim', '{store}', 'org');
SELECT restore_quarantine(max(batch_id)) FROM insync.quarantine WHERE reason = 'remapped';
CALL remap_dimension_batched('facts', 'org', 'dim', '{store}', 'org');
SELECT sync_drop('cap_bad');
RESET ROLE;
-- The same as a superuser.
SELECT status FROM sync_incremental('cap');
SELECT status FROM sync_full('cap', parallel => 2);
INSERT INTO public.facts VALUES ('b', 2, 12);
SELECT cause, removed FROM dedup_table('facts', '{code}', keep => 'first');
SELECT restore_quarantine(max(batch_id)) FROM insync.quarantine WHERE reason = 'identical';
SELECT sync_drop('cap');

