//! Running a step inside an internal subtransaction, the way PL/pgSQL's EXCEPTION blocks do,
//! so that a failure can be inspected (recorded, reworded) while the transaction stays usable.

use pgrx::pg_sys;
use pgrx::pg_sys::panic::{CaughtError, ErrorReport, ErrorReportWithLevel};
use pgrx::PgTryBuilder;
use std::panic::UnwindSafe;

/// Runs `f` in a subtransaction. On error the subtransaction is rolled back (undoing all of
/// `f`'s effects) and the caught error is returned so the caller can act before rethrowing.
pub fn in_subtransaction<R>(f: impl FnOnce() -> R + UnwindSafe) -> Result<R, CaughtError> {
    // SAFETY: plain reads of backend globals, restored below as PL/pgSQL does.
    let (old_context, old_owner) =
        unsafe { (pg_sys::CurrentMemoryContext, pg_sys::CurrentResourceOwner) };
    let restore = move || unsafe {
        pg_sys::MemoryContextSwitchTo(old_context);
        pg_sys::CurrentResourceOwner = old_owner;
    };
    unsafe {
        pg_sys::BeginInternalSubTransaction(std::ptr::null());
        pg_sys::MemoryContextSwitchTo(old_context);
    }
    PgTryBuilder::new(move || {
        let result = f();
        unsafe { pg_sys::ReleaseCurrentSubTransaction() };
        restore();
        Ok(result)
    })
    .catch_others(move |caught| {
        unsafe { pg_sys::RollbackAndReleaseCurrentSubTransaction() };
        restore();
        Err(caught)
    })
    .execute()
}

/// A caught error as a fresh report (its SQLSTATE, detail and hint) with `message`; without
/// the panic backtrace pgrx would attach when rethrowing.
pub fn reworded(caught: &CaughtError, message: String) -> ErrorReport {
    let report = report_of(caught);
    let mut error = ErrorReport::new(report.sql_error_code(), message, "insync");
    if let Some(detail) = report.detail() {
        error = error.set_detail(detail.to_string());
    }
    if let Some(hint) = report.hint() {
        error = error.set_hint(hint.to_string());
    }
    error
}

/// The report inside a caught error, whatever raised it.
pub fn report_of(caught: &CaughtError) -> &ErrorReportWithLevel {
    match caught {
        CaughtError::PostgresError(r) | CaughtError::ErrorReport(r) => r,
        CaughtError::RustPanic { ereport, .. } => ereport,
    }
}

/// The whole error as a user would read it in psql: message, then DETAIL and HINT lines.
pub fn full_text(caught: &CaughtError) -> String {
    let report = report_of(caught);
    let mut text = report.message().to_string();
    if let Some(detail) = report.detail() {
        text.push_str("\nDETAIL: ");
        text.push_str(detail);
    }
    if let Some(hint) = report.hint() {
        text.push_str("\nHINT: ");
        text.push_str(hint);
    }
    text
}
