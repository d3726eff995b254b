//! Settings scoped to one step of insync's work, restored afterwards: what a function's
//! `SET name = value` clause does (GUC_ACTION_SAVE inside its own nest level).

use pgrx::pg_sys;
use std::ffi::CStr;

/// Runs `f` with each `(name, value)` setting applied, then restores the caller's values.
/// An error unwinds through (sub)transaction abort, which restores them too.
pub fn with_settings<R>(settings: &[(&CStr, &CStr)], f: impl FnOnce() -> R) -> R {
    // SAFETY: the same calls fmgr_security_definer makes for a function's SET clauses.
    let nest_level = unsafe { pg_sys::NewGUCNestLevel() };
    for (name, value) in settings {
        unsafe {
            pg_sys::set_config_option(
                name.as_ptr(),
                value.as_ptr(),
                pg_sys::GucContext::PGC_USERSET,
                pg_sys::GucSource::PGC_S_SESSION,
                pg_sys::GucAction::GUC_ACTION_SAVE,
                true,
                0,
                false,
            );
        }
    }
    let result = f();
    unsafe { pg_sys::AtEOXact_GUC(true, nest_level) };
    result
}

/// Settings for insync's bulk statements (a merge, a dedup, a remap): no JIT. They are bound
/// by sorts, I/O and index maintenance, and compiling their many expressions cost far more
/// than it saved (measured: ~0.65 s of a 2 s dedup). (A larger work_mem was tried for their
/// CTEs and made no measurable difference.)
pub fn bulk<R>(f: impl FnOnce() -> R) -> R {
    with_settings(&[(c"jit", c"off")], f)
}

/// Settings for the duplicate-key check of a delete+insert target (insync's own statement over
/// the target's key columns, no user expression): group by sorting, without JIT. Hash
/// aggregation of one group per key spills and was measured ~1.7x slower than sorting
/// (PostgreSQL 15: 48 vs 28 ms for 100,000 keys, 320 vs 185 ms for 500,000), and the check
/// runs before every merge into such a target, window empty or not.
pub fn sorted_grouping<R>(f: impl FnOnce() -> R) -> R {
    with_settings(&[(c"enable_hashagg", c"off"), (c"jit", c"off")], f)
}

/// How a serial run merges on PostgreSQL (`insync.plan_style`). Greenplum-family engines
/// always merge statement-per-step (one writer per statement is all they accept).
#[derive(Debug, Clone, Copy, PartialEq, Eq, pgrx::PostgresGucEnum)]
pub enum PlanStyle {
    /// One statement per run: the window, the writes and the counts in one query.
    #[name = c"combined"]
    Combined,
    /// The window staged in a temporary table, then one statement per write.
    #[name = c"statement_per_step"]
    StatementPerStep,
}

static PLAN_STYLE: pgrx::GucSetting<PlanStyle> =
    pgrx::GucSetting::<PlanStyle>::new(PlanStyle::Combined);

/// Registers insync's settings (from `_PG_init`).
pub fn register() {
    pgrx::GucRegistry::define_enum_guc(
        c"insync.plan_style",
        c"How a serial sync run merges on PostgreSQL: combined or statement_per_step.",
        c"combined merges a window in one statement; statement_per_step stages the window in a \
temporary table and writes with one statement per step, as Greenplum-family engines always do. \
Target rows and run counts are the same either way.",
        &PLAN_STYLE,
        pgrx::GucContext::Userset,
        pgrx::GucFlags::default(),
    );
}

/// The plan style the current session asks for.
pub fn plan_style() -> PlanStyle {
    PLAN_STYLE.get()
}
