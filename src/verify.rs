//! sync_verify: proves inside the database that a job's source and target agree (bucket
//! checksums, then the keys of differing buckets; see `plan::verify`), records the result in
//! `insync.verifications`, and on request repairs only the differing keys, keeping every row
//! it deletes or writes in the quarantine so `restore_quarantine` undoes the repair.
//!
//! Like a run: the caller must be allowed to run the job; the job's lock is taken (a run or
//! verification in progress makes this one `skipped`); the comparison and the repair run as
//! the job owner in a security-restricted operation; the record is written as the catalog
//! owner. The watermark never moves.

use crate::catalog::{self, Job, VerificationRecord, VerifyStatus};
use crate::error::{error, error_with_hint, SpiContext, SyncResult};
use crate::execute::{current_role, now_text, try_job_lock};
use crate::plan::verify::{bucket_count, Hash, Input, VerifyColumn, VerifyPlan};
use crate::plan::Window;
use crate::resolve;
use crate::security::as_role;
use crate::subxact::{full_text, in_subtransaction, report_of, reworded};
use pgrx::pg_sys::panic::ErrorReportable;
use pgrx::prelude::*;
use pgrx::{pg_sys, PgSqlErrorCode};
use std::sync::{Arc, Mutex};

/// What the caller asked for.
#[derive(Debug, Clone, Copy, Default)]
pub struct VerifyOptions {
    pub repair: bool,
    pub raise_on_difference: bool,
    /// How many differing keys to return (the set-returning form); 0: none.
    pub max_keys: usize,
}

/// A verification's outcome: its record, its elapsed time, and the first differing keys
/// (`key` as JSON text, `missing` / `extra` / `changed`).
pub struct Verified {
    pub record: VerificationRecord,
    pub elapsed: pgrx::datum::Interval,
    pub keys: Vec<(String, String)>,
}

/// Verifies (and with `repair`, repairs) a job's target against its source.
pub fn verify(job_name: &str, opts: VerifyOptions) -> SyncResult<Verified> {
    let job = catalog::load_job(job_name)?;
    let mut record = VerificationRecord {
        verification_id: catalog::next_verification_id()?,
        job_name: job.name.clone(),
        owner: job.owner_name.clone(),
        run_by: current_role()?,
        started_at: now_text()?,
        ..Default::default()
    };
    if !try_job_lock(&job)? {
        record.status = VerifyStatus::Skipped;
        record.error_message =
            Some("another run or verification of this job was in progress".into());
        record.finished_at = Some(now_text()?);
        catalog::record_verification(&record)?;
        pgrx::notice!("sync job \"{job_name}\" is busy in another session; verification skipped");
        return finish(record, Vec::new());
    }
    // The batch is opened in the caller's name, before switching to the owner.
    let batch = if opts.repair {
        Some(crate::quarantine::open_batch(
            None,
            job.target,
            "sync_verify",
        )?)
    } else {
        None
    };
    let owner = job.owner;
    let progress = Arc::new(Mutex::new(record));
    let outcome = {
        let progress = Arc::clone(&progress);
        let job = job.clone();
        in_subtransaction(move || {
            let mut record = progress.lock().unwrap_or_else(|p| p.into_inner());
            let keys = as_role(owner, || compare_and_repair(&job, &mut record, batch, opts))
                .unwrap_or_report();
            (record.clone(), keys)
        })
    };
    match outcome {
        Ok((mut record, keys)) => {
            record.finished_at = Some(now_text()?);
            let differences = record.missing + record.extra + record.changed;
            if record.status == VerifyStatus::Different && opts.raise_on_difference {
                let message = format!(
                    "sync job \"{}\": target differs from source: {} keys missing, {} extra, {} changed",
                    job.name, record.missing, record.extra, record.changed
                );
                record.error_message = Some(message.clone());
                crate::recorder::record_verification(&job.name, record.to_json());
                return Err(error_with_hint(
                    PgSqlErrorCode::ERRCODE_DATA_EXCEPTION,
                    message,
                    format!(
                        "SELECT * FROM sync_verify_keys('{}') lists them; sync_verify('{}', repair => true) repairs them.",
                        job.name, job.name
                    ),
                ));
            }
            catalog::record_verification(&record)?;
            if differences > 0 && !opts.repair {
                pgrx::notice!(
                    "sync job \"{}\": {} keys missing in the target, {} extra, {} changed",
                    job.name,
                    record.missing,
                    record.extra,
                    record.changed
                );
            }
            finish(record, keys)
        }
        Err(caught) => {
            let mut record = progress.lock().unwrap_or_else(|p| p.into_inner()).clone();
            record.status = VerifyStatus::Failed;
            record.error_message = Some(full_text(&caught));
            record.finished_at = None;
            crate::recorder::record_verification(&job.name, record.to_json());
            Err(reworded(
                &caught,
                format!(
                    "sync job \"{}\": verification failed: {}",
                    job.name,
                    report_of(&caught).message()
                ),
            ))
        }
    }
}

