//! Schedules: a job with a `schedule` has exactly one pg_cron entry, `insync:<job>`, owned by
//! the job's owner and created through pg_cron's own `cron.schedule` called as that owner, so
//! pg_cron connects as the owner to run it (never as the role that installed pg_cron). The
//! entry is created, changed, moved (rename) and removed in the same transaction as the job
//! row: an error anywhere rolls both back. The cron text is pg_cron's to judge; insync never
//! parses it.

use crate::catalog::Job;
use crate::error::{error_with_hint, SpiContext, SyncResult};
use crate::plan::schedule::{entry_command, entry_name, entry_name_fits, MAX_ENTRY_NAME_BYTES};
use crate::security::as_role;
use crate::subxact::{in_subtransaction, report_of, reworded};
use pgrx::prelude::*;
use pgrx::{pg_sys, PgSqlErrorCode};

const INSTALL_HINT: &str = "Install pg_cron (Debian: apt install postgresql-15-cron), add it to shared_preload_libraries, set cron.database_name to this database, restart the server, then CREATE EXTENSION pg_cron here. 'N seconds' schedules need pg_cron 1.5 or later.";

/// What stands between this database and pg_cron, as job_status words it (`None`: nothing).
fn pg_cron_problem() -> SyncResult<Option<(String, &'static str)>> {
    // cron.database_name is readable by superusers only: read as the extension's owner (no
    // user expression is evaluated).
    let (cron_db, here, installed) = crate::catalog::as_catalog_owner(|| {
        Spi::connect(|client| {
        let row = client
            .select(
                "SELECT pg_catalog.current_setting('cron.database_name', true), \
                        pg_catalog.current_database()::text, \
                        EXISTS (SELECT FROM pg_catalog.pg_extension WHERE extname OPERATOR(pg_catalog.=) 'pg_cron')",
                None,
                &[],
            )?
            .first();
        Ok::<_, pgrx::spi::Error>((
            row.get::<String>(1)?,
            row.get::<String>(2)?.unwrap_or_default(),
            row.get::<bool>(3)?.unwrap_or(false),
        ))
        })
        .context("looking for pg_cron")
    })?;
    Ok(match cron_db {
        None => Some(("pg_cron is not loaded (shared_preload_libraries)".into(), INSTALL_HINT)),
        Some(db) if db != here => Some((
            format!("pg_cron runs jobs of database \"{db}\" (cron.database_name), not of \"{here}\""),
            "pg_cron works in one database: define scheduled jobs there, or set cron.database_name to this database and restart the server.",
        )),
        Some(_) if !installed => Some((
            "extension pg_cron is not installed in this database".into(),
            "CREATE EXTENSION pg_cron (as a superuser), and GRANT USAGE ON SCHEMA cron to the job's owner.",
        )),
        Some(_) => None,
    })
}

fn refused(job: &str, why: impl std::fmt::Display, hint: &str) -> pgrx::pg_sys::panic::ErrorReport {
    error_with_hint(
        PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
        format!("sync job \"{job}\" cannot be scheduled: {why}"),
        hint,
    )
}

