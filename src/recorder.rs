//! Catalog writes that must commit on their own, whatever happens to the caller's transaction.
//! A failing run raises its error, which rolls back the caller's transaction — and with it
//! anything the run wrote to `insync.runs`. So the failed run is handed to a short-lived
//! dynamic background worker that inserts it in a transaction of its own, while the caller
//! waits, before the error is re-raised. A parallel run commits its plan (the `running` run
//! and its segments) the same way before its segment workers start.

use crate::catalog::{
    extension_owner, RunRecord, FAIL_UNFINISHED_SEGMENTS, INSERT_RUN_FROM_JSON,
    INSERT_SEGMENTS_FROM_JSON,
};
use pgrx::bgworkers::{BackgroundWorker, BackgroundWorkerBuilder, SignalWakeFlags};
use pgrx::pg_sys;
use pgrx::prelude::*;
use serde::{Deserialize, Serialize};

/// What the worker needs: where to connect and what to write.
#[derive(Serialize, Deserialize)]
struct FailedRun {
    database: u32,
    catalog_owner: u32,
    record: RunRecord,
    /// Parallel runs: the planned segments (JSON array) to insert with the run.
    segments: Option<String>,
}

/// Records `record` (status `failed`) outside the current transaction, marking the segments a
/// parallel run left unfinished as failed too. Best effort: if no worker can be started the
/// failure is still raised to the caller, with a WARNING.
pub fn record_failed_run(record: &RunRecord) {
    if !commit_autonomously(record, None) {
        pgrx::warning!(
            "insync: no background worker slot to record failed run {}; raise max_worker_processes",
            record.run_id
        );
    }
}

/// Commits a parallel run's plan: the run (status `running`) and its segments (a JSON array
/// for [`INSERT_SEGMENTS_FROM_JSON`]). False when no worker could be started to do it.
pub fn commit_plan(record: &RunRecord, segments_json: String) -> bool {
    commit_autonomously(record, Some(segments_json))
}

fn commit_autonomously(record: &RunRecord, segments: Option<String>) -> bool {
    let owner = match extension_owner() {
        Ok(owner) => owner,
        Err(e) => {
            pgrx::warning!(
                "insync: could not record failed run {}: {}",
                record.run_id,
                e.message()
            );
            return false;
        }
    };
    let payload = serde_json::to_vec(&FailedRun {
        database: unsafe { pg_sys::MyDatabaseId }.to_u32(),
        catalog_owner: owner.to_u32(),
        record: record.clone(),
        segments,
    })
    .expect("failed run serializes");
    // SAFETY: the segment is sized for the payload plus its length prefix, and stays attached
    // until the worker has exited.
    unsafe {
        let len = payload.len();
        let segment = pg_sys::dsm_create(len + 8, 0);
        let base = pg_sys::dsm_segment_address(segment) as *mut u8;
        std::ptr::copy_nonoverlapping((len as u64).to_le_bytes().as_ptr(), base, 8);
        std::ptr::copy_nonoverlapping(payload.as_ptr(), base.add(8), len);
        let handle = pg_sys::dsm_segment_handle(segment);
        let started = BackgroundWorkerBuilder::new("insync catalog writer")
            .set_type("insync recorder")
            .set_library("insync")
            .set_function("insync_record_failed_run")
            .set_argument(Some(pg_sys::Datum::from(handle)))
            .enable_spi_access()
            .set_notify_pid(pg_sys::MyProcPid)
            .load_dynamic();
        let started = match started {
            Ok(worker) => {
                if worker.wait_for_shutdown().is_err() {
                    pgrx::warning!(
                        "insync: the recorder of run {} did not finish",
                        record.run_id
                    );
                }
                true
            }
            Err(_) => false,
        };
        pg_sys::dsm_detach(segment);
        started
    }
}

/// Entry point of the recorder worker.
#[pg_guard]
#[no_mangle]
pub extern "C-unwind" fn insync_record_failed_run(arg: pg_sys::Datum) {
    BackgroundWorker::attach_signal_handlers(SignalWakeFlags::SIGTERM);
    let handle = arg.value() as pg_sys::dsm_handle;
    // SAFETY: the leader keeps the segment alive until this worker exits.
    let payload = unsafe {
        let segment = pg_sys::dsm_attach(handle);
        if segment.is_null() {
            pgrx::log!("insync recorder: the failed-run segment is gone");
            return;
        }
        let base = pg_sys::dsm_segment_address(segment) as *const u8;
        let mut len = [0u8; 8];
        std::ptr::copy_nonoverlapping(base, len.as_mut_ptr(), 8);
        let len = u64::from_le_bytes(len) as usize;
        std::slice::from_raw_parts(base.add(8), len).to_vec()
    };
    let Ok(failed) = serde_json::from_slice::<FailedRun>(&payload) else {
        pgrx::log!("insync recorder: unreadable failed-run payload");
        return;
    };
    BackgroundWorker::connect_worker_to_spi_by_oid(
        Some(pg_sys::Oid::from(failed.database)),
        Some(pg_sys::Oid::from(failed.catalog_owner)),
    );
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
            }
        })
    });
}
