//! Catalog writes that must commit on their own, whatever happens to the caller's transaction.
//! A failing run raises its error, which rolls back the caller's transaction — and with it
//! anything the run wrote to `insync.runs`. So the failed run is handed to a short-lived
//! dynamic background worker that inserts it in a transaction of its own, while the caller
//! waits, before the error is re-raised. A parallel run commits its plan (the `running` run
//! and its segments) the same way before its segment workers start.

use crate::catalog::{
    extension_owner, RunRecord, COUNT_COMMITTED_SEGMENTS, FAIL_UNFINISHED_SEGMENTS,
    INSERT_RUN_FROM_JSON, INSERT_SEGMENTS_FROM_JSON, INSERT_VERIFICATION_FROM_JSON,
};
use crate::dispatch::Stopped;
use pgrx::bgworkers::BackgroundWorker;
use pgrx::prelude::*;
use pgrx::{pg_sys, PgTryBuilder};
use serde::{Deserialize, Serialize};

/// What the worker needs: where to connect and what to write.
#[derive(Serialize, Deserialize)]
struct FailedRun {
    database: u32,
    catalog_owner: u32,
    record: RunRecord,
    /// Parallel runs: the planned segments (JSON array) to insert with the run.
    segments: Option<String>,
    /// A verification to record instead of a run (`record` is then unused).
    #[serde(default)]
    verification: Option<String>,
}

/// Records `record` (status `failed`) outside the current transaction, marking the segments a
/// parallel run left unfinished as failed too. Best effort: if no worker can be started the
/// failure is still raised to the caller, with a WARNING.
pub fn record_failed_run(record: &RunRecord) {
    if let Some(tables) = catalog_locked_here() {
        pgrx::warning!(
            "insync: the failed run of job \"{}\" is not recorded: this transaction holds a lock on {tables} that the catalog writer would wait for",
            record.job_name
        );
        return;
    }
    match commit_autonomously(record, None, None) {
        Written::Committed => {}
        Written::NoWorkerSlot => pgrx::warning!(
            "insync: no background worker slot to record failed run {}; raise max_worker_processes",
            record.run_id
        ),
        Written::WaitedForCaller => pgrx::warning!(
            "insync: the failed run of job \"{}\" is not recorded: the catalog writer waited for a lock this transaction holds",
            record.job_name
        ),
    }
}

/// What became of a catalog write handed to the writer worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    Committed,
    /// No background worker could be started.
    NoWorkerSlot,
    /// The writer waited for a lock of this transaction and was stopped; nothing was written.
    WaitedForCaller,
}

/// Records a verification (JSON for [`INSERT_VERIFICATION_FROM_JSON`]) outside the current
/// transaction: one that failed, or found differences and raises them. Best effort, as for
/// failed runs.
pub fn record_verification(job_name: &str, json: String) {
    if let Some(tables) = catalog_locked_here() {
        pgrx::warning!(
            "insync: the verification of job \"{job_name}\" is not recorded: this transaction holds a lock on {tables} that the catalog writer would wait for"
        );
        return;
    }
    if commit_autonomously(&RunRecord::default(), None, Some(json)) != Written::Committed {
        pgrx::warning!("insync: the verification of job \"{job_name}\" could not be recorded");
    }
}

/// Commits a parallel run's plan: the run (status `running`) and its segments (a JSON array
/// for [`INSERT_SEGMENTS_FROM_JSON`]).
pub fn commit_plan(record: &RunRecord, segments_json: String) -> Written {
    commit_autonomously(record, Some(segments_json), None)
}

/// The catalog tables the writer worker writes that this transaction has locked against it
/// (`LOCK TABLE insync.runs IN SHARE MODE`, say): the worker would wait for this transaction,
/// which waits for the worker.
pub fn catalog_locked_here() -> Option<String> {
    Spi::get_one::<String>(
        "SELECT pg_catalog.string_agg(DISTINCT l.relation::pg_catalog.regclass::text, ', ') \
           FROM pg_catalog.pg_locks l \
          WHERE l.pid OPERATOR(pg_catalog.=) pg_catalog.pg_backend_pid() AND l.granted \
            AND l.locktype OPERATOR(pg_catalog.=) 'relation' \
            AND l.mode OPERATOR(pg_catalog.=) ANY ('{ShareLock,ShareRowExclusiveLock,ExclusiveLock,AccessExclusiveLock}') \
            AND l.relation OPERATOR(pg_catalog.=) ANY (ARRAY['insync.runs'::pg_catalog.regclass, \
                                                  'insync.run_segments'::pg_catalog.regclass]::pg_catalog.oid[])",
    )
    .ok()
    .flatten()
}