fn finish(record: VerificationRecord, keys: Vec<(String, String)>) -> SyncResult<Verified> {
    let elapsed = Spi::get_one_with_args::<pgrx::datum::Interval>(
        "SELECT pg_catalog.clock_timestamp() - $1::pg_catalog.timestamptz",
        &[record.started_at.clone().into()],
    )
    .context("reading the clock")?
    .ok_or_else(|| error(PgSqlErrorCode::ERRCODE_INTERNAL_ERROR, "no elapsed time"))?;
    Ok(Verified {
        record,
        elapsed,
        keys,
    })
}

/// The comparison (and repair), as the job owner: fills in the record and returns up to
/// `max_keys` differing keys.
fn compare_and_repair(
    job: &Job,
    record: &mut VerificationRecord,
    batch: Option<i64>,
    opts: VerifyOptions,
) -> SyncResult<Vec<(String, String)>> {
    let mut resolved = resolve::resolve(job)?;
    // A foreign source with a unique key on its server needs no latest-row-per-key step, so
    // the per-bucket aggregate can run there (as a run asks, see `execute`).
    if resolved.source.kind == 'f' && !resolved.plan.source_key_unique {
        if let Some(server) =
            crate::remote::server_of(resolved.source.oid)?.filter(|s| s.postgres_fdw)
        {
            resolved.plan.source_key_unique =
                crate::remote::key_unique(&server, resolved.source.oid, &resolved.plan.keys)?;
        }
    }
    let plan = verify_plan(job, &resolved)?;
    record.buckets = plan.buckets as i32;
    // On a foreign source, the source planner cannot tell how few groups a bucket or key
    // aggregate has (it counts the key's distinct values), so with `use_remote_estimate` the
    // local planner finds fetching every row cheaper than fetching the aggregate. Without a
    // local hash aggregate to compare with, the aggregate is computed on the source.
    let foreign = resolved.source.kind == 'f';
    let settle = |f: &mut dyn FnMut() -> SyncResult<()>| {
        if foreign {
            crate::settings::sorted_grouping(f)
        } else {
            crate::settings::bulk(f)
        }
    };
    let mut compared = None;
    settle(&mut || {
        compared = Some(compare_buckets(&plan)?);
        Ok(())
    })?;
    let (source_rows, target_rows, buckets) = compared.unwrap_or_default();
    record.source_rows = source_rows;
    record.target_rows = target_rows;
    record.differing_buckets = buckets.len() as i32;
    record.status = VerifyStatus::Equal;
    if buckets.is_empty() {
        return Ok(Vec::new());
    }
    let mut found = None;
    settle(&mut || {
        found = Some(differing_keys(&plan, &buckets)?);
        Ok(())
    })?;
    let keys = found.unwrap_or_default();
    finish_compare(&resolved, &plan, record, batch, opts, buckets, keys)
}

