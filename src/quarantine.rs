//! The quarantine: batches opened for dedup_table and remap_dimension, and
//! restore_quarantine, which undoes a batch exactly or not at all.

use crate::catalog::as_catalog_owner;
use crate::error::{error, error_with_hint, SpiContext, SyncResult};
use crate::plan::quarantine::{
    reinsert_before_images, remove_after_images, restore_remapped_values,
};
use crate::resolve::{self, columns_of};
use crate::security::{as_role, refuse_row_security, relation_owner};
use crate::subxact::{in_subtransaction, report_of, reworded};
use pgrx::prelude::*;
use pgrx::{pg_sys, PgSqlErrorCode};

/// Opens a quarantine batch for `table` in this transaction, in the caller's name: a new one,
/// or `batch` when the caller opened it earlier (a batched remap spans transactions and
/// partitions). Only then can the statement that removes rows quarantine them.
pub fn open_batch(batch: Option<i64>, table: pg_sys::Oid, function: &str) -> SyncResult<i64> {
    let caller = unsafe { pg_sys::GetUserId() };
    if let Some(batch) = batch {
        let foreign = as_catalog_owner(|| {
            Spi::get_one_with_args::<bool>(
                "SELECT NOT EXISTS (SELECT FROM insync.quarantine_batches WHERE batch_id = $1) \
                     OR EXISTS (SELECT FROM insync.quarantine_batches WHERE batch_id = $1 \
                                   AND opened_by <> $2::oid::regrole)",
                &[batch.into(), caller.into()],
            )
            .context("reading insync.quarantine_batches")
        })?
        .unwrap_or(true);
        if foreign {
            return Err(error_with_hint(
                PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
                format!("{function}: quarantine batch {batch} is not one you opened"),
                "Leave batch_id NULL: a new batch is opened for the call.",
            ));
        }
    }
    as_catalog_owner(|| {
        Spi::get_one_with_args::<i64>(
            "INSERT INTO insync.quarantine_batches (batch_id, table_oid, opened_by, opened_in) \
             VALUES (coalesce($1, nextval('insync.quarantine_batch_seq')), $2::oid::regclass, $3::oid::regrole, \
                     pg_current_xact_id()) \
             ON CONFLICT (batch_id, table_oid) DO UPDATE SET opened_in = EXCLUDED.opened_in, opened_at = now() \
             RETURNING batch_id",
            &[batch.into(), table.into(), caller.into()],
        )
        .context("opening a quarantine batch")
    })?
    .ok_or_else(|| {
        error(
            PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
            "opening a quarantine batch returned no id",
        )
    })
}

/// Puts a quarantined batch back into the tables it came from; returns the rows restored.
/// The caller must see the batch and hold on each table INSERT for whole rows, DELETE to take
/// a remap's rewritten rows out, UPDATE to put a slim remap's old values back; the rows are
/// then written as the table's owner.
pub fn restore(batch_id: i64) -> SyncResult<i64> {
    // Read as the caller: the quarantine shows each role the batches it may restore.
    let tables = Spi::get_one_with_args::<Vec<pg_sys::Oid>>(
        "SELECT pg_catalog.array_agg(DISTINCT q.table_oid::pg_catalog.oid) FROM insync.quarantine q \
          WHERE q.batch_id OPERATOR(pg_catalog.=) $1 AND q.restored_at IS NULL",
        &[batch_id.into()],
    )
    .context("reading insync.quarantine")?
    .unwrap_or_default();
    if tables.is_empty() {
        return Err(error_with_hint(
            PgSqlErrorCode::ERRCODE_UNDEFINED_OBJECT,
            format!("quarantine batch {batch_id} does not exist or has already been restored"),
            "SELECT batch_id, table_name, count(*) FROM insync.quarantine WHERE restored_at IS NULL GROUP BY 1, 2 lists batches you can restore.",
        ));
    }
    let mut restored = 0;
    for table in tables {
        restored += restore_into(batch_id, table)?;
    }
    as_catalog_owner(|| {
        Spi::run_with_args(
            "UPDATE insync.quarantine SET restored_at = now() WHERE batch_id = $1 AND restored_at IS NULL",
            &[batch_id.into()],
        )
        .context("marking the batch restored")
    })?;
    Ok(restored)
}

