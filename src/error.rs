//! Errors users see: a SQLSTATE, a message naming the job, table or column, and a hint.

use pgrx::pg_sys::panic::ErrorReport;
use pgrx::PgSqlErrorCode;

pub type SyncResult<T> = Result<T, ErrorReport>;

/// Builds an error report; `#[pg_extern]` functions return it as `Err` and pgrx raises it.
pub fn error(code: PgSqlErrorCode, message: impl Into<String>) -> ErrorReport {
    ErrorReport::new(code, message.into(), "insync")
}

pub fn error_with_hint(
    code: PgSqlErrorCode,
    message: impl Into<String>,
    hint: impl Into<String>,
) -> ErrorReport {
    error(code, message).set_hint(hint)
}

/// Internal SPI failures (not user input): reported as internal errors with the context.
pub fn spi_error(context: &str, err: pgrx::spi::Error) -> ErrorReport {
    error(
        PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
        format!("insync: {context}: {err}"),
    )
}

pub trait SpiContext<T> {
    fn context(self, what: &str) -> SyncResult<T>;
}

impl<T> SpiContext<T> for Result<T, pgrx::spi::Error> {
    fn context(self, what: &str) -> SyncResult<T> {
        self.map_err(|e| spi_error(what, e))
    }
}

/// A required argument: NULL is refused with SQLSTATE 22004, naming the function and argument.
pub fn required<T>(value: Option<T>, function: &str, argument: &str) -> SyncResult<T> {
    value.ok_or_else(|| {
        error(
            PgSqlErrorCode::ERRCODE_NULL_VALUE_NOT_ALLOWED,
            format!("{function}: argument \"{argument}\" must not be NULL"),
        )
    })
}

/// A text[] argument whose elements may not be NULL (a NULL array stays `None`).
pub fn text_array(
    value: Option<Vec<Option<String>>>,
    function: &str,
    argument: &str,
) -> SyncResult<Option<Vec<String>>> {
    value
        .map(|items| {
            items
                .into_iter()
                .map(|item| {
                    item.ok_or_else(|| {
                        error(
                            PgSqlErrorCode::ERRCODE_NULL_VALUE_NOT_ALLOWED,
                            format!("{function}: argument \"{argument}\" must not contain NULL"),
                        )
                    })
                })
                .collect()
        })
        .transpose()
}