fn commit_autonomously(
    record: &RunRecord,
    segments: Option<String>,
    verification: Option<String>,
) -> Written {
    let owner = match extension_owner() {
        Ok(owner) => owner,
        Err(e) => {
            pgrx::warning!(
                "insync: could not record run {}: {}",
                record.run_id,
                e.message()
            );
            return Written::NoWorkerSlot;
        }
    };
    let payload = serde_json::to_vec(&FailedRun {
        database: unsafe { pg_sys::MyDatabaseId }.to_u32(),
        catalog_owner: owner.to_u32(),
        record: record.clone(),
        segments,
        verification,
    })
    .expect("failed run serializes");
    let Some(launched) = crate::worker::launch(
        "insync recorder",
        "insync_record_failed_run",
        |_| "insync catalog writer".to_string(),
        &payload,
        1,
    ) else {
        return Written::NoWorkerSlot;
    };
    let handles = launched.handles.clone();
    let on_cancel = launched.clone();
    let waiting = handles.clone();
    // A cancel while waiting stops the writer and goes on at once: the caller is never held
    // by a writer that waits for something.
    let stopped = PgTryBuilder::new(move || crate::dispatch::wait_until_stopped(&waiting, true))
        .catch_others(move |caught| {
            crate::dispatch::terminate_and_wait(&handles);
            on_cancel.detach();
            caught.rethrow()
        })
        .execute();
    launched.detach();
    match stopped {
        Stopped::All => Written::Committed,
        Stopped::WaitingForLeader(_) => Written::WaitedForCaller,
    }
}

/// Entry point of the recorder worker.
#[pg_guard]
#[no_mangle]
pub extern "C-unwind" fn insync_record_failed_run(arg: pg_sys::Datum) {
    let Some(shared) = crate::worker::attach(arg, "insync recorder") else {
        return;
    };
    let payload = shared.payload.clone();
    shared.detach();
    let Ok(failed) = serde_json::from_slice::<FailedRun>(&payload) else {
        pgrx::log!("insync recorder: unreadable failed-run payload");
        return;
    };
    BackgroundWorker::connect_worker_to_spi_by_oid(
        Some(pg_sys::Oid::from(failed.database)),
        Some(pg_sys::Oid::from(failed.catalog_owner)),
    );
    if let Some(verification) = failed.verification {
        BackgroundWorker::transaction(|| {
            crate::settings::with_settings(crate::security::SAFE_SETTINGS, || {
                Spi::run_with_args(INSERT_VERIFICATION_FROM_JSON, &[verification.into()])
                    .expect("inserting the verification into insync.verifications");
            })
        });
        return;
    }
    let json = serde_json::to_string(&failed.record).expect("run record serializes");
    // The worker is connected as the catalog owner: pin the settings its statements see.
    BackgroundWorker::transaction(|| {
        crate::settings::with_settings(crate::security::SAFE_SETTINGS, || {
            Spi::run_with_args(INSERT_RUN_FROM_JSON, &[json.into()])
                .expect("inserting the run into insync.runs");
            if let Some(segments) = failed.segments {
                Spi::run_with_args(INSERT_SEGMENTS_FROM_JSON, &[segments.into()])
                    .expect("inserting the run's segments into insync.run_segments");
            } else if failed.record.segments.is_some() {
                let planned_by = failed.record.resumes.unwrap_or(failed.record.run_id);
                Spi::run_with_args(
                    FAIL_UNFINISHED_SEGMENTS,
                    &[
                        planned_by.into(),
                        failed.record.error_message.clone().into(),
                    ],
                )
                .expect("marking unfinished segments failed");
                Spi::run_with_args(COUNT_COMMITTED_SEGMENTS, &[failed.record.run_id.into()])
                    .expect("counting the rows its committed segments wrote");
            }
        })
    });
}