/// Bucket totals of both sides: source rows, target rows, differing buckets.
fn compare_buckets(plan: &VerifyPlan) -> SyncResult<(i64, i64, Vec<i64>)> {
    Spi::connect(|client| {
        let row = client.select(&plan.compare_buckets(), None, &[])?.first();
        Ok::<_, pgrx::spi::Error>((
            row.get::<i64>(1)?.unwrap_or(0),
            row.get::<i64>(2)?.unwrap_or(0),
            row.get::<Vec<i64>>(3)?.unwrap_or_default(),
        ))
    })
    .context("comparing buckets")
}

/// The keys that differ in the given buckets, with how.
fn differing_keys(plan: &VerifyPlan, buckets: &[i64]) -> SyncResult<Vec<(String, String)>> {
    let sql = plan.differing_keys();
    Spi::connect(|client| {
        client
            .select(&sql, None, &[buckets.to_vec().into()])?
            .map(|row| {
                Ok((
                    row.get::<pgrx::JsonB>(1)?
                        .map(|k| k.0.to_string())
                        .unwrap_or_default(),
                    row.get::<String>(2)?.unwrap_or_default(),
                ))
            })
            .collect::<Result<Vec<_>, pgrx::spi::Error>>()
    })
    .context("comparing the keys of differing buckets")
}

/// Counts the differences and, when asked, repairs them.
#[allow(clippy::too_many_arguments)]
fn finish_compare(
    resolved: &resolve::Resolved,
    plan: &VerifyPlan,
    record: &mut VerificationRecord,
    batch: Option<i64>,
    opts: VerifyOptions,
    buckets: Vec<i64>,
    keys: Vec<(String, String)>,
) -> SyncResult<Vec<(String, String)>> {
    let count = |what: &str| keys.iter().filter(|(_, d)| d == what).count() as i64;
    record.missing = count("missing");
    record.extra = count("extra");
    record.changed = count("changed");
    if keys.is_empty() {
        // Checksums differed but no key does: only possible with a hash collision in a key
        // sum, which the per-key comparison settles.
        return Ok(keys);
    }
    record.status = VerifyStatus::Different;
    if let Some(batch) = batch {
        let array = |kinds: &[&str]| {
            let items: Vec<serde_json::Value> = keys
                .iter()
                .filter(|(_, d)| kinds.contains(&d.as_str()))
                .map(|(k, _)| serde_json::from_str(k).unwrap_or(serde_json::Value::Null))
                .collect();
            serde_json::Value::Array(items).to_string()
        };
        let target = resolved.target.oid;
        let remove = array(&["extra", "changed"]);
        let write = array(&["missing", "changed"]);
        let delete = plan.repair_delete_steps("verify_repair");
        let columns: Vec<String> = resolved
            .plan
            .columns
            .iter()
            .map(|c| c.name.clone())
            .collect();
        let insert = plan.repair_insert_steps(&columns);
        let (deleted, inserted) = crate::settings::bulk(|| {
            Spi::connect_mut(|client| {
                let deleted = run_repair(
                    client,
                    &delete,
                    &[remove.clone().into(), batch.into(), target.into()],
                )?;
                let inserted = run_repair(
                    client,
                    &insert,
                    &[
                        write.clone().into(),
                        batch.into(),
                        target.into(),
                        buckets.clone().into(),
                    ],
                )?;
                Ok::<_, pgrx::spi::Error>((deleted, inserted))
            })
        })
        .context("repairing the differing keys")?;
        record.rows_deleted = deleted;
        record.rows_inserted = inserted;
        record.quarantine_batch = Some(batch);
        record.status = VerifyStatus::Repaired;
    }
    Ok(keys.into_iter().take(opts.max_keys).collect())
}

