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

/// `timestamptz` input: microseconds since 2000-01-01 UTC of an instant's text, or `None`
/// for ±infinity (which has no ISO form).
pub fn timestamptz_micros(text: &str) -> Option<i64> {
    let text = std::ffi::CString::new(text).ok()?;
    // SAFETY: the type's input function, as a cast would call it; bad text raises an ERROR.
    let micros = unsafe {
        pg_sys::OidInputFunctionCall(
            pg_sys::Oid::from(pg_sys::F_TIMESTAMPTZ_IN),
            text.as_ptr() as *mut _,
            pg_sys::Oid::INVALID,
            -1,
        )
    }
    .value() as i64;
    (micros != i64::MIN && micros != i64::MAX).then_some(micros)
}

/// The clock (`clock_timestamp()`), in microseconds since 2000-01-01 UTC.
pub fn now_micros() -> i64 {
    // SAFETY: reads the system clock.
    unsafe { pg_sys::GetCurrentTimestamp() }
}

/// The earliest transaction start among this database's other backends (autovacuum workers
/// aside), with its pid: what `pg_stat_activity` shows, read fresh and without its
/// visibility rules (it hides other roles' `xact_start` from ordinary roles).
pub fn earliest_other_transaction() -> Option<(i64, i32)> {
    let mut earliest: Option<(i64, i32)> = None;
    // SAFETY: the backend status array is copied into this backend's snapshot (cleared
    // first, so it is read now) and each entry read from that copy.
    unsafe {
        pg_sys::pgstat_clear_snapshot();
        for id in 1..=pg_sys::pgstat_fetch_stat_numbackends() {
            let local = pg_sys::pgstat_fetch_stat_local_beentry(id);
            if local.is_null() {
                continue;
            }
            let status = &(*local).backendStatus;
            let started = status.st_xact_start_timestamp;
            if status.st_procpid == pg_sys::MyProcPid
                || status.st_databaseid != pg_sys::MyDatabaseId
                || started == 0
                || status.st_backendType == pg_sys::BackendType::B_AUTOVAC_WORKER
            {
                continue;
            }
            if earliest.is_none_or(|(first, _)| started < first) {
                earliest = Some((started, status.st_procpid));
            }
        }
    }
    earliest
}

/// Rows this transaction inserted into, updated in and deleted from `relation` so far (its
/// transaction statistics, subtransactions included: `pg_stat_get_xact_tuples_*`), or `None`
/// when the server does not count them (`track_counts` off).
pub fn xact_rows_written(relation: pg_sys::Oid) -> Option<(i64, i64, i64)> {
    // SAFETY: a GUC variable, and the two statistics functions called as SQL would.
    unsafe {
        if !pg_sys::pgstat_track_counts {
            return None;
        }
        let count = |function: u32| {
            pg_sys::OidFunctionCall1Coll(
                pg_sys::Oid::from(function),
                pg_sys::Oid::INVALID,
                pg_sys::Datum::from(relation),
            )
            .value() as i64
        };
        Some((
            count(pg_sys::F_PG_STAT_GET_XACT_TUPLES_INSERTED),
            count(pg_sys::F_PG_STAT_GET_XACT_TUPLES_UPDATED),
            count(pg_sys::F_PG_STAT_GET_XACT_TUPLES_DELETED),
        ))
    }
}
