-- remap_dimension_batched: remap_dimension over a table in batches of heap blocks, each
-- committed on its own (a procedure: it needs transaction control).
CREATE PROCEDURE remap_dimension_batched(target text, "column" text, dimension text, join_on text[],
                                         value text, current_by text DEFAULT NULL,
                                         current_flag text DEFAULT NULL, merge jsonb DEFAULT NULL,
                                         batch_blocks integer DEFAULT 10000)
LANGUAGE plpgsql AS $proc$
-- Runs as its caller with the caller's search_path (a procedure that COMMITs cannot pin one
-- with SET), so every operator and function below is schema-qualified.
DECLARE
    rel regclass;
    part regclass;
    blocks bigint;
    first_block bigint;
    batch bigint;
    changed bigint;
    batch_of_call bigint;
    total bigint := 0;
    batches integer := 0;
BEGIN
    IF target IS NULL OR "column" IS NULL OR dimension IS NULL OR join_on IS NULL OR value IS NULL
       OR batch_blocks IS NULL THEN
        RAISE EXCEPTION 'remap_dimension_batched: argument "%" must not be NULL',
            CASE WHEN target IS NULL THEN 'target' WHEN "column" IS NULL THEN 'column'
                 WHEN dimension IS NULL THEN 'dimension' WHEN join_on IS NULL THEN 'join_on'
                 WHEN value IS NULL THEN 'value' ELSE 'batch_blocks' END
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF batch_blocks OPERATOR(pg_catalog.<) 1 THEN
        RAISE EXCEPTION 'remap_dimension_batched: batch_blocks must be at least 1, not %', batch_blocks
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    rel := target::regclass;
    -- The leaves of a partitioned table, or the table itself.
    FOR part IN SELECT p.relid FROM pg_catalog.pg_partition_tree(rel) p WHERE p.isleaf
                UNION ALL SELECT rel WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_partition_tree(rel))
                ORDER BY 1 LOOP
        blocks := pg_catalog.pg_relation_size(part)
                  OPERATOR(pg_catalog./) pg_catalog.current_setting('block_size')::bigint;
        first_block := 0;
        WHILE first_block OPERATOR(pg_catalog.<) blocks LOOP
            -- The first call opens the quarantine batch; the later ones add to it.
            SELECT coalesce(pg_catalog.sum(r.rows_changed), 0), pg_catalog.max(r.batch_id)
              INTO changed, batch_of_call
              FROM @extschema@.remap_dimension(part::text, "column", dimension, join_on, value,
                                   current_by => current_by, current_flag => current_flag, merge => merge,
                                   block_from => first_block,
                                   block_to => first_block OPERATOR(pg_catalog.+) batch_blocks,
                                   batch_id => batch) r;
            batch := coalesce(batch, batch_of_call);
            total := total OPERATOR(pg_catalog.+) changed;
            batches := batches OPERATOR(pg_catalog.+) 1;
            RAISE NOTICE 'remap_dimension: % blocks % to % of %: % rows changed (% so far)',
                part, first_block,
                least(first_block OPERATOR(pg_catalog.+) batch_blocks, blocks) OPERATOR(pg_catalog.-) 1,
                blocks, changed, total;
            COMMIT;  -- each batch is its own transaction: locks are held one batch at a time
            first_block := first_block OPERATOR(pg_catalog.+) batch_blocks;
        END LOOP;
    END LOOP;
    RAISE NOTICE 'remap_dimension: % rows changed in % batches; restore_quarantine(%) undoes it', total, batches, batch;
END
$proc$;
COMMENT ON PROCEDURE remap_dimension_batched(text, text, text, text[], text, text, text, jsonb, integer) IS
    'remap_dimension in batches of heap blocks, each committed on its own (CALL it outside a transaction block); one quarantine batch for the whole run';
