//! Moving one shop's file to another region (see the module documentation of `regions`).

use std::path::Path;
use std::time::Instant;

use anyhow::Context as _;
use rusqlite::Connection;
use serde::{Deserialize, Serialize};

use crate::backups::swap::{checkpoint_fully, take_exclusively};
use crate::db;
use crate::error::AppError;
use crate::tenancy::lifecycle::{self, DELETE_DRAIN_TIMEOUT, unknown_region};
use crate::tenancy::{Tenancy, files};

/// What a move did.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct MoveReport {
    pub client_id: i64,
    /// The region left and the region now holding the file (null: the data folder).
    pub from: Option<String>,
    pub to: Option<String>,
    /// The shop already lived there; nothing was done.
    pub already_there: bool,
    pub size_bytes: u64,
    /// How long the shop answered 503.
    pub unavailable_ms: u64,
}

/// Moves shop `id`'s file to `to` (`None`: the data folder). Safe to run again after a crash: a
/// shop already in `to` is reported as such.
pub fn move_client(tenancy: &Tenancy, main: &Connection, id: i64, to: Option<&str>) -> Result<MoveReport, AppError> {
    let to_dir = tenancy.regions.dir(to).ok_or_else(|| unknown_region(&tenancy.regions))?.to_path_buf();
    lifecycle::require_served(main, id)?;
    let _op = tenancy.file_ops.lock(id)?;
    let client = lifecycle::require_served(main, id)?;
    let from = client.region.clone();
    let done = |already_there, size_bytes, unavailable_ms| MoveReport {
        client_id: id,
        from: from.clone(),
        to: to.map(str::to_string),
        already_there,
        size_bytes,
        unavailable_ms,
    };
    if from.as_deref() == to {
        return Ok(done(true, 0, 0));
    }
    let from_dir = tenancy.regions.dir_of(id);
    let live = files::client_path(&from_dir, id);
    let (building, target) = (files::building_path(&to_dir, id), files::client_path(&to_dir, id));
    // Nothing of this shop may be in the target folder but what this move writes.
    files::remove_family(&building)?;
    files::remove_family(&target)?;

    let started = Instant::now();
    let mut switched = false;
    let moved = tenancy.pools.retire(id, DELETE_DRAIN_TIMEOUT).and_then(|()| {
        let conn = take_exclusively(tenancy, &live)?;
        checkpoint_fully(&conn)?;
        let size_bytes = copy_and_verify(&conn, &building, id)
            .map_err(|e| AppError::Internal(e.context(format!("copying client {id} to {}", to_dir.display()))))?;
        std::fs::rename(&building, &target).context("renaming the copy into place")?;
        files::sync_dir(&to_dir)?;
        // The switch: from here on the registry names the new folder.
        main.execute(
            "UPDATE clients SET region = ?2, updated_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') WHERE id = ?1",
            rusqlite::params![id, to],
        )?;
        switched = true;
        tenancy.regions.place(id, to)?;
        conn.close().map_err(|(_, e)| anyhow::Error::new(e).context("closing the old file"))?;
        files::remove_family(&live)?;
        Ok(size_bytes)
    });
    if !switched {
        let _ = files::remove_family(&building);
        let _ = files::remove_family(&target);
    }
    tenancy.pools.reinstate(id);
    tenancy.directory.invalidate(id);
    let unavailable_ms = started.elapsed().as_millis() as u64;
    let size_bytes = moved?;
    tracing::info!(client_id = id, ?from, ?to, size_bytes, unavailable_ms, "shop moved to another region");
    crate::audit::lifecycle(
        main,
        id,
        "shop.moved",
        serde_json::json!({ "from": from, "to": to, "size_bytes": size_bytes, "unavailable_ms": unavailable_ms }),
    );
    Ok(done(false, size_bytes, unavailable_ms))
}

/// Page-copies `src` to `building`, checks the copy against it and finishes it as a WAL shop file
/// (fsynced). Returns its size.
fn copy_and_verify(src: &Connection, building: &Path, id: i64) -> anyhow::Result<u64> {
    let dst = db::copy_into_new_file(src, building)?;
    let check: String = dst.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
    anyhow::ensure!(check == "ok", "the copy fails integrity_check: {check}");
    let stamp: i64 = dst.query_row("SELECT client_id FROM shop WHERE id = 1", [], |r| r.get(0))?;
    anyhow::ensure!(stamp == id, "the copy is stamped for client {stamp}");
    let pages = |c: &Connection| c.query_row("PRAGMA page_count", [], |r| r.get::<_, i64>(0));
    anyhow::ensure!(pages(src)? == pages(&dst)?, "the copy has {} pages, the shop {}", pages(&dst)?, pages(src)?);
    let tables: Vec<String> = src
        .prepare(
            "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'
             AND sql NOT LIKE 'CREATE VIRTUAL TABLE%' ORDER BY name",
        )?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for table in &tables {
        let sql = format!("SELECT COUNT(*) FROM \"{}\"", table.replace('"', "\"\""));
        let (a, b): (i64, i64) = (src.query_row(&sql, [], |r| r.get(0))?, dst.query_row(&sql, [], |r| r.get(0))?);
        anyhow::ensure!(a == b, "table {table}: {b} rows in the copy, {a} in the shop");
    }
    db::finish_new_file(dst, building, "wal")?;
    Ok(std::fs::metadata(building)?.len())
}