/// The job's comparison: its source read as a full run reads it, each compared column with the
/// target's type and hash function, and a bucket count from the local tables' size (their
/// statistics, or about 100 bytes a row before the first ANALYZE).
fn verify_plan(job: &Job, resolved: &resolve::Resolved) -> SyncResult<VerifyPlan> {
    let dialect = &resolved.plan.dialect;
    if !dialect.extended_hashes {
        return Err(error_with_hint(
            PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
            format!(
                "sync job \"{}\" cannot be verified on {}: the bucket checksums need 64-bit hash functions (PostgreSQL 11 kernels and later)",
                job.name,
                dialect.engine.name()
            ),
            "A full run (sync_full) makes the target equal to the source.",
        ));
    }
    let types = target_types(resolved.target.oid)?;
    let column = |name: &str| -> SyncResult<VerifyColumn> {
        let (type_oid, target_type) = types
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, oid, ty)| (*oid, ty.clone()))
            .ok_or_else(|| {
                resolve::missing_column(
                    resolve::Asker::Job(&job.name),
                    "compared",
                    name,
                    &resolved.target,
                )
            })?;
        Ok(VerifyColumn {
            name: name.to_string(),
            target_type,
            hash: hash_of(type_oid)?,
        })
    };
    let keys = job
        .keys
        .iter()
        .map(|k| column(k))
        .collect::<SyncResult<Vec<_>>>()?;
    let payload = resolved
        .plan
        .columns
        .iter()
        .filter(|c| !job.keys.contains(&c.name))
        .map(|c| column(&c.name))
        .collect::<SyncResult<Vec<_>>>()?;
    let rows = Spi::get_one_with_args::<f64>(
        "SELECT greatest(max(CASE WHEN c.reltuples >= 0 THEN c.reltuples::pg_catalog.float8 \
                                  ELSE pg_catalog.pg_relation_size(c.oid) / 100.0 END)::pg_catalog.float8, 0) \
           FROM pg_catalog.pg_class c WHERE c.oid = ANY ($1) AND c.relkind IN ('r', 'p', 'm')",
        &[vec![resolved.source.oid, resolved.target.oid].into()],
    )
    .context("reading table sizes")?
    .unwrap_or(0.0);
    Ok(VerifyPlan {
        source_rows: resolved.plan.source_rows(Window::Everything),
        target: resolved.target.relation.clone(),
        keys,
        payload,
        buckets: bucket_count(rows),
        dialect: resolved.plan.dialect.clone(),
    })
}

/// The target's columns: name, type OID, and type as `format_type` prints it (typmod
/// included, schema-qualified unless in pg_catalog).
fn target_types(target: pg_sys::Oid) -> SyncResult<Vec<(String, pg_sys::Oid, String)>> {
    Spi::connect(|client| {
        client
            .select(
                "SELECT a.attname::text, a.atttypid, pg_catalog.format_type(a.atttypid, a.atttypmod) \
                   FROM pg_catalog.pg_attribute a \
                  WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
                None,
                &[target.into()],
            )?
            .map(|r| {
                Ok((
                    r.get::<String>(1)?.unwrap_or_default(),
                    r.get::<pg_sys::Oid>(2)?.unwrap_or(pg_sys::Oid::INVALID),
                    r.get::<String>(3)?.unwrap_or_default(),
                ))
            })
            .collect::<Result<Vec<_>, pgrx::spi::Error>>()
    })
    .context("reading the target's columns")
}

