-- Shared fixture for "who runs what": role tro owns tables, views, a trigger and a default
-- that all call tro.spy(), which records whom it ran as and tries to make tro superuser;
-- role eve may only look. tro defines job 'by_filter', whose filter calls tro.spy().
CREATE EXTENSION insync;
SET client_min_messages = warning;
CREATE ROLE tro LOGIN;
CREATE ROLE eve LOGIN;
CREATE SCHEMA tro AUTHORIZATION tro;
GRANT USAGE ON SCHEMA tro TO eve;
SET ROLE tro;
CREATE TABLE tro.log (ran_as text, via text);
CREATE FUNCTION tro.spy(via text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO tro.log VALUES (current_user, via);
  BEGIN
    EXECUTE 'ALTER ROLE tro SUPERUSER';
  EXCEPTION WHEN insufficient_privilege THEN NULL;
  END;
  RETURN true;
END $$;
CREATE FUNCTION tro.spy_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM tro.spy(TG_ARGV[0]); RETURN NULL; END $$;
CREATE FUNCTION tro.spy_default() RETURNS int LANGUAGE plpgsql AS $$
BEGIN PERFORM tro.spy('default'); RETURN 0; END $$;
CREATE TABLE tro.src (id int PRIMARY KEY, store int, v text, ts timestamptz);
INSERT INTO tro.src SELECT g, g % 3, 'v', now() - interval '1 hour' FROM generate_series(1, 20) g;
CREATE TABLE tro.dim (store int, org int);
INSERT INTO tro.dim VALUES (0, 10), (1, 11), (2, 12);
CREATE TABLE tro.dst (id int PRIMARY KEY, store int, v text, ts timestamptz, org int,
                      extra int DEFAULT tro.spy_default());
CREATE TRIGGER spy AFTER INSERT ON tro.dst FOR EACH STATEMENT EXECUTE FUNCTION tro.spy_trigger('trigger');
SELECT job_name FROM sync_define('by_filter', source => 'tro.src', target => 'tro.dst', key => '{id}',
       watermark => 'ts', source_filter => 'tro.spy(''filter'')', columns => '{id,store,v,ts}');
RESET ROLE;
