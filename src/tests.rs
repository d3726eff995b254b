//! Behaviour inside Postgres. Each test runs in one transaction that is rolled back, so rows
//! are stamped with clock_timestamp() and the tests sleep past the run's start margin.

#[pgrx::pg_schema]
#[allow(clippy::module_inception)]
mod tests {
    use pgrx::prelude::*;

    fn run(sql: &str) {
        Spi::run(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    fn one<T: FromDatum + IntoDatum>(sql: &str) -> T {
        Spi::get_one::<T>(sql)
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .unwrap_or_else(|| panic!("{sql}: NULL"))
    }
    /// Lets a run's start margin pass so rows just stamped fall inside its window.
    fn settle() {
        run("SELECT pg_sleep(1.1)");
    }
    /// Rows of `a` not in `b` plus rows of `b` not in `a` (0 = equal as multisets of distinct rows).
    fn differences(a: &str, b: &str) -> i64 {
        one(&format!("SELECT count(*) FROM ((SELECT * FROM {a} EXCEPT SELECT * FROM {b}) UNION ALL (SELECT * FROM {b} EXCEPT SELECT * FROM {a})) d"))
    }

    /// json has no equality operator: tables holding it are compared through its text.
    const CUSTOMER_SRC: &str =
        "(SELECT customer_id, name, attrs::text, updated_at FROM ods.customer) a";
    const CUSTOMER_DW: &str =
        "(SELECT customer_id, name, attrs::text, updated_at FROM dw.customer) b";

    fn customers(with_pk: bool) {
        run("CREATE SCHEMA ods; CREATE SCHEMA dw");
        run(
            "CREATE TABLE ods.customer (customer_id int PRIMARY KEY, name text, attrs json, \
             updated_at timestamptz NOT NULL)",
        );
        run(
            "INSERT INTO ods.customer SELECT g, 'c' || g, json_build_object('n', g), \
             clock_timestamp() - interval '1 hour' FROM generate_series(1, 100) g",
        );
        let pk = if with_pk { "PRIMARY KEY" } else { "" };
        run(&format!("CREATE TABLE dw.customer (customer_id int {pk}, name text, attrs json, updated_at timestamptz)"));
    }

    fn define_customer() {
        run("SELECT * FROM sync_define('customer', source => 'ods.customer', target => 'dw.customer', \
             key => '{customer_id}', watermark => 'updated_at')");
    }

    #[pg_test]
    fn initial_load_then_only_changes() {
        customers(true);
        define_customer();
        let (status, read) = Spi::get_two::<String, i64>(
            "SELECT status, rows_read FROM sync_incremental('customer')",
        )
        .unwrap();
        assert_eq!((status.as_deref(), read), (Some("succeeded"), Some(100)));
        assert_eq!(differences(CUSTOMER_SRC, CUSTOMER_DW), 0);

        run("UPDATE ods.customer SET name = name || '!', updated_at = clock_timestamp() WHERE customer_id <= 10");
        run("INSERT INTO ods.customer VALUES (101, 'new', '{}', clock_timestamp())");
        settle();
        let row = Spi::get_three::<i64, i64, i64>(
            "SELECT rows_read, rows_inserted, rows_updated FROM sync_incremental('customer')",
        )
        .unwrap();
        assert_eq!(row, (Some(11), Some(1), Some(10)));
        assert_eq!(differences(CUSTOMER_SRC, CUSTOMER_DW), 0);
        // Watermark and run records were written with the data.
        assert_eq!(one::<i64>("SELECT count(*) FROM insync.runs WHERE job_name = 'customer' AND status = 'succeeded'"), 2);
        assert!(one::<bool>(
            "SELECT watermark IS NOT NULL FROM insync.job_state WHERE job_name = 'customer'"
        ));
    }

    #[pg_test]
    fn rerun_over_the_same_window_rewrites_nothing() {
        customers(true);
        run("SELECT * FROM sync_define('customer', source => 'ods.customer', target => 'dw.customer', \
             key => '{customer_id}', watermark => 'updated_at', lookback => '2 hours')");
        run("SELECT * FROM sync_incremental('customer')");
        let versions: String =
            one("SELECT string_agg(ctid::text, ',' ORDER BY customer_id) FROM dw.customer");
        settle();
        // The lookback re-reads every row; none changed, so none is rewritten or duplicated.
        let row = Spi::get_three::<i64, i64, i64>(
            "SELECT rows_read, rows_inserted, rows_updated FROM sync_incremental('customer')",
        )
        .unwrap();
        assert_eq!(row, (Some(100), Some(0), Some(0)));
        assert_eq!(
            one::<String>(
                "SELECT string_agg(ctid::text, ',' ORDER BY customer_id) FROM dw.customer"
            ),
            versions
        );
        assert_eq!(one::<i64>("SELECT count(*) FROM dw.customer"), 100);
    }

    #[pg_test]
    fn upsert_and_delete_insert_leave_identical_tables() {
        customers(true);
        run("CREATE TABLE dw.customer_heap (LIKE dw.customer)");
        define_customer();
        let strategy: String = one(
            "SELECT merge_strategy FROM sync_define('customer_heap', source => 'ods.customer', \
             target => 'dw.customer_heap', key => '{customer_id}', watermark => 'updated_at')",
        );
        assert_eq!(strategy, "delete+insert");
        for _ in 0..2 {
            run("SELECT * FROM sync_incremental('customer')");
            run("SELECT * FROM sync_incremental('customer_heap')");
            run(
                "UPDATE ods.customer SET attrs = json_build_object('v', customer_id * 2), \
                 updated_at = clock_timestamp() WHERE customer_id % 7 = 0",
            );
            run("INSERT INTO ods.customer SELECT max(customer_id) + 1, 'n', '[1]', clock_timestamp() FROM ods.customer");
            settle();
        }
        let (ins, upd) = Spi::get_two::<i64, i64>(
            "SELECT rows_inserted, rows_updated FROM sync_incremental('customer_heap')",
        )
        .unwrap();
        run("SELECT * FROM sync_incremental('customer')");
        assert_eq!((ins, upd), (Some(1), Some(14)));
        // json has no equality operator: compare through text.
        assert_eq!(
            differences(
                CUSTOMER_DW,
                "(SELECT customer_id, name, attrs::text, updated_at FROM dw.customer_heap) c"
            ),
            0
        );
        assert_eq!(
            one::<i64>("SELECT count(*) FROM dw.customer_heap"),
            one::<i64>("SELECT count(*) FROM ods.customer")
        );
        assert_eq!(
            one::<i64>("SELECT count(*) - count(DISTINCT customer_id) FROM dw.customer_heap"),
            0
        );
    }

    #[pg_test]
    fn full_sync_inserts_updates_and_deletes() {
        customers(true);
        define_customer();
        run("SELECT * FROM sync_incremental('customer')");
        run("DELETE FROM ods.customer WHERE customer_id > 90");
        run("UPDATE ods.customer SET name = 'renamed' WHERE customer_id = 1"); // no watermark bump
        run("INSERT INTO ods.customer VALUES (500, 'x', null, now() + interval '1 day')");
        let row = Spi::get_three::<i64, i64, i64>(
            "SELECT rows_inserted, rows_updated, rows_deleted FROM sync_full('customer')",
        )
        .unwrap();
        assert_eq!(row, (Some(1), Some(1), Some(10)));
        assert_eq!(differences(CUSTOMER_SRC, CUSTOMER_DW), 0);
        assert_eq!(one::<i64>("SELECT count(*) FROM dw.customer"), 91);
    }

    #[pg_test]
    fn null_keys_fail_the_run_with_no_partial_sync_and_the_failure_is_recorded() {
        run("CREATE TABLE src (id int, v text, ts timestamptz)");
        run("CREATE TABLE dst (id int PRIMARY KEY, v text, ts timestamptz)");
        run("INSERT INTO src SELECT g, 'v', clock_timestamp() - interval '1 hour' FROM generate_series(1, 10) g");
        run("INSERT INTO src VALUES (NULL, 'a', clock_timestamp() - interval '1 hour'), (NULL, 'b', clock_timestamp() - interval '1 hour')");
        run("SELECT * FROM sync_define('nullkeys', source => 'src', target => 'dst', key => '{id}', watermark => 'ts')");
        let caught =
            crate::subxact::in_subtransaction(|| run("SELECT * FROM sync_incremental('nullkeys')"))
                .expect_err("a NULL key must fail the run");
        let message = crate::subxact::report_of(&caught).message().to_string();
        assert!(
            message.contains("sync job \"nullkeys\": 2 source rows in the window have a NULL key"),
            "{message}"
        );
        // Nothing was synced, the watermark did not move...
        assert_eq!(one::<i64>("SELECT count(*) FROM dst"), 0);
        assert!(one::<bool>(
            "SELECT watermark IS NULL FROM insync.job_state WHERE job_name = 'nullkeys'"
        ));
        // ...and the failure was committed by the recorder, outside this (doomed) transaction.
        // The record keeps the whole error: message, then its hint.
        let recorded: String = one("SELECT error_message FROM insync.runs WHERE job_name = 'nullkeys' AND status = 'failed'");
        assert_eq!(recorded, crate::subxact::full_text(&caught));
        assert!(
            recorded.starts_with(&format!("{message}\nHINT: ")),
            "{recorded}"
        );
    }

    #[pg_test]
    fn watermark_of_a_related_table_and_a_source_filter() {
        run("CREATE TABLE orders (order_id int PRIMARY KEY, updated_at timestamptz)");
        run("CREATE TABLE order_line (line_id int PRIMARY KEY, order_id int, qty int, data_source text)");
        run("CREATE TABLE dw_line (line_id int PRIMARY KEY, order_id int, qty int)");
        run("INSERT INTO orders SELECT g, clock_timestamp() - interval '1 hour' FROM generate_series(1, 10) g");
        run("INSERT INTO order_line SELECT g, (g % 10) + 1, 1, CASE WHEN g % 2 = 0 THEN 'crm' ELSE 'erp' END \
             FROM generate_series(1, 40) g");
        run("SELECT * FROM sync_define('lines', source => 'order_line', target => 'dw_line', key => '{line_id}', \
             watermark => 'updated_at', watermark_source => 'orders', watermark_join => '{order_id}', \
             source_filter => $$data_source = 'crm'$$)");
        assert_eq!(
            one::<i64>("SELECT rows_inserted FROM sync_incremental('lines')"),
            20
        );
        // Lines change without touching their own row's time: the order's time carries them.
        run("UPDATE order_line SET qty = 5 WHERE order_id = 3");
        run("UPDATE orders SET updated_at = clock_timestamp() WHERE order_id = 3");
        settle();
        let row = Spi::get_two::<i64, i64>(
            "SELECT rows_read, rows_updated FROM sync_incremental('lines')",
        )
        .unwrap();
        // Order 3 has four lines, all from 'crm'.
        assert_eq!(row, (Some(4), Some(4)));
        assert_eq!(one::<i64>("SELECT count(*) FROM dw_line WHERE qty = 5"), 4);
    }

    #[pg_test]
    fn integer_watermark_and_append_mode() {
        run("CREATE TABLE events (event_id bigint PRIMARY KEY, seq int NOT NULL, payload text)");
        run("CREATE TABLE events_dw (event_id bigint PRIMARY KEY, seq int, payload text)");
        run("INSERT INTO events SELECT g, g, 'p' FROM generate_series(1, 50) g");
        run("SELECT * FROM sync_define('events', source => 'events', target => 'events_dw', key => '{event_id}', \
             watermark => 'seq', mode => 'append', lookback => '5')");
        let (low, high) = Spi::get_two::<String, String>(
            "SELECT window_low, window_high FROM sync_run('events')",
        )
        .unwrap();
        assert_eq!((low, high.as_deref()), (None, Some("50")));
        run("UPDATE events SET payload = 'changed', seq = seq + 100 WHERE event_id = 1");
        run("INSERT INTO events VALUES (51, 51, 'p')");
        let row = Spi::get_three::<String, i64, i64>(
            "SELECT window_low, rows_inserted, rows_updated FROM sync_run('events')",
        )
        .unwrap();
        // lookback 5 below the last watermark 50; append never rewrites an existing key.
        assert_eq!(row, (Some("45".into()), Some(1), Some(0)));
        assert_eq!(
            one::<String>("SELECT payload FROM events_dw WHERE event_id = 1"),
            "p"
        );
    }

    #[pg_test]
    fn hostile_names_are_quoted_not_injected() {
        run(r#"CREATE SCHEMA "Weird; Schema""#);
        run(
            r#"CREATE TABLE "Weird; Schema"."Src ""Table""" ("Key Col" int PRIMARY KEY, "v;drop" text, "Ts" timestamp)"#,
        );
        run(
            r#"CREATE TABLE "Weird; Schema"."dst'x" ("Key Col" int PRIMARY KEY, "v;drop" text, "Ts" timestamp)"#,
        );
        run(
            r#"INSERT INTO "Weird; Schema"."Src ""Table""" VALUES (1, 'a', localtimestamp - interval '1 hour')"#,
        );
        run(
            r#"SELECT * FROM sync_define('weird', source => '"Weird; Schema"."Src ""Table"""',
             target => $$"Weird; Schema"."dst'x"$$, key => '{Key Col}', watermark => 'Ts')"#,
        );
        assert_eq!(
            one::<i64>("SELECT rows_inserted FROM sync_incremental('weird')"),
            1
        );
        assert_eq!(
            one::<String>(r#"SELECT "v;drop" FROM "Weird; Schema"."dst'x""#),
            "a"
        );
    }

    #[pg_test]
    fn date_watermark_covers_only_elapsed_days() {
        run("CREATE TABLE daily (id int PRIMARY KEY, day date)");
        run("CREATE TABLE daily_dw (id int PRIMARY KEY, day date)");
        run("INSERT INTO daily VALUES (1, current_date - 2), (2, current_date - 1), (3, current_date)");
        run("SELECT * FROM sync_define('daily', source => 'daily', target => 'daily_dw', key => '{id}', watermark => 'day')");
        // Today is not over: rows of today may still arrive, so today waits for a later run.
        assert_eq!(
            one::<i64>("SELECT rows_inserted FROM sync_incremental('daily')"),
            2
        );
        assert!(one::<bool>("SELECT watermark::date = current_date - 1 FROM insync.job_state WHERE job_name = 'daily'"));
    }

    #[pg_test]
    fn explicit_column_list_and_partitioned_target() {
        run("CREATE TABLE s (id int PRIMARY KEY, region text, secret text, ts timestamptz)");
        run("CREATE TABLE t (id int, region text, ts timestamptz, PRIMARY KEY (id, region)) PARTITION BY LIST (region)");
        run("CREATE TABLE t_eu PARTITION OF t FOR VALUES IN ('eu'); CREATE TABLE t_us PARTITION OF t FOR VALUES IN ('us')");
        run("INSERT INTO s SELECT g, CASE WHEN g % 2 = 0 THEN 'eu' ELSE 'us' END, 'x', clock_timestamp() - interval '1 hour' \
             FROM generate_series(1, 20) g");
        let cols: Vec<String> = one(
            "SELECT columns FROM sync_define('part', source => 's', target => 't', \
             key => '{id,region}', watermark => 'ts', columns => '{id,region,ts}')",
        );
        assert_eq!(cols, vec!["id", "region", "ts"]);
        assert_eq!(
            one::<i64>("SELECT rows_inserted FROM sync_incremental('part')"),
            20
        );
        assert_eq!(one::<i64>("SELECT count(*) FROM t_eu"), 10);
    }

    #[pg_test]
    fn alter_and_drop() {
        customers(true);
        define_customer();
        run("SELECT * FROM sync_incremental('customer')");
        run("SELECT * FROM sync_alter('customer', source_filter => 'customer_id <= 50', reset_watermark => true)");
        assert!(one::<bool>(
            "SELECT watermark IS NULL FROM insync.job_state WHERE job_name = 'customer'"
        ));
        run("SELECT * FROM sync_alter('customer', new_name => 'cust')");
        assert_eq!(
            one::<i64>("SELECT rows_read FROM sync_incremental('cust')"),
            50
        );
        assert!(one::<bool>("SELECT sync_drop('cust')"));
        assert_eq!(one::<i64>("SELECT count(*) FROM insync.jobs"), 0);
        assert_eq!(one::<i64>("SELECT count(*) FROM insync.job_state"), 0);
        assert_eq!(
            one::<i64>("SELECT count(*) FROM insync.runs WHERE job_name IN ('customer', 'cust')"),
            2
        );
    }

    /// Multiset fingerprint of a table through its text form (works for json, arrays...).
    fn fingerprint(table: &str) -> String {
        one(&format!(
            "SELECT coalesce(string_agg(r::text, '|' ORDER BY r::text), '') FROM {table} r"
        ))
    }

    fn dedup_rows(sql: &str) -> Vec<(String, i64, String)> {
        Spi::connect(|c| {
            c.select(sql, None, &[])
                .unwrap()
                .map(|r| {
                    (
                        r.get::<String>(1).unwrap().unwrap(),
                        r.get::<i64>(2).unwrap().unwrap(),
                        r.get::<String>(3).unwrap().unwrap(),
                    )
                })
                .collect()
        })
    }

    #[pg_test]
    fn overlapping_extraction_window_is_identical_copies_and_is_repaired_losslessly() {
        // A daily script re-extracted yesterday: every row of that day was loaded twice,
        // the copies differing only in their load time. No primary key on the target.
        run("CREATE TABLE fact (order_id int, amount numeric, tags text[], attrs json, updated_at timestamptz, loaded_at timestamptz)");
        run("INSERT INTO fact SELECT g, g * 1.5, ARRAY['a', g::text], json_build_object('g', g), \
             '2026-01-01'::timestamptz + g * interval '1 minute', '2026-01-02' FROM generate_series(1, 100) g");
        run("INSERT INTO fact SELECT order_id, amount, tags, attrs, updated_at, '2026-01-03' FROM fact WHERE order_id > 80");
        let before = fingerprint("fact");
        let found = dedup_rows("SELECT cause, copies, array_to_string(differing_columns, ',') FROM find_duplicates('fact', '{order_id}') LIMIT 1");
        assert_eq!(
            found,
            vec![("identical".to_string(), 2, "loaded_at".to_string())]
        );
        assert_eq!(
            one::<i64>("SELECT count(*) FROM find_duplicates('fact', '{order_id}')"),
            20
        );

        let dry = dedup_rows("SELECT cause, removed, action FROM dedup_table('fact', '{order_id}', keep => 'first', dry_run => true)");
        assert_eq!(
            dry,
            vec![("identical".to_string(), 20, "would remove".to_string())]
        );
        assert_eq!(fingerprint("fact"), before, "a dry run changes nothing");

        let batch: i64 =
            one("SELECT batch_id FROM dedup_table('fact', '{order_id}', keep => 'first')");
        assert_eq!(one::<i64>("SELECT count(*) FROM fact"), 100);
        assert_eq!(
            one::<i64>("SELECT count(DISTINCT loaded_at) FROM fact"),
            1,
            "the first load survives"
        );
        assert_eq!(one::<i64>(&format!("SELECT count(*) FROM insync.quarantine WHERE batch_id = {batch} AND reason = 'identical'")), 20);
        // Running it again removes nothing.
        assert_eq!(one::<i64>("SELECT coalesce(sum(removed), 0)::bigint FROM dedup_table('fact', '{order_id}', keep => 'first')"), 0);
        // Restoring the batch brings back exactly what was there.
        assert_eq!(
            one::<i64>(&format!("SELECT restore_quarantine({batch})")),
            20
        );
        assert_eq!(fingerprint("fact"), before);
    }

    #[pg_test]
    fn two_source_systems_keep_the_preferred_source() {
        run("CREATE TABLE customer (customer_id int, name text, data_source text, updated_at timestamptz)");
        run("INSERT INTO customer SELECT g, 'n' || g, 'oracle', '2026-01-01' FROM generate_series(1, 50) g");
        run("INSERT INTO customer SELECT g, 'N' || g, 'mysql', '2026-01-02' FROM generate_series(1, 30) g");
        let summary = dedup_rows("SELECT cause, keys, extra_rows::text FROM duplicate_summary('customer', '{customer_id}', order_by => 'updated_at')");
        assert_eq!(
            summary,
            vec![("multi_source".to_string(), 30, "30".to_string())]
        );
        run("SELECT * FROM dedup_table('customer', '{customer_id}', keep => 'source_order', source_order => '{oracle,mysql}')");
        assert_eq!(
            one::<i64>("SELECT count(*) FROM customer WHERE data_source = 'oracle'"),
            50
        );
        assert_eq!(one::<i64>("SELECT count(*) FROM customer"), 50);
    }

    #[pg_test]
    fn versions_keep_the_latest_by_the_job_watermark() {
        run("CREATE TABLE src (id int PRIMARY KEY, v text, ts timestamptz)");
        run("CREATE TABLE dst (id int, v text, ts timestamptz)");
        run("SELECT * FROM sync_define('vjob', source => 'src', target => 'dst', key => '{id}', watermark => 'ts')");
        run("INSERT INTO dst VALUES (1, 'old', '2026-01-01'), (1, 'new', '2026-01-02'), (2, 'only', '2026-01-01')");
        // The sync refuses to merge into a target that already has duplicates.
        let caught =
            crate::subxact::in_subtransaction(|| run("SELECT * FROM sync_incremental('vjob')"))
                .expect_err("duplicates");
        let message = crate::subxact::report_of(&caught).message().to_string();
        assert!(
            message.contains("target public.dst has 1 keys with more than one row"),
            "{message}"
        );
        // keep => 'latest' defaults to the watermark of the job whose target this is.
        let rows = dedup_rows("SELECT cause, removed, action FROM dedup_table('dst', '{id}', add_unique_index => true)");
        assert_eq!(
            rows,
            vec![("versions".to_string(), 1, "removed".to_string())]
        );
        assert_eq!(one::<String>("SELECT v FROM dst WHERE id = 1"), "new");
        assert!(one::<bool>("SELECT EXISTS (SELECT 1 FROM pg_index WHERE indrelid = 'dst'::regclass AND indisunique)"));
    }

    #[pg_test]
    fn a_too_narrow_key_is_not_deleted_unless_told() {
        // Order lines keyed by order_id alone: the "duplicates" are different lines.
        run("CREATE UNLOGGED TABLE lines (order_id int, sku text, qty int)");
        run("INSERT INTO lines VALUES (1, 'a', 1), (1, 'b', 2), (2, 'c', 1)");
        let rows = dedup_rows("SELECT cause, removed, action FROM dedup_table('lines', '{order_id}', keep => 'first')");
        assert_eq!(
            rows,
            vec![(
                "distinct_rows".to_string(),
                0,
                "kept: key too narrow".to_string()
            )]
        );
        assert_eq!(one::<i64>("SELECT count(*) FROM lines"), 3);
        // The wider key has no duplicates at all.
        assert_eq!(
            one::<i64>("SELECT count(*) FROM find_duplicates('lines', '{order_id,sku}')"),
            0
        );
        run("SELECT * FROM dedup_table('lines', '{order_id}', keep => 'first', allow_distinct_rows => true)");
        assert_eq!(one::<i64>("SELECT count(*) FROM lines"), 2);
    }

    #[pg_test]
    fn partitioned_tables_without_primary_key() {
        run("CREATE TABLE ev (id int, region text, payload jsonb, point point) PARTITION BY LIST (region)");
        run("CREATE TABLE ev_eu PARTITION OF ev FOR VALUES IN ('eu'); CREATE TABLE ev_us PARTITION OF ev FOR VALUES IN ('us')");
        run("INSERT INTO ev SELECT g, CASE WHEN g % 2 = 0 THEN 'eu' ELSE 'us' END, '{\"x\": 1}', point(g, g) FROM generate_series(1, 20) g");
        run("INSERT INTO ev SELECT * FROM ev WHERE id <= 4");
        let before = fingerprint("ev");
        let batch: i64 =
            one("SELECT batch_id FROM dedup_table('ev', '{id,region}', keep => 'first')");
        assert_eq!(one::<i64>("SELECT count(*) FROM ev"), 20);
        one::<i64>(&format!("SELECT restore_quarantine({batch})"));
        assert_eq!(fingerprint("ev"), before);
    }

    #[pg_test]
    fn a_slim_remap_of_a_partitioned_table_touches_only_its_changed_rows() {
        // The same TIDs exist in both partitions: the update must not reach a row of the
        // other partition that happens to share a changed row's TID.
        run("CREATE TABLE dim (store_id int PRIMARY KEY, org_id int)");
        run("INSERT INTO dim VALUES (1, 20), (2, 30), (3, 40)");
        run("CREATE TABLE facts (sale_id int, region text, store_id int, org int, PRIMARY KEY (sale_id, region)) PARTITION BY LIST (region)");
        run("CREATE TABLE facts_eu PARTITION OF facts FOR VALUES IN ('eu'); CREATE TABLE facts_us PARTITION OF facts FOR VALUES IN ('us')");
        // eu: store 1 at org 10 (moves to 20); us: store 2 at 30 (current) and store 3 at 10.
        run("INSERT INTO facts SELECT g, 'eu', 1, 10 FROM generate_series(1, 10) g");
        run("INSERT INTO facts SELECT g, 'us', 2 + g % 2, CASE WHEN g % 2 = 0 THEN 30 ELSE 10 END FROM generate_series(1, 10) g");
        let before = fingerprint("facts");
        let changed: i64 = one("SELECT sum(rows_changed)::bigint FROM remap_dimension('facts', 'org', 'dim', '{store_id}', 'org_id')");
        assert_eq!(changed, 15);
        assert_eq!(
            one::<i64>("SELECT count(*) FROM facts f JOIN dim d USING (store_id) WHERE f.org IS DISTINCT FROM d.org_id"),
            0
        );
        assert_eq!(
            one::<i64>("SELECT count(*) FROM insync.quarantine WHERE row_keys IS NOT NULL"),
            2
        );
        one::<i64>("SELECT restore_quarantine(max(batch_id)) FROM insync.quarantine");
        assert_eq!(fingerprint("facts"), before);
    }

    #[pg_test]
    fn a_slim_remap_keeps_old_values_of_any_type_exactly() {
        // Old values whose text matters (numeric scale, an interval, an array, a domain over
        // a type of another schema) come back byte for byte.
        run("CREATE SCHEMA money_s; CREATE DOMAIN money_s.amount AS numeric(12,3)");
        run("CREATE TABLE dim (store_id int PRIMARY KEY, price money_s.amount, span interval, tags text[])");
        run("INSERT INTO dim VALUES (1, 2.5, '2 days', '{a,b}'), (2, 7, '1 hour', '{}')");
        run("CREATE TABLE f (id int PRIMARY KEY, store_id int, price money_s.amount, span interval, tags text[])");
        run("INSERT INTO f VALUES (1, 1, 1.0, '1 day', '{x,NULL}'), (2, 1, 1.00, '24 hours', '{\"y z\"}'), (3, 2, NULL, NULL, NULL)");
        let before = fingerprint("f");
        for column in ["price", "span", "tags"] {
            run(&format!(
                "SELECT * FROM remap_dimension('f', '{column}', 'dim', '{{store_id}}', '{column}')"
            ));
        }
        assert_eq!(
            one::<i64>("SELECT count(*) FROM insync.quarantine WHERE row_keys IS NULL"),
            0
        );
        assert_eq!(one::<String>("SELECT string_agg(price::text || '/' || span::text || '/' || tags::text, ' ' ORDER BY id) FROM f"),
                   "2.500/2 days/{a,b} 2.500/2 days/{a,b} 7.000/01:00:00/{}");
        for batch in one::<Vec<i64>>(
            "SELECT array_agg(DISTINCT batch_id ORDER BY batch_id DESC) FROM insync.quarantine",
        ) {
            one::<i64>(&format!("SELECT restore_quarantine({batch})"));
        }
        assert_eq!(fingerprint("f"), before);
    }

    #[pg_test]
    fn remaps_step_by_step_leave_the_same_rows_and_quarantine_as_one_statement() {
        // Two copies of a fact table, one with a row key (slim quarantine), one without (whole
        // images); each remapped once per style. Step by step locks the target against other
        // writers and leaves the same rows, counts and undo.
        run("CREATE TABLE dim (store_id int PRIMARY KEY, org_id int)");
        run("INSERT INTO dim SELECT s, 10 + s % 3 FROM generate_series(1, 6) s");
        for (table, key) in [("keyed", "PRIMARY KEY"), ("heap", "")] {
            for style in ["combined", "statement_per_step"] {
                let name = format!("{table}_{style}");
                run(&format!(
                    "CREATE TABLE {name} (sale_id int {key}, store_id int, org int)"
                ));
                run(&format!("INSERT INTO {name} SELECT g, 1 + g % 6, CASE WHEN g % 4 = 0 THEN NULL ELSE 10 + g % 5 END FROM generate_series(1, 60) g"));
            }
        }
        let mut results = Vec::new();
        for (table, slim) in [("keyed", true), ("heap", false)] {
            let mut per_style = Vec::new();
            for style in ["combined", "statement_per_step"] {
                let name = format!("{table}_{style}");
                let before = fingerprint(&name);
                run(&format!("SET LOCAL insync.plan_style = '{style}'"));
                let lines = one::<String>(&format!(
                    "SELECT string_agg(old_value || '->' || new_value || ':' || rows_changed, ' ' ORDER BY old_value, new_value) \
                       FROM remap_dimension('{name}', 'org', 'dim', '{{store_id}}', 'org_id')"
                ));
                run("RESET insync.plan_style");
                let locked = one::<bool>(&format!(
                    "SELECT EXISTS (SELECT FROM pg_locks WHERE pid = pg_backend_pid() \
                       AND relation = '{name}'::regclass AND mode = 'ExclusiveLock')"
                ));
                assert_eq!(locked, style == "statement_per_step", "{name}");
                let entries = one::<i64>(&format!(
                    "SELECT count(*) FILTER (WHERE row_keys IS NOT NULL = {slim}) - count(*) \
                       FROM insync.quarantine WHERE table_name = 'public.{name}'"
                ));
                assert_eq!(entries, 0, "{name}: every entry of the expected kind");
                let after = one::<String>(&format!(
                    "SELECT string_agg(sale_id || ':' || coalesce(org::text, '-'), ',' ORDER BY sale_id) FROM {name}"
                ));
                one::<i64>(&format!(
                    "SELECT restore_quarantine(max(batch_id)) FROM insync.quarantine WHERE table_name = 'public.{name}'"
                ));
                assert_eq!(fingerprint(&name), before, "{name}: the undo is exact");
                per_style.push((lines, after));
            }
            assert_eq!(per_style[0], per_style[1], "{table}");
            results.push(per_style.remove(0));
        }
        assert!(results[0].0.contains("->"), "{results:?}");
    }

    fn stores_and_sales() {
        run("CREATE TABLE dim_store (store_id int, org_id int, valid_from date)");
        run(
            "INSERT INTO dim_store SELECT s, 10 + s % 3, '2025-01-01' FROM generate_series(1, 6) s",
        );
        run("CREATE TABLE sales (sale_id int PRIMARY KEY, store_id int, store_org_id int, day date, amount numeric)");
        run("INSERT INTO sales SELECT g, 1 + g % 6, 10 + (1 + g % 6) % 3, '2026-01-01'::date + g % 5, g FROM generate_series(1, 300) g");
        run("CREATE TABLE sales_daily (day date, store_id int, store_org_id int, amount numeric, orders int, PRIMARY KEY (day, store_id))");
        run("INSERT INTO sales_daily SELECT day, store_id, store_org_id, sum(amount), count(*) FROM sales GROUP BY 1, 2, 3");
    }

    #[pg_test]
    fn a_store_moves_organization_and_facts_and_aggregates_follow() {
        stores_and_sales();
        // Store 2 moves from org 12 to org 42: the dimension keeps history.
        run("INSERT INTO dim_store VALUES (2, 42, '2026-02-01')");
        let caught = crate::subxact::in_subtransaction(|| {
            run("SELECT * FROM remap_dimension('sales', 'store_org_id', 'dim_store', '{store_id}', 'org_id')")
        })
        .expect_err("history without current_by");
        let message = crate::subxact::report_of(&caught).message().to_string();
        assert!(
            message.contains(
                "dimension public.dim_store has several current rows for 1 values of (store_id)"
            ),
            "{message}"
        );

        let preview = dedup_rows("SELECT old_value || '->' || new_value, rows_changed, 'x' FROM remap_dimension('sales', 'store_org_id', \
             'dim_store', '{store_id}', 'org_id', current_by => 'valid_from', dry_run => true)");
        assert_eq!(preview, vec![("12->42".to_string(), 50, "x".to_string())]);
        assert_eq!(
            one::<i64>("SELECT count(*) FROM sales WHERE store_org_id = 42"),
            0,
            "a dry run changes nothing"
        );

        let before = fingerprint("sales");
        let (changed, examined) = Spi::get_two::<i64, i64>(
            "SELECT rows_changed, rows_examined FROM remap_dimension('sales', \
             'store_org_id', 'dim_store', '{store_id}', 'org_id', current_by => 'valid_from')",
        )
        .unwrap();
        // Every fact row was examined (read at least once; statistics count what the plan read).
        assert_eq!(changed, Some(50));
        assert!(examined.unwrap() >= 300, "{examined:?}");
        run("SELECT * FROM remap_dimension('sales_daily', 'store_org_id', 'dim_store', '{store_id}', 'org_id', current_by => 'valid_from')");
        // The aggregate agrees with a fresh GROUP BY over the facts joined to the dimension.
        assert_eq!(
            differences(
                "(SELECT day, store_org_id, sum(amount) AS amount FROM sales_daily GROUP BY 1, 2) a",
                "(SELECT s.day, d.org_id AS store_org_id, sum(s.amount) AS amount FROM sales s \
                  JOIN (SELECT DISTINCT ON (store_id) store_id, org_id FROM dim_store ORDER BY store_id, valid_from DESC) d \
                  USING (store_id) GROUP BY 1, 2) b"
            ),
            0
        );
        // Re-running changes nothing; the facts' batch restores exactly.
        assert_eq!(one::<i64>("SELECT rows_changed FROM remap_dimension('sales', 'store_org_id', 'dim_store', '{store_id}', 'org_id', current_by => 'valid_from')"), 0);
        let batch: i64 =
            one("SELECT min(batch_id) FROM insync.quarantine WHERE table_name = 'public.sales'");
        assert_eq!(
            one::<i64>(&format!("SELECT restore_quarantine({batch})")),
            50
        );
        assert_eq!(fingerprint("sales"), before);
    }

    #[pg_test]
    fn an_organization_merge_collides_and_measures_combine() {
        // Org 11 is absorbed by org 12: the per-org daily aggregate has rows for both.
        run("CREATE TABLE org_map (org_id int PRIMARY KEY, successor int)");
        run("INSERT INTO org_map VALUES (10, 10), (11, 12), (12, 12)");
        run("CREATE TABLE org_daily (day date, store_org_id int, amount numeric, orders int, best numeric, UNIQUE (day, store_org_id))");
        run("INSERT INTO org_daily SELECT '2026-01-01'::date + d, o, 100 * o + d, 10, o FROM generate_series(0, 3) d, generate_series(10, 12) o");
        let before = fingerprint("org_daily");
        let totals = "SELECT sum(amount)::text || '/' || sum(orders)::text FROM org_daily";
        let expected_totals: String = one(totals);

        let caught = crate::subxact::in_subtransaction(|| {
            run("SELECT * FROM remap_dimension('org_daily', 'store_org_id', 'org_map', '{store_org_id=org_id}', 'successor')")
        })
        .expect_err("collisions without merge");
        let message = crate::subxact::report_of(&caught).message().to_string();
        assert!(message.contains("after the remap 4 keys (day, store_org_id) of public.org_daily would hold several rows"), "{message}");
        assert_eq!(fingerprint("org_daily"), before, "nothing changed");

        let (changed, merged) = Spi::get_two::<i64, i64>(
            "SELECT rows_changed, rows_merged FROM remap_dimension('org_daily', \
             'store_org_id', 'org_map', '{store_org_id=org_id}', 'successor', \
             merge => '{\"amount\": \"sum\", \"orders\": \"sum\", \"best\": \"max\"}')",
        )
        .unwrap();
        assert_eq!((changed, merged), (Some(4), Some(4)));
        assert_eq!(one::<i64>("SELECT count(*) FROM org_daily"), 8);
        assert_eq!(
            one::<String>(totals),
            expected_totals,
            "measures are combined, not lost"
        );
        assert_eq!(one::<i64>("SELECT orders::bigint FROM org_daily WHERE day = '2026-01-01' AND store_org_id = 12"), 20);
        let reasons: String = one(
            "SELECT string_agg(reason || ':' || n, ',' ORDER BY reason) FROM \
             (SELECT reason, count(*) n FROM insync.quarantine GROUP BY reason) r",
        );
        assert_eq!(reasons, "merge_target:4,merged:4");
        let batch: i64 = one("SELECT max(batch_id) FROM insync.quarantine");
        one::<i64>(&format!("SELECT restore_quarantine({batch})"));
        assert_eq!(
            fingerprint("org_daily"),
            before,
            "the merge is undone exactly"
        );
    }

    #[pg_test]
    fn sync_fills_a_column_from_the_dimension_current_value() {
        run("CREATE TABLE dim_store (store_id int, org_id int, valid_from date)");
        run("INSERT INTO dim_store VALUES (1, 17, '2025-01-01'), (2, 17, '2025-01-01')");
        run("CREATE TABLE ods_sales (sale_id int PRIMARY KEY, store_id int, amount numeric, updated_at timestamptz)");
        run("CREATE TABLE dw_sales (sale_id int PRIMARY KEY, store_id int, store_org_id int, amount numeric, updated_at timestamptz)");
        run("INSERT INTO ods_sales SELECT g, 1 + g % 2, g, clock_timestamp() - interval '1 hour' FROM generate_series(1, 10) g");
        let columns: Vec<String> = one("SELECT columns FROM sync_define('sales', source => 'ods_sales', target => 'dw_sales', \
             key => '{sale_id}', watermark => 'updated_at', lookups => '[{\"column\": \"store_org_id\", \
             \"dimension\": \"dim_store\", \"join_on\": [\"store_id\"], \"value\": \"org_id\", \"current_by\": \"valid_from\"}]')");
        assert!(columns.contains(&"store_org_id".to_string()), "{columns:?}");
        run("SELECT * FROM sync_incremental('sales')");
        assert_eq!(
            one::<i64>("SELECT count(*) FROM dw_sales WHERE store_org_id = 17"),
            10
        );

        // Store 2 moves to org 42; later sales of store 2 load with the new org.
        run("INSERT INTO dim_store VALUES (2, 42, '2026-02-01')");
        run("INSERT INTO ods_sales SELECT g, 2, g, clock_timestamp() FROM generate_series(11, 13) g");
        settle();
        assert_eq!(
            one::<i64>("SELECT rows_inserted FROM sync_incremental('sales')"),
            3
        );
        assert_eq!(
            one::<i64>("SELECT count(*) FROM dw_sales WHERE sale_id > 10 AND store_org_id = 42"),
            3
        );
        // Facts synced before the move keep the old org until remap_dimension re-points them.
        assert_eq!(
            one::<i64>("SELECT count(*) FROM dw_sales WHERE store_id = 2 AND store_org_id = 17"),
            5
        );
        run("SELECT * FROM remap_dimension('dw_sales', 'store_org_id', 'dim_store', '{store_id}', 'org_id', current_by => 'valid_from')");
        assert_eq!(
            one::<i64>("SELECT count(*) FROM dw_sales WHERE store_id = 2 AND store_org_id <> 42"),
            0
        );

        // Without a way to pick the current row, a dimension with history is refused.
        let caught = crate::subxact::in_subtransaction(|| {
            run("SELECT * FROM sync_alter('sales', lookups => '[{\"column\": \"store_org_id\", \"dimension\": \"dim_store\", \
                 \"join_on\": [\"store_id\"], \"value\": \"org_id\"}]')")
        })
        .expect_err("ambiguous dimension");
        let message = crate::subxact::report_of(&caught).message().to_string();
        assert!(
            message.contains("dimension public.dim_store has several current rows for 1 keys"),
            "{message}"
        );
    }

    /// The error a statement raises, as (SQLSTATE, message); the statement is rolled back.
    fn failure(sql: &'static str) -> (PgSqlErrorCode, String) {
        let caught = crate::subxact::in_subtransaction(|| run(sql)).expect_err(sql);
        let report = crate::subxact::report_of(&caught);
        (report.sql_error_code(), report.message().to_string())
    }

    fn sales_with_history() {
        run("CREATE TABLE dim_store (store_id int, org_id int, valid_from date, is_current int)");
        run("INSERT INTO dim_store VALUES (1, 17, '2025-01-01', 1), (2, 17, '2025-01-01', 1)");
        run("CREATE TABLE ods_sales (sale_id int, store_id int, amount numeric, updated_at timestamptz)");
        run("CREATE TABLE dw_sales (sale_id int PRIMARY KEY, store_id int, store_org_id int, amount numeric, updated_at timestamptz)");
        run("INSERT INTO ods_sales SELECT g, 1 + g % 2, g, clock_timestamp() - interval '1 hour' FROM generate_series(1, 10) g");
        run("INSERT INTO ods_sales VALUES (NULL, 1, 0, clock_timestamp() - interval '1 hour')");
    }

    #[pg_test]
    fn null_key_error_with_a_current_by_lookup_and_a_filter_holding_order_by() {
        sales_with_history();
        run("SELECT * FROM sync_define('sales', source => 'ods_sales', target => 'dw_sales', \
             key => '{sale_id}', watermark => 'updated_at', \
             source_filter => 'store_id IN (SELECT v.s FROM (VALUES (1), (2)) v(s) ORDER BY v.s LIMIT 5)', \
             lookups => '[{\"column\": \"store_org_id\", \"dimension\": \"dim_store\", \
             \"join_on\": [\"store_id\"], \"value\": \"org_id\", \"current_by\": \"valid_from\"}]')");
        let (code, message) = failure("SELECT * FROM sync_incremental('sales')");
        assert_eq!(
            code,
            PgSqlErrorCode::ERRCODE_NOT_NULL_VIOLATION,
            "{message}"
        );
        assert!(
            message.contains("1 source row in the window has a NULL key"),
            "{message}"
        );
        assert_eq!(one::<i64>("SELECT count(*) FROM dw_sales"), 0);
    }

    #[pg_test]
    fn lookup_options_are_strict() {
        sales_with_history();
        let (code, message) = failure(
            "SELECT * FROM sync_define('sales', source => 'ods_sales', target => 'dw_sales', \
             key => '{sale_id}', watermark => 'updated_at', lookups => '[{\"column\": \"store_org_id\", \
             \"dimension\": \"dim_store\", \"join_on\": [\"store_id\"], \"value\": \"org_id\", \"curent_by\": \"valid_from\"}]')",
        );
        assert_eq!(
            code,
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            "{message}"
        );
        assert!(message.contains("unknown field `curent_by`"), "{message}");
        assert!(message.contains("`current_by`"), "{message}");
        let (code, message) = failure(
            "SELECT * FROM sync_define('sales', source => 'ods_sales', target => 'dw_sales', \
             key => '{sale_id}', watermark => 'updated_at', lookups => '[{\"column\": \"store_org_id\", \
             \"dimension\": \"dim_store\", \"join_on\": [\"store_id\"], \"value\": \"org_id\", \"current_flag\": \"is_current\"}]')",
        );
        assert_eq!(code, PgSqlErrorCode::ERRCODE_DATATYPE_MISMATCH, "{message}");
        assert!(message.contains("is integer, not boolean"), "{message}");
        let (_, message) = failure(
            "SELECT * FROM sync_define('sales', source => 'ods_sales', target => 'dw_sales', \
             key => '{sale_id}', watermark => 'updated_at', lookups => '[{\"column\": \"store_org_id\", \
             \"dimension\": \"dim_store\", \"join_on\": [\"store_id\"], \"value\": \"org_id\", \
             \"current_by\": \"valid_from\", \"current_flag\": \"is_current\"}]')",
        );
        assert!(message.contains("not both"), "{message}");
    }

    #[pg_test]
    fn a_lookback_without_a_watermark_is_refused_with_a_hint() {
        sales_with_history();
        let sql = "SELECT * FROM sync_define('snap', source => 'ods_sales', target => 'dw_sales', \
                   key => '{sale_id}', mode => 'full', lookback => '1 hour')";
        let caught = crate::subxact::in_subtransaction(|| run(sql)).expect_err(sql);
        let report = crate::subxact::report_of(&caught);
        assert_eq!(
            report.sql_error_code(),
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE
        );
        assert!(
            report.message().contains("has a lookback but no watermark"),
            "{}",
            report.message()
        );
        assert!(
            report.hint().is_some_and(|h| h.contains("lookback => ''")),
            "{:?}",
            report.hint()
        );
    }

    /// The counts of one run of `job` under `style`: read, inserted, updated, deleted.
    fn run_styled(style: &str, call: &str, job: &str) -> (i64, i64, i64, i64) {
        run(&format!("SET LOCAL insync.plan_style = '{style}'"));
        let row = Spi::connect_mut(|c| {
            let row = c
                .update(
                    &format!(
                        "SELECT rows_read, rows_inserted, rows_updated, rows_deleted FROM {call}('{job}')"
                    ),
                    None,
                    &[],
                )?
                .first();
            Ok::<_, pgrx::spi::Error>((
                row.get::<i64>(1)?.unwrap_or(-1),
                row.get::<i64>(2)?.unwrap_or(-1),
                row.get::<i64>(3)?.unwrap_or(-1),
                row.get::<i64>(4)?.unwrap_or(-1),
            ))
        })
        .unwrap();
        run("RESET insync.plan_style");
        row
    }

    #[pg_test]
    fn plan_styles_leave_identical_tables_and_counts() {
        customers(true);
        define_customer();
        // A copy with the key's unique index (upsert) and one without (delete+insert), merged
        // statement by statement.
        run("CREATE TABLE dw.customer_steps (LIKE dw.customer INCLUDING ALL)");
        run("CREATE TABLE dw.customer_steps_heap (LIKE dw.customer)");
        for (job, target) in [
            ("steps", "dw.customer_steps"),
            ("steps_heap", "dw.customer_steps_heap"),
        ] {
            run(&format!(
                "SELECT * FROM sync_define('{job}', source => 'ods.customer', target => '{target}', \
                 key => '{{customer_id}}', watermark => 'updated_at')"
            ));
        }
        let all_alike = |call: &str| {
            let combined = run_styled("combined", call, "customer");
            for job in ["steps", "steps_heap"] {
                assert_eq!(
                    run_styled("statement_per_step", call, job),
                    combined,
                    "{call}('{job}')"
                );
            }
            combined
        };
        assert_eq!(all_alike("sync_incremental"), (100, 100, 0, 0));
        run(
            "UPDATE ods.customer SET attrs = json_build_object('v', customer_id * 2), \
             updated_at = clock_timestamp() WHERE customer_id % 7 = 0",
        );
        run("UPDATE ods.customer SET updated_at = clock_timestamp() WHERE customer_id = 1");
        run("INSERT INTO ods.customer VALUES (101, 'n', '[1]', clock_timestamp())");
        settle();
        // Customer 1 only moved its watermark: rewritten by every style alike.
        assert_eq!(all_alike("sync_incremental"), (16, 1, 15, 0));
        run("DELETE FROM ods.customer WHERE customer_id > 95");
        run("UPDATE ods.customer SET name = 'renamed' WHERE customer_id = 2");
        assert_eq!(all_alike("sync_full"), (95, 0, 1, 6));
        for copy in ["dw.customer_steps", "dw.customer_steps_heap"] {
            assert_eq!(
                differences(
                    CUSTOMER_DW,
                    &format!("(SELECT customer_id, name, attrs::text, updated_at FROM {copy}) c")
                ),
                0,
                "{copy}"
            );
        }
        // Each run dropped its staging table.
        assert!(one::<bool>(
            "SELECT pg_catalog.to_regclass('pg_temp.insync_run_window') IS NULL"
        ));
    }

    /// One `sync_backfill_step` (what `CALL sync_backfill` runs and commits per batch):
    /// (batch, rows_read, rows_done, done).
    fn backfill_step(job: &str) -> (Option<i32>, i64, i64, bool) {
        Spi::connect(|client| {
            let row = client
                .select(
                    &format!(
                        "SELECT batch, rows_read, rows_done, done FROM sync_backfill_step('{job}')"
                    ),
                    None,
                    &[],
                )?
                .first();
            Ok::<_, pgrx::spi::Error>((
                row.get::<i32>(1)?,
                row.get::<i64>(2)?.unwrap_or(-1),
                row.get::<i64>(3)?.unwrap_or(-1),
                row.get::<bool>(4)?.unwrap_or(false),
            ))
        })
        .unwrap()
    }

    #[pg_test]
    fn backfill_loads_key_ranges_then_hands_its_start_bound_to_the_watermark() {
        customers(true);
        run("SELECT * FROM sync_define('customer', source => 'ods.customer', target => 'dw.customer', \
             key => '{customer_id}', watermark => 'updated_at', backfill_batch => 30)");
        assert_eq!(backfill_step("customer"), (Some(1), 30, 30, false));
        assert_eq!(one::<i64>("SELECT count(*) FROM dw.customer"), 30);
        assert_eq!(
            one::<i64>("SELECT max(customer_id)::int8 FROM dw.customer"),
            30
        );
        assert!(
            Spi::get_one::<String>("SELECT watermark FROM insync.job_state")
                .unwrap()
                .is_none()
        );
        assert_eq!(backfill_step("customer"), (Some(2), 30, 60, false));
        assert_eq!(backfill_step("customer"), (Some(3), 30, 90, false));
        // Fewer than a batch left: the last, open-ended range.
        assert_eq!(backfill_step("customer"), (Some(4), 10, 100, true));
        assert_eq!(differences(CUSTOMER_SRC, CUSTOMER_DW), 0);
        assert!(one::<bool>(
            "SELECT s.watermark = b.watermark AND b.state = 'done' FROM insync.job_state s JOIN insync.backfills b USING (job_name)"
        ));
        assert_eq!(
            one::<i64>("SELECT count(*) FROM insync.runs WHERE backfill_batch IS NOT NULL AND status = 'succeeded'"),
            4
        );
        // Done: a further step does nothing.
        assert_eq!(backfill_step("customer"), (None, 0, 100, true));
        // Changes after the start bound are the next incremental run's.
        run("UPDATE ods.customer SET name = 'changed', updated_at = clock_timestamp() WHERE customer_id IN (5, 95)");
        settle();
        assert_eq!(
            one::<i64>("SELECT rows_updated FROM sync_incremental('customer')"),
            2
        );
        assert_eq!(differences(CUSTOMER_SRC, CUSTOMER_DW), 0);
    }

    #[pg_test]
    fn backfill_of_a_composite_key_with_hostile_names_into_a_target_without_unique_index() {
        run("CREATE SCHEMA \"s;x\"");
        run("CREATE TABLE \"s;x\".src (\"Tenant Id\" text, \"n\"\"o\" int, v text, ts timestamptz NOT NULL, \
             PRIMARY KEY (\"Tenant Id\", \"n\"\"o\"))");
        run(
            "INSERT INTO \"s;x\".src SELECT t, g, 'v' || g, clock_timestamp() - interval '1 hour' \
             FROM unnest('{a,b''c,d}'::text[]) t, generate_series(1, 25) g",
        );
        run(
            "CREATE TABLE \"s;x\".dst (\"Tenant Id\" text, \"n\"\"o\" int, v text, ts timestamptz)",
        );
        run(
            "SELECT * FROM sync_define('odd', source => '\"s;x\".src', target => '\"s;x\".dst', \
             key => ARRAY['Tenant Id', 'n\"o'], watermark => 'ts', backfill_batch => 20)",
        );
        let mut steps = 0;
        while !backfill_step("odd").3 {
            steps += 1;
            assert!(steps < 10, "the backfill does not end");
        }
        // 75 rows in batches of 20: three ranges and the open-ended one of 15.
        assert_eq!(one::<i32>("SELECT batches FROM insync.backfills"), 4);
        assert_eq!(one::<i64>("SELECT rows_done FROM insync.backfills"), 75);
        assert_eq!(differences("\"s;x\".src", "\"s;x\".dst"), 0);
        assert_eq!(
            one::<i64>(
                "SELECT count(*) - count(DISTINCT (\"Tenant Id\", \"n\"\"o\")) FROM \"s;x\".dst"
            ),
            0
        );
        assert_eq!(
            one::<pgrx::JsonB>("SELECT last_key FROM insync.backfills").0,
            serde_json::json!(["d", 10])
        );
    }

    #[pg_test(error = "sync job \"customer\" has a backfill in progress")]
    fn runs_are_refused_while_a_backfill_is_in_progress() {
        customers(true);
        run("SELECT * FROM sync_define('customer', source => 'ods.customer', target => 'dw.customer', \
             key => '{customer_id}', watermark => 'updated_at')");
        // No backfill_batch on the job: the step is given a size.
        run("SELECT * FROM sync_backfill_step('customer', batch_size => 50)");
        run("SELECT * FROM sync_incremental('customer')");
    }

    #[pg_test(error = "sync job \"customer\" was loaded already: a backfill is a first load")]
    fn a_loaded_job_is_not_backfilled() {
        customers(true);
        define_customer();
        run("SELECT * FROM sync_incremental('customer')");
        run("SELECT * FROM sync_backfill_step('customer', batch_size => 50)");
    }

    #[pg_test]
    fn a_key_written_into_the_batch_range_meanwhile_falls_back_to_the_upsert() {
        customers(true);
        run("SELECT * FROM sync_define('customer', source => 'ods.customer', target => 'dw.customer', \
             key => '{customer_id}', watermark => 'updated_at', backfill_batch => 200)");
        // While the batch inserts key 50 (the first time only: a sequence is not rolled back),
        // key 51 gets into the target: the plain INSERT of the range (empty when probed) hits
        // it, is rolled back, and the batch is merged again as an upsert.
        run("CREATE SEQUENCE dw.once");
        run(
            "CREATE FUNCTION dw.sneak() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
               IF NEW.customer_id = 50 AND nextval('dw.once') = 1 THEN \
                 INSERT INTO dw.customer VALUES (51, 'sneaked', NULL, NULL); \
               END IF; RETURN NEW; END $$",
        );
        run("CREATE TRIGGER sneak BEFORE INSERT ON dw.customer FOR EACH ROW EXECUTE FUNCTION dw.sneak()");
        assert_eq!(backfill_step("customer"), (Some(1), 100, 100, true));
        assert_eq!(differences(CUSTOMER_SRC, CUSTOMER_DW), 0);
        // Merged twice (the trigger saw key 50 twice), counted once.
        assert_eq!(one::<i64>("SELECT last_value FROM dw.once"), 2);
        let (inserted, updated) = Spi::get_two::<i64, i64>(
            "SELECT rows_inserted, rows_updated FROM insync.runs WHERE backfill_batch = 1",
        )
        .unwrap();
        assert_eq!((inserted, updated), (Some(100), Some(0)));
    }

    #[pg_test]
    fn a_batch_whose_range_the_target_holds_already_is_upserted() {
        customers(true);
        run("INSERT INTO dw.customer VALUES (45, 'stale', NULL, NULL)");
        run("SELECT * FROM sync_define('customer', source => 'ods.customer', target => 'dw.customer', \
             key => '{customer_id}', watermark => 'updated_at', backfill_batch => 30)");
        assert_eq!(backfill_step("customer"), (Some(1), 30, 30, false));
        assert_eq!(backfill_step("customer"), (Some(2), 30, 60, false));
        assert_eq!(
            Spi::get_two::<i64, i64>(
                "SELECT rows_inserted, rows_updated FROM insync.runs WHERE backfill_batch = 2"
            )
            .unwrap(),
            (Some(29), Some(1))
        );
        while !backfill_step("customer").3 {}
        assert_eq!(differences(CUSTOMER_SRC, CUSTOMER_DW), 0);
    }

    #[pg_test]
    fn changing_the_key_during_a_backfill_starts_it_again() {
        customers(false);
        run("SELECT * FROM sync_define('customer', source => 'ods.customer', target => 'dw.customer', \
             key => '{customer_id}', watermark => 'updated_at', backfill_batch => 30)");
        backfill_step("customer");
        assert_eq!(one::<i64>("SELECT count(*) FROM insync.backfills"), 1);
        run("SELECT * FROM sync_alter('customer', key => '{customer_id,name}')");
        assert_eq!(one::<i64>("SELECT count(*) FROM insync.backfills"), 0);
        while !backfill_step("customer").3 {}
        assert_eq!(differences(CUSTOMER_SRC, CUSTOMER_DW), 0);
        assert_eq!(
            one::<i64>("SELECT count(*) - count(DISTINCT customer_id) FROM dw.customer"),
            0
        );
    }

    #[pg_test(
        error = "sync job \"k\": 1 source row in the window has a NULL key (\"id\"); nothing was synced"
    )]
    fn a_null_key_fails_the_backfill_before_its_first_batch() {
        run("CREATE TABLE public.k_src (id int, ts timestamptz NOT NULL)");
        run("INSERT INTO public.k_src VALUES (1, clock_timestamp() - interval '1 hour'), (NULL, clock_timestamp() - interval '1 hour')");
        run("CREATE TABLE public.k_dst (id int PRIMARY KEY, ts timestamptz)");
        run(
            "SELECT * FROM sync_define('k', source => 'public.k_src', target => 'public.k_dst', \
             key => '{id}', watermark => 'ts', backfill_batch => 10)",
        );
        run("SELECT * FROM sync_backfill_step('k')");
    }
}