/// A built-in type's own extended hash function (equal values hash equal, as the type's
/// equality says); anything else (user types, domains, enums, json, point...) by its text.
fn hash_of(type_oid: pg_sys::Oid) -> SyncResult<Hash> {
    if type_oid.to_u32() >= pg_sys::FirstNormalObjectId {
        return Ok(Hash::Text);
    }
    // SAFETY: lookup_type_cache returns a valid cache entry or raises an error.
    let proc = unsafe {
        let entry =
            pg_sys::lookup_type_cache(type_oid, pg_sys::TYPECACHE_HASH_EXTENDED_PROC as i32);
        (*entry).hash_extended_proc
    };
    if proc == pg_sys::Oid::INVALID {
        return Ok(Hash::Text);
    }
    // The function's argument: the type itself, a binary-compatible one (relabelled), or a
    // polymorphic one (arrays, ranges); timestamptz hashes through timestamp's function.
    let found = Spi::get_three_with_args::<String, String, String>(
        "SELECT 'pg_catalog.' || pg_catalog.quote_ident(p.proname), \
                CASE WHEN p.proargtypes[0] = $2 OR a.typtype = 'p' THEN 'same' \
                     WHEN $2 = 'pg_catalog.timestamptz'::pg_catalog.regtype \
                          AND p.proargtypes[0] = 'pg_catalog.timestamp'::pg_catalog.regtype THEN 'utc' \
                     WHEN EXISTS (SELECT FROM pg_catalog.pg_cast c WHERE c.castsource = $2 \
                                     AND c.casttarget = p.proargtypes[0] AND c.castmethod = 'b') THEN 'relabel' END, \
                pg_catalog.format_type(p.proargtypes[0], NULL) \
           FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_type a ON a.oid = p.proargtypes[0] \
          WHERE p.oid = $1 AND p.pronamespace = 'pg_catalog'::pg_catalog.regnamespace \
            AND p.provolatile = 'i'",
        &[proc.into(), type_oid.into()],
    )
    .context("reading the type's hash function")?;
    Ok(match found {
        (Some(function), Some(how), Some(arg)) => Hash::Typed {
            function,
            input: match how.as_str() {
                "same" => Input::Same,
                "utc" => Input::Utc,
                _ => Input::Relabel(arg),
            },
        },
        _ => Hash::Text,
    })
}

/// For an incremental run of a job with `deletes => 'verify'`, after its merge: deletes the
/// target rows whose key is no longer in the source, found by comparing key-only bucket
/// checksums of both sides (then the keys of differing buckets), never by an anti-join of
/// the whole tables. Each deleted row goes to a quarantine batch of its own (reason
/// `deleted_from_source`), opened only when there is something to delete. Runs as the job
/// owner, inside the run. Returns the rows deleted.
pub fn delete_gone_keys(job: &Job, resolved: &resolve::Resolved) -> SyncResult<i64> {
    let mut plan = verify_plan(job, resolved)?;
    plan.payload.clear();
    let foreign = resolved.source.kind == 'f';
    let grouped = |f: &mut dyn FnMut() -> SyncResult<()>| {
        if foreign {
            crate::settings::sorted_grouping(f)
        } else {
            crate::settings::bulk(f)
        }
    };
    let mut compared = None;
    grouped(&mut || {
        compared = Some(compare_buckets(&plan)?);
        Ok(())
    })?;
    let (_, _, buckets) = compared.unwrap_or_default();
    if buckets.is_empty() {
        return Ok(0);
    }
    let mut found = None;
    grouped(&mut || {
        found = Some(differing_keys(&plan, &buckets)?);
        Ok(())
    })?;
    let gone: Vec<serde_json::Value> = found
        .unwrap_or_default()
        .into_iter()
        .filter(|(_, d)| d == "extra")
        .map(|(k, _)| serde_json::from_str(&k).unwrap_or(serde_json::Value::Null))
        .collect();
    if gone.is_empty() {
        return Ok(0);
    }
    let batch = crate::quarantine::open_batch(None, resolved.target.oid, "sync_incremental")?;
    let repair = plan.repair_delete_steps("deleted_from_source");
    let keys = serde_json::Value::Array(gone).to_string();
    let target = resolved.target.oid;
    crate::settings::bulk(|| {
        Spi::connect_mut(|client| {
            run_repair(client, &repair, &[keys.into(), batch.into(), target.into()])
        })
    })
    .context("deleting keys that left the source")
}

/// Runs a repair's statements in order with the same parameters; returns the counted
/// statement's processed rows.
fn run_repair(
    client: &mut pgrx::spi::SpiClient<'_>,
    repair: &crate::plan::verify::Repair,
    args: &[pgrx::datum::DatumWithOid],
) -> Result<i64, pgrx::spi::Error> {
    let mut counted = 0;
    for (i, statement) in repair.statements.iter().enumerate() {
        let processed = client.update(statement, None, args)?.len() as i64;
        if i == repair.counted {
            counted = processed;
        }
    }
    Ok(counted)
}
