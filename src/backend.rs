//! Facts about this backend, read from its own state rather than through SQL. A run needs
//! several (the clock, the current role, its transaction id), and on a session's first run —
//! every run of a pg_cron entry — each statement is parsed and planned from cold caches.

use pgrx::pg_sys;
use std::ffi::CStr;

/// `clock_timestamp()` as ISO UTC text, the form insync records instants in.
pub fn now_text() -> String {
    // SAFETY: reads the system clock.
    crate::plan::instant::utc_text(unsafe { pg_sys::GetCurrentTimestamp() })
}

/// `current_user::regrole::text`: the current role's name, quoted where SQL needs it.
pub fn current_role_text() -> String {
    // SAFETY: the current user exists for the whole statement; quote_identifier returns its
    // argument or a palloc'd copy, both valid here.
    unsafe {
        let name = pg_sys::GetUserNameFromId(pg_sys::GetUserId(), false);
        CStr::from_ptr(pg_sys::quote_identifier(name))
            .to_string_lossy()
            .into_owned()
    }
}

/// `pg_current_xact_id()::text`: the top transaction's full id, assigning one if needed.
pub fn current_xact_text() -> String {
    // SAFETY: inside a transaction, as every caller is.
    unsafe { pg_sys::GetTopFullTransactionId() }
        .value
        .to_string()
}

/// `current_setting('transaction_isolation')`.
pub fn isolation_level() -> &'static str {
    // SAFETY: a plain read of the transaction's isolation level.
    match unsafe { pg_sys::XactIsoLevel } as u32 {
        pg_sys::XACT_READ_UNCOMMITTED => "read uncommitted",
        pg_sys::XACT_READ_COMMITTED => "read committed",
        pg_sys::XACT_REPEATABLE_READ => "repeatable read",
        _ => "serializable",
    }
}

/// `pg_has_role(current_user, role, 'USAGE')`: the current user has `role`'s privileges.
pub fn has_privileges_of(role: pg_sys::Oid) -> bool {
    // SAFETY: catalog lookups in a transaction.
    unsafe { pg_sys::has_privs_of_role(pg_sys::GetUserId(), role) }
}

/// `pg_stat_clear_snapshot()`: the next read of pg_stat_activity sees it as it is now.
pub fn clear_stats_snapshot() {
    // SAFETY: drops this backend's cached statistics snapshot.
    unsafe { pg_sys::pgstat_clear_snapshot() }
}