/// Restores the rows of one batch that came from `table`.
fn restore_into(batch_id: i64, table: pg_sys::Oid) -> SyncResult<i64> {
    let info = resolve::relation_info_named(table, "restore_quarantine")?;
    // What the batch holds for this table: whole rows (dedup, merges, tables without a row
    // key), rows a remap rewrote (deleted before their images go back), and slim remap
    // entries (a row key and the old value of one column, put back by UPDATE).
    let (whole, rewrote, slim) = Spi::connect(|client| {
        let row = client
            .select(
                "SELECT pg_catalog.bool_or(q.row_keys IS NULL), \
                        pg_catalog.bool_or(q.row_keys IS NULL AND (q.after_data IS NOT NULL OR q.changed_column IS NOT NULL)), \
                        pg_catalog.bool_or(q.row_keys IS NOT NULL) \
                   FROM insync.quarantine q WHERE q.batch_id OPERATOR(pg_catalog.=) $1 \
                    AND q.table_oid OPERATOR(pg_catalog.=) $2::pg_catalog.oid::pg_catalog.regclass AND q.restored_at IS NULL",
                None,
                &[batch_id.into(), table.into()],
            )?
            .first();
        Ok::<_, pgrx::spi::Error>((
            row.get::<bool>(1)?.unwrap_or(false),
            row.get::<bool>(2)?.unwrap_or(false),
            row.get::<bool>(3)?.unwrap_or(false),
        ))
    })
    .context("reading insync.quarantine")?;
    // Each slim entry's column and row key (a batch may span several remap calls).
    let slim_kinds: Vec<(String, Vec<String>)> = if slim {
        Spi::connect(|client| {
            client
                .select(
                    "SELECT DISTINCT q.changed_column, q.row_key_columns FROM insync.quarantine q \
                      WHERE q.batch_id OPERATOR(pg_catalog.=) $1 \
                        AND q.table_oid OPERATOR(pg_catalog.=) $2::pg_catalog.oid::pg_catalog.regclass \
                        AND q.restored_at IS NULL AND q.row_keys IS NOT NULL",
                    None,
                    &[batch_id.into(), table.into()],
                )?
                .map(|r| {
                    Ok((
                        r.get::<String>(1)?.unwrap_or_default(),
                        r.get::<Vec<String>>(2)?.unwrap_or_default(),
                    ))
                })
                .collect::<Result<Vec<_>, pgrx::spi::Error>>()
        })
        .context("reading insync.quarantine")?
    } else {
        vec![]
    };
    let mut needed: Vec<&str> = vec![];
    if whole {
        needed.push("INSERT");
    }
    if rewrote {
        needed.push("DELETE");
    }
    if slim {
        needed.push("UPDATE");
    }
    for &privilege in &needed {
        if !resolve::has_table_privilege(table, privilege)? {
            return Err(error_with_hint(
                PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
                format!(
                    "permission denied to restore quarantine batch {batch_id} into {} (needs {privilege})",
                    info.display()
                ),
                "A batch goes back only into the table it came from, by a role that may write it.",
            ));
        }
    }
    refuse_row_security(table, &info.display(), "restore_quarantine")?;
    let owner = relation_owner(table)?;
    let all_columns = columns_of(table)?;
    // Names read from the quarantine go into SQL only if they are the table's columns now.
    let is_column = |name: &str| all_columns.iter().any(|c| c.name == name);
    for (column, key) in &slim_kinds {
        if !is_column(column) || key.is_empty() || !key.iter().all(|k| is_column(k)) {
            return Err(error_with_hint(
                PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                format!(
                    "cannot restore quarantine batch {batch_id} exactly: {} no longer has the columns {} (row key {})",
                    info.display(),
                    column,
                    key.join(", ")
                ),
                "The table was altered after the batch ran; nothing was restored.",
            ));
        }
    }
    let columns: Vec<String> = all_columns
        .into_iter()
        .filter(|c| !c.generated)
        .map(|c| c.name)
        .collect();
    let not_exact = |recorded: i64, matched: i64| {
        error_with_hint(
            PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            format!(
                "cannot restore quarantine batch {batch_id} exactly: {recorded} rows it changed in {} now match {matched} rows",
                info.display()
            ),
            "Rows were changed (or copied) after the batch ran; nothing was restored.",
        )
    };
    as_role(owner, || {
        let mut restored = 0;
        if whole {
            restored += restore_whole_rows(batch_id, table, &info, &columns, not_exact)?;
        }
        // After the whole rows: a row remapped and then merged in one batch is back under its
        // remapped value by now, and takes its first value here.
        for (column, key) in &slim_kinds {
            let (recorded, matched) = Spi::connect_mut(|client| {
                let row = client
                    .update(
                        restore_remapped_values(&info.relation, column, key).as_str(),
                        None,
                        &[batch_id.into(), table.into()],
                    )?
                    .first();
                Ok::<_, pgrx::spi::Error>((
                    row.get::<i64>(1)?.unwrap_or(0),
                    row.get::<i64>(2)?.unwrap_or(0),
                ))
            })
            .context("restoring the batch's remapped values")?;
            if recorded != matched {
                return Err(not_exact(recorded, matched));
            }
            restored += matched;
        }
        Ok(restored)
    })
}

/// Deletes the rows a batch rewrote and puts its whole before-images back.
fn restore_whole_rows(
    batch_id: i64,
    table: pg_sys::Oid,
    info: &resolve::RelationInfo,
    columns: &[String],
    not_exact: impl Fn(i64, i64) -> pgrx::pg_sys::panic::ErrorReport,
) -> SyncResult<i64> {
    let (recorded, matched) = Spi::connect_mut(|client| {
        let row = client
            .update(
                remove_after_images(&info.relation).as_str(),
                None,
                &[batch_id.into(), table.into()],
            )?
            .first();
        Ok::<_, pgrx::spi::Error>((
            row.get::<i64>(1)?.unwrap_or(0),
            row.get::<i64>(2)?.unwrap_or(0),
        ))
    })
    .context("removing the batch's after-images")?;
    if recorded != matched {
        return Err(not_exact(recorded, matched));
    }
    let sql = reinsert_before_images(&info.relation, columns, &crate::resolve::detect_dialect()?);
    let reinserted = in_subtransaction(move || {
        Spi::connect_mut(|client| {
            client
                .update(sql.as_str(), None, &[batch_id.into(), table.into()])
                .map(|r| r.len() as i64)
        })
    });
    match reinserted {
        Ok(rows) => rows.context("restoring the batch"),
        // A row with the same key arrived after the batch ran (or a unique index now
        // forbids the copies): say which batch and table, keep Postgres' detail.
        Err(caught)
            if report_of(&caught).sql_error_code() == PgSqlErrorCode::ERRCODE_UNIQUE_VIOLATION =>
        {
            Err(reworded(
                &caught,
                format!(
                    "cannot restore quarantine batch {batch_id} into {}: {}",
                    info.display(),
                    report_of(&caught).message()
                ),
            )
            .set_hint(
                "A row with that key is in the table now, or a unique index forbids the copies the batch removed; remove the row or drop the index, then restore again. Nothing was restored.",
            ))
        }
        Err(caught) => caught.rethrow(),
    }
}
