-- sync_backfill: a job's first load in batches of key ranges, each committed on its own with
-- its progress (a procedure: it needs transaction control). See src/backfill.rs.
CREATE PROCEDURE sync_backfill(job_name text, batch_size integer DEFAULT NULL)
LANGUAGE plpgsql AS $proc$
-- Runs as its caller with the caller's search_path (a procedure that COMMITs cannot pin one
-- with SET), so the one function it calls is schema-qualified; every batch runs in it as the
-- job's owner, as any run does.
DECLARE
    finished boolean := false;
BEGIN
    IF job_name IS NULL THEN
        RAISE EXCEPTION 'sync_backfill: argument "job_name" must not be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    WHILE NOT finished LOOP
        SELECT s.done INTO finished FROM @extschema@.sync_backfill_step(job_name, batch_size) s;
        COMMIT;  -- the batch, its run and the backfill's progress, together
    END LOOP;
END
$proc$;
COMMENT ON PROCEDURE sync_backfill(text, integer) IS
    'Loads a job''s first rows in batches of key ranges (batch_size, else the job''s backfill_batch), each committed with its progress; CALL it outside a transaction block, and again to resume after a cancel or crash';
