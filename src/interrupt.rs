//! A session that ends in the middle of a run (`pg_terminate_backend`, a fast shutdown): a
//! FATAL error exits without unwinding, so nothing after the failure would record the run or
//! stop its segment workers. A `before_shmem_exit` callback does both: it aborts the open
//! transaction, terminates the workers, and commits the run as interrupted in a last
//! transaction of its own (as PostgreSQL's `RemoveTempRelationsCallback` runs one).
//! A crash gets no callback: then the run is closed when its job is next run
//! (`catalog::close_interrupted_runs`), and `insync.job_status` shows it interrupted until then.

use crate::catalog::{as_catalog_owner, RunRecord, CLOSE_INTERRUPTED_RUNS, INSERT_RUN_IF_ABSENT};
use pgrx::prelude::*;
use pgrx::{pg_sys, PgTryBuilder};
use std::cell::{Cell, RefCell};

thread_local! {
    /// The run this session is executing, if any.
    static CURRENT_RUN: RefCell<Option<RunRecord>> = const { RefCell::new(None) };
    /// Segment workers this session started and has not yet seen stop.
    static LIVE_WORKERS: RefCell<Vec<*mut pg_sys::BackgroundWorkerHandle>> = const { RefCell::new(Vec::new()) };
    static REGISTERED: Cell<bool> = const { Cell::new(false) };
}

/// A run starts in this session: from now on the session's end records it.
pub fn run_started(record: &RunRecord) {
    if !REGISTERED.with(|r| r.replace(true)) {
        // SAFETY: registers a callback for this backend's exit; it runs at most once.
        unsafe { pg_sys::before_shmem_exit(Some(record_interrupted_run), pg_sys::Datum::from(0)) };
    }
    CURRENT_RUN.with(|c| *c.borrow_mut() = Some(record.clone()));
}

/// The run ended (recorded, or its failure handed to the catalog writer).
pub fn run_ended() {
    CURRENT_RUN.with(|c| *c.borrow_mut() = None);
}

/// Segment workers are running for this session's run.
pub fn workers_started(handles: &[*mut pg_sys::BackgroundWorkerHandle]) {
    LIVE_WORKERS.with(|w| w.borrow_mut().extend_from_slice(handles));
}

/// The workers have stopped.
pub fn workers_stopped() {
    LIVE_WORKERS.with(|w| w.borrow_mut().clear());
}

#[pg_guard]
unsafe extern "C-unwind" fn record_interrupted_run(_code: std::ffi::c_int, _arg: pg_sys::Datum) {
    for handle in LIVE_WORKERS.with(|w| std::mem::take(&mut *w.borrow_mut())) {
        // SAFETY: handles registered by this backend; terminating a stopped worker is a no-op.
        unsafe { pg_sys::TerminateBackgroundWorker(handle) };
    }
    let Some(record) = CURRENT_RUN.with(|c| c.borrow_mut().take()) else {
        return;
    };
    let json = serde_json::to_string(&record).expect("run record serializes");
    // SAFETY: the backend is exiting; its transaction is aborted first, then one of our own
    // runs and ends here, as in BackgroundWorker::transaction.
    unsafe {
        pg_sys::AbortOutOfAnyTransaction();
        pg_sys::SetCurrentStatementStartTimestamp();
        pg_sys::StartTransactionCommand();
        pg_sys::PushActiveSnapshot(pg_sys::GetTransactionSnapshot());
    }
    let job_name = record.job_name.clone();
    let written = PgTryBuilder::new(move || {
        // Never wait long on the way out: a locked catalog costs the record, not the exit.
        Spi::run("SET LOCAL lock_timeout = '2s'").ok();
        as_catalog_owner(|| {
            Spi::run_with_args(INSERT_RUN_IF_ABSENT, &[json.into()]).map_err(|e| {
                crate::error::error(pgrx::PgSqlErrorCode::ERRCODE_INTERNAL_ERROR, e.to_string())
            })?;
            Spi::run_with_args(CLOSE_INTERRUPTED_RUNS, &[job_name.into()]).map_err(|e| {
                crate::error::error(pgrx::PgSqlErrorCode::ERRCODE_INTERNAL_ERROR, e.to_string())
            })
        })
        .is_ok()
    })
    .catch_others(|_| false)
    .execute();
    unsafe {
        if written {
            pg_sys::PopActiveSnapshot();
            pg_sys::CommitTransactionCommand();
        } else {
            pg_sys::AbortCurrentTransaction();
        }
    }
}
