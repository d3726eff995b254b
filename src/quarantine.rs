//! restore_quarantine: undo a dedup_table or remap_dimension batch exactly, or not at all.

use crate::catalog::as_catalog_owner;
use crate::error::{error_with_hint, SpiContext, SyncResult};
use crate::plan::quarantine::{reinsert_before_images, remove_after_images};
use crate::resolve::{self, columns_of};
use pgrx::prelude::*;
use pgrx::{pg_sys, PgSqlErrorCode};

/// Puts a quarantined batch back; returns the rows restored.
pub fn restore(batch_id: i64) -> SyncResult<i64> {
    let table = Spi::get_one_with_args::<pg_sys::Oid>(
        "SELECT (SELECT table_oid::oid FROM insync.quarantine WHERE batch_id = $1 AND restored_at IS NULL LIMIT 1)",
        &[batch_id.into()],
    )
    .context("reading insync.quarantine")?
    .ok_or_else(|| {
        error_with_hint(
            PgSqlErrorCode::ERRCODE_UNDEFINED_OBJECT,
            format!("quarantine batch {batch_id} does not exist or has already been restored"),
            "SELECT batch_id, table_name, count(*) FROM insync.quarantine WHERE restored_at IS NULL GROUP BY 1, 2 lists batches you can restore.",
        )
    })?;
    let info = resolve::relation_info_named(table, "restore_quarantine")?;
    let (recorded, matched) = Spi::connect_mut(|client| {
        let row = client
            .update(
                remove_after_images(&info.relation).as_str(),
                None,
                &[batch_id.into()],
            )?
            .first();
        Ok::<_, pgrx::spi::Error>((
            row.get::<i64>(1)?.unwrap_or(0),
            row.get::<i64>(2)?.unwrap_or(0),
        ))
    })
    .context("removing the batch's after-images")?;
    if recorded != matched {
        return Err(error_with_hint(
            PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            format!(
                "cannot restore quarantine batch {batch_id} exactly: {recorded} rows it changed in {} now match {matched} rows",
                info.display()
            ),
            "Rows were changed (or copied) after the batch ran; nothing was restored.",
        ));
    }
    let columns: Vec<String> = columns_of(table)?
        .into_iter()
        .filter(|c| !c.generated)
        .map(|c| c.name)
        .collect();
    let sql = reinsert_before_images(&info.relation, &columns);
    let restored = Spi::connect_mut(|client| {
        client
            .update(sql.as_str(), None, &[batch_id.into()])
            .map(|r| r.len() as i64)
    })
    .context("restoring the batch")?;
    as_catalog_owner(|| {
        Spi::run_with_args(
            "UPDATE insync.quarantine SET restored_at = now() WHERE batch_id = $1 AND restored_at IS NULL",
            &[batch_id.into()],
        )
        .context("marking the batch restored")
    })?;
    Ok(restored)
}
