//! Who runs what. A job's statements (and a table touched by dedup or remap) run as the
//! object's owner inside a security-restricted operation, the way PostgreSQL's own `VACUUM`
//! and `REFRESH MATERIALIZED VIEW` switch to the table owner; insync's catalog writes run as
//! the extension owner. Either way the step runs under [`SAFE_SETTINGS`], so no name in
//! insync's SQL can resolve to an object a user planted in a schema on their search_path.

use crate::error::{error, error_with_hint, SpiContext, SyncResult};
use pgrx::prelude::*;
use pgrx::{pg_sys, PgSqlErrorCode};
use std::ffi::CStr;

/// Settings every step insync runs under a switched identity gets: functions and operators
/// resolve in `pg_catalog` only (pg_temp is never searched for them), and string literals
/// mean the same whatever the session's `standard_conforming_strings` says.
pub const SAFE_SETTINGS: &[(&CStr, &CStr)] = &[
    (c"search_path", c"pg_catalog, pg_temp"),
    (c"standard_conforming_strings", c"on"),
];

/// The same settings as text, for segment workers that apply them with `set_config`.
pub fn safe_settings_text() -> Vec<(String, String)> {
    SAFE_SETTINGS
        .iter()
        .map(|(n, v)| {
            (
                n.to_string_lossy().into_owned(),
                v.to_string_lossy().into_owned(),
            )
        })
        .collect()
}

/// Runs `f` as `role` in a security-restricted operation under [`SAFE_SETTINGS`], then
/// restores the caller's identity and settings. Inside, user code (a trigger, a view, a
/// filter's function) can neither change role nor leave anything behind that outlives the
/// operation (temp tables, held cursors). An error unwinds through (sub)transaction abort,
/// which restores both as well.
pub fn as_role<R>(role: pg_sys::Oid, f: impl FnOnce() -> R) -> R {
    let mut saved_user = pg_sys::Oid::INVALID;
    let mut saved_context = 0;
    // SAFETY: the calls fmgr_security_definer and ExecRefreshMatView make.
    unsafe { pg_sys::GetUserIdAndSecContext(&mut saved_user, &mut saved_context) };
    crate::settings::with_settings(SAFE_SETTINGS, || {
        unsafe {
            pg_sys::SetUserIdAndSecContext(
                role,
                saved_context
                    | pg_sys::SECURITY_LOCAL_USERID_CHANGE as i32
                    | pg_sys::SECURITY_RESTRICTED_OPERATION as i32,
            );
        }
        let result = f();
        unsafe { pg_sys::SetUserIdAndSecContext(saved_user, saved_context) };
        result
    })
}

/// Runs `f` with the current user but outside the security-restricted operation [`as_role`]
/// entered, then restores it. Only for insync's own statements that PostgreSQL refuses inside
/// one and that evaluate no user expression (creating a run's staging table, see
/// `merge::run_steps`), the way `REFRESH MATERIALIZED VIEW CONCURRENTLY` creates its diff table.
pub fn without_restriction<R>(f: impl FnOnce() -> R) -> R {
    let mut user = pg_sys::Oid::INVALID;
    let mut context = 0;
    // SAFETY: the calls refresh_by_match_merge makes around its CREATE TEMP TABLE.
    unsafe {
        pg_sys::GetUserIdAndSecContext(&mut user, &mut context);
        pg_sys::SetUserIdAndSecContext(
            user,
            (context & !(pg_sys::SECURITY_RESTRICTED_OPERATION as i32))
                | pg_sys::SECURITY_LOCAL_USERID_CHANGE as i32,
        );
    }
    let result = f();
    unsafe { pg_sys::SetUserIdAndSecContext(user, context) };
    result
}

/// Whether the current user has the privileges of `role` (its member with INHERIT, or a
/// superuser): who may see, run, alter or drop a job that `role` owns.
pub fn is_member_of(role: pg_sys::Oid) -> SyncResult<bool> {
    Ok(crate::backend::has_privileges_of(role))
}

/// The owner of a relation.
pub fn relation_owner(rel: pg_sys::Oid) -> SyncResult<pg_sys::Oid> {
    Spi::get_one_with_args::<pg_sys::Oid>(
        "SELECT relowner FROM pg_catalog.pg_class WHERE oid = $1",
        &[rel.into()],
    )
    .context("reading the relation's owner")?
    .ok_or_else(|| {
        error(
            PgSqlErrorCode::ERRCODE_UNDEFINED_TABLE,
            format!("relation with OID {} does not exist", rel.to_u32()),
        )
    })
}

/// A maintenance function (dedup, remap, restore) acts on a table as its owner after
/// checking the caller's own privileges; row-level security would then no longer filter what
/// the caller touches, so a caller subject to it is refused instead.
pub fn refuse_row_security(rel: pg_sys::Oid, display: &str, function: &str) -> SyncResult<()> {
    let subject = Spi::get_one_with_args::<bool>(
        "SELECT c.relrowsecurity AND NOT pg_catalog.pg_has_role(c.relowner, 'USAGE') \
                AND NOT (SELECT r.rolbypassrls FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) current_user) \
           FROM pg_catalog.pg_class c WHERE c.oid = $1",
        &[rel.into()],
    )
    .context("reading the table's row security")?
    .unwrap_or(false);
    if subject {
        Err(error_with_hint(
            PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
            format!("{function}: {display} has row-level security that applies to you"),
            "Call it as the table's owner (or a role with BYPASSRLS): it acts on every row of the table.",
        ))
    } else {
        Ok(())
    }
}

thread_local! {
    /// The caller's search_path while an insync function runs under [`SAFE_SETTINGS`]: only
    /// the names a user typed (`'ods.customer'`, or `'customer'` on their path) resolve with it.
    static CALLER_SEARCH_PATH: std::cell::RefCell<Option<std::ffi::CString>> =
        const { std::cell::RefCell::new(None) };
}

/// Runs an SQL-callable function's body under [`SAFE_SETTINGS`], so no statement insync
/// issues as the caller resolves a planted function or operator either. The caller's
/// search_path is kept aside for [`with_caller_search_path`].
pub fn entry<R>(f: impl FnOnce() -> R) -> R {
    // SAFETY: reading a GUC's current value; the copy is ours.
    let path = unsafe {
        let value =
            pg_sys::GetConfigOptionByName(c"search_path".as_ptr(), std::ptr::null_mut(), false);
        std::ffi::CStr::from_ptr(value).to_owned()
    };
    let previous = CALLER_SEARCH_PATH.with(|p| p.replace(Some(path)));
    let result = crate::settings::with_settings(SAFE_SETTINGS, f);
    CALLER_SEARCH_PATH.with(|p| p.replace(previous));
    result
}

/// Resolves a name the user typed with the user's own search_path (a catalog lookup: no
/// user code runs during it).
pub fn with_caller_search_path<R>(f: impl FnOnce() -> R) -> R {
    match CALLER_SEARCH_PATH.with(|p| p.borrow().clone()) {
        Some(path) => crate::settings::with_settings(&[(c"search_path", path.as_c_str())], f),
        None => f(),
    }
}
