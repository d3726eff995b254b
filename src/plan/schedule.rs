//! The pg_cron entry that keeps a job on its schedule: its name and the command it runs. Pure
//! text, so the exact SQL pg_cron is handed is unit-tested (every name quoted, the job name a
//! literal); the schedule text itself is never parsed here — pg_cron judges it.

use super::{quote_ident, quote_literal};

/// pg_cron 1.4 keeps entry names in a `name` column: at most 63 bytes.
pub const MAX_ENTRY_NAME_BYTES: usize = 63;

/// The pg_cron entry of a job: `insync:<job name>`, one per job, owned by the job's owner.
pub fn entry_name(job: &str) -> String {
    format!("insync:{job}")
}

/// Whether the entry name of `job` fits pg_cron's `name` column (it would be truncated, and
/// two jobs could then share an entry).
pub fn entry_name_fits(job: &str) -> bool {
    entry_name(job).len() <= MAX_ENTRY_NAME_BYTES
}

/// What the entry runs: the extension's own function, schema-qualified (the owner's session
/// under pg_cron has the owner's search_path), with the job name as a literal.
pub fn entry_command(extension_schema: &str, job: &str) -> String {
    format!(
        "SELECT * FROM {}.sync_run_scheduled({})",
        quote_ident(extension_schema),
        quote_literal(job)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_is_named_after_the_job() {
        assert_eq!(entry_name("orders"), "insync:orders");
        assert!(entry_name_fits(&"x".repeat(56)));
        assert!(!entry_name_fits(&"x".repeat(57)));
        // Bytes, not characters: pg_cron truncates bytes.
        assert!(!entry_name_fits(&"é".repeat(29)));
    }

    #[test]
    fn command_quotes_the_schema_and_the_job_name() {
        assert_eq!(
            entry_command("public", "orders"),
            "SELECT * FROM \"public\".sync_run_scheduled('orders')"
        );
        assert_eq!(
            entry_command("My \"Schema\"", "it's; DROP TABLE x; --"),
            "SELECT * FROM \"My \"\"Schema\"\"\".sync_run_scheduled('it''s; DROP TABLE x; --')"
        );
        assert_eq!(
            entry_command("public", "a\\b"),
            "SELECT * FROM \"public\".sync_run_scheduled(E'a\\\\b')"
        );
    }
}