/// Creates the job's pg_cron entry, or brings it in step (pg_cron's `cron.schedule` replaces
/// the schedule and command of an entry of the same name and owner).
pub fn install(job: &Job, schedule: &str) -> SyncResult<()> {
    if let Some((why, hint)) = pg_cron_problem()? {
        return Err(refused(&job.name, why, hint));
    }
    if !entry_name_fits(&job.name) {
        return Err(error_with_hint(
            PgSqlErrorCode::ERRCODE_NAME_TOO_LONG,
            format!(
                "sync job \"{}\" cannot be scheduled: its pg_cron entry \"{}\" would be longer than {MAX_ENTRY_NAME_BYTES} bytes",
                job.name,
                entry_name(&job.name)
            ),
            "Give the job a shorter name (sync_alter(job, new_name => ...)).",
        ));
    }
    let owner = job.owner;
    let can_login = Spi::get_one_with_args::<bool>(
        "SELECT rolcanlogin FROM pg_catalog.pg_roles WHERE oid OPERATOR(pg_catalog.=) $1",
        &[owner.into()],
    )
    .context("reading the job owner")?
    .unwrap_or(false);
    if !can_login {
        return Err(refused(
            &job.name,
            format!(
                "pg_cron runs it by connecting as its owner \"{}\", who cannot log in",
                owner_name(job)
            ),
            &format!(
                "ALTER ROLE {} LOGIN (a scheduled run still does only what the owner may do).",
                crate::plan::quote_ident(&owner_name(job))
            ),
        ));
    }
    let schema = extension_schema()?;
    let name = entry_name(&job.name);
    let command = entry_command(&schema, &job.name);
    let text = schedule.to_string();
    let outcome = in_subtransaction(move || {
        as_role(owner, || {
            Spi::get_one_with_args::<i64>(
                "SELECT cron.schedule($1, $2, $3)",
                &[name.into(), text.into(), command.into()],
            )
        })
    });
    match outcome {
        Ok(result) => result.map(|_| ()).context("calling cron.schedule"),
        Err(caught) => {
            let report = report_of(&caught);
            let mut e = reworded(
                &caught,
                format!(
                    "sync job \"{}\": pg_cron refused schedule '{schedule}': {}",
                    job.name,
                    report.message()
                ),
            );
            if report.sql_error_code() == PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE {
                e = e.set_hint(format!(
                    "The owner schedules its own job: GRANT USAGE ON SCHEMA cron TO {}.",
                    crate::plan::quote_ident(&owner_name(job))
                ));
            } else if report.sql_error_code() == PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE {
                e = e.set_hint(
                    "A schedule is pg_cron text: a cron expression such as '*/5 * * * *', '@hourly', or (pg_cron 1.5 or later) 'N seconds'.",
                );
            }
            Err(e)
        }
    }
}

/// Removes the pg_cron entry the job (then named `job_name`) had, if there is one. Without
/// pg_cron in this database there is none to remove.
pub fn remove(job_name: &str, owner: pg_sys::Oid) -> SyncResult<()> {
    if pg_cron_problem()?.is_some() {
        return Ok(());
    }
    let name = entry_name(job_name);
    let job = job_name.to_string();
    let outcome = in_subtransaction(move || {
        as_role(owner, || {
            Spi::run_with_args(
                "SELECT cron.unschedule(jobid) FROM cron.job \
                  WHERE jobname OPERATOR(pg_catalog.=) $1::pg_catalog.name \
                    AND username OPERATOR(pg_catalog.=) CURRENT_USER::pg_catalog.text",
                &[name.into()],
            )
        })
    });
    match outcome {
        Ok(result) => result.context("calling cron.unschedule"),
        Err(caught) => Err(reworded(
            &caught,
            format!(
                "sync job \"{job}\": removing its pg_cron entry: {}",
                report_of(&caught).message()
            ),
        )),
    }
}

/// The schema insync's functions live in (what the cron command names).
fn extension_schema() -> SyncResult<String> {
    Spi::get_one::<String>(
        "SELECT n.nspname::text FROM pg_catalog.pg_extension e \
           JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) e.extnamespace \
          WHERE e.extname OPERATOR(pg_catalog.=) 'insync'",
    )
    .context("reading insync's schema")?
    .ok_or_else(|| {
        crate::error::error(
            PgSqlErrorCode::ERRCODE_UNDEFINED_OBJECT,
            "extension \"insync\" is not installed",
        )
    })
}

fn owner_name(job: &Job) -> String {
    if !job.owner_name.is_empty() {
        return job.owner_name.clone();
    }
    Spi::get_one_with_args::<String>(
        "SELECT rolname::text FROM pg_catalog.pg_roles WHERE oid OPERATOR(pg_catalog.=) $1",
        &[job.owner.into()],
    )
    .ok()
    .flatten()
    .unwrap_or_default()
}
