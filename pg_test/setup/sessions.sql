-- Shared helpers for scenarios with more than one session: dblink connections to this
-- database, and a wait for a state (never for a fixed time), with a generous bound.
CREATE EXTENSION dblink;
CREATE SCHEMA scenario;
CREATE FUNCTION scenario.connect(name text) RETURNS text LANGUAGE sql AS $$
  SELECT dblink_connect(name, format('host=127.0.0.1 port=%s dbname=%s user=postgres',
                                     inet_server_port(), current_database()))
$$;
CREATE FUNCTION scenario.wait_until(condition text) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
  met boolean;
BEGIN
  FOR i IN 1..1200 LOOP
    PERFORM pg_stat_clear_snapshot();
    EXECUTE condition INTO met;
    IF met THEN RETURN true; END IF;
    PERFORM pg_sleep(0.1);
  END LOOP;
  RETURN false;
END $$;
