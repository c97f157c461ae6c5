//! Restoring a shop from one of its backups: the only place a live shop file is replaced.
//!
//! 1. The backup is checked again (SHA-256 against its manifest, `integrity_check`, stamp, version).
//! 2. The replacement is built beside the shop file as `client_<id>.db.building` (a page copy of the
//!    backup, migrated if it is older, switched to WAL, fsynced). A crash here leaves the shop as it
//!    was; start-up removes the `.building` file.
//! 3. The shop is retired (requests get 503 `client_unavailable`) and every connection to its file
//!    closes. A connection of our own then takes the file exclusively — which fails if another
//!    process (sqlite3, Litestream, a script) has it open, and the restore stops there — copies it
//!    as the `pre-restore-…` backup (verified and published before anything changes) and
//!    checkpoints the WAL into it, so the file alone holds the old data.
//! 4. The connection closes, the sidecars are removed, and one `rename` puts the replacement in
//!    place: before it the old data is whole, after it the restored data.
//! 5. The shop is served again.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use rusqlite::Connection;
use serde::Serialize;

use super::retention::Keep;
use super::store;
use super::{BackupInfo, BackupKind, Source};
use crate::db::{self, migrations};
use crate::error::AppError;
use crate::tenancy::lifecycle::{self, DELETE_DRAIN_TIMEOUT};
use crate::tenancy::registry;
use crate::tenancy::{Tenancy, files};

/// What a restore did.
#[derive(Debug, Clone, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct RestoreReport {
    pub client_id: i64,
    pub restored: String,
    /// The backup holding the data the restore replaced.
    pub pre_restore: BackupInfo,
    /// The backup's schema version, and the version after migrating it.
    pub backup_schema_version: i64,
    pub schema_version: i64,
    /// How long the shop answered 503.
    pub unavailable_ms: u64,
}

/// Restores shop `id` from its backup `name`. See the module documentation for the steps.
pub fn restore_client(
    tenancy: &Tenancy,
    main: &Connection,
    keep: &Keep,
    id: i64,
    name: &str,
) -> Result<RestoreReport, AppError> {
    lifecycle::require_served(main, id)?;
    let _op = tenancy.file_ops.lock(id)?;
    let folder = Source::Client(id).folder(&tenancy.backup_dir);
    let (info, backup_path) = store::find(&folder, name)?
        .ok_or_else(|| AppError::not_found("backup_not_found", "this shop has no backup with that name"))?;
    store::check_before_use(&backup_path, &info, Source::Client(id))?;

    let (building, schema_version) = build_replacement(tenancy, id, &backup_path)?;

    let started = Instant::now();
    let swapped =
        tenancy.pools.retire(id, DELETE_DRAIN_TIMEOUT).and_then(|()| swap_in(tenancy, id, &building, &folder));
    tenancy.pools.reinstate(id);
    let unavailable_ms = started.elapsed().as_millis() as u64;
    let pre_restore = swapped.inspect_err(|_| {
        let _ = files::remove_family(&building);
    })?;
    registry::set_schema_version(main, id, schema_version)?;
    tenancy.directory.invalidate(id);
    let _ = store::prune(&folder, keep);
    tracing::info!(client_id = id, backup = %name, pre_restore = %pre_restore.name, unavailable_ms, "shop restored");
    crate::audit::lifecycle(
        main,
        id,
        "shop.restored",
        serde_json::json!({ "backup": name, "pre_restore": pre_restore.name, "unavailable_ms": unavailable_ms }),
    );
    Ok(RestoreReport {
        client_id: id,
        restored: name.to_string(),
        pre_restore,
        backup_schema_version: info.schema_version,
        schema_version,
        unavailable_ms,
    })
}

/// Builds shop `id`'s replacement beside its file (`client_<id>.db.building`) from a verified
/// backup; removed again if that fails. Returns its path and schema version.
fn build_replacement(tenancy: &Tenancy, id: i64, backup: &Path) -> Result<(std::path::PathBuf, i64), AppError> {
    let building = files::building_path(&tenancy.regions.dir_of(id), id);
    files::remove_family(&building)?;
    let version = prepare_replacement(backup, &building)
        .map_err(|e| AppError::Internal(e.context(format!("preparing a replacement file for client {id}"))))
        .inspect_err(|_| {
            let _ = files::remove_family(&building);
        })?;
    Ok((building, version))
}

/// Builds the replacement shop file at `building` from a verified backup. Returns its schema version.
fn prepare_replacement(backup: &Path, building: &Path) -> anyhow::Result<i64> {
    let src = store::open_untrusted(backup).context("opening the backup")?;
    let mut dst = db::copy_into_new_file(&src, building)?;
    drop(src);
    migrations::migrate_client(&mut dst).context("migrating the backup to this server's schema")?;
    crate::events::relay::renew_generation(&dst).context("starting the restored file's event outbox")?;
    let version = migrations::client_version(&dst)?;
    db::finish_new_file(dst, building, "wal")?;
    Ok(version)
}

/// With the shop retired: take the live file exclusively, keep it as the pre-restore backup, then
/// rename the replacement over it.
fn swap_in(tenancy: &Tenancy, id: i64, building: &Path, folder: &Path) -> Result<BackupInfo, AppError> {
    let live = tenancy.regions.path_of(id);
    let conn = take_exclusively(tenancy, &live)?;
    let pre = store::make_backup(&conn, folder, Source::Client(id), BackupKind::PreRestore, None)
        .map_err(|e| AppError::Internal(e.context("keeping the replaced data as a pre-restore backup")))?;
    checkpoint_fully(&conn)?;
    conn.close().map_err(|(_, e)| AppError::Internal(anyhow::Error::new(e).context("closing the shop file")))?;
    for sidecar in files::family(&live).into_iter().skip(1) {
        match std::fs::remove_file(&sidecar) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(AppError::Internal(anyhow::Error::new(e).context("removing a sidecar"))),
        }
    }
    std::fs::rename(building, &live)
        .map_err(|e| AppError::Internal(anyhow::Error::new(e).context("renaming the restored file into place")))?;
    files::sync_dir(&tenancy.regions.dir_of(id))?;
    Ok(pre)
}

/// The refusal when another process holds a shop file a whole-file operation must hold alone.
fn file_busy() -> AppError {
    AppError::conflict(
        "client_file_busy",
        "another process has this shop's file open (sqlite3, Litestream, a backup script); \
         close it and try again — nothing was changed",
    )
}

/// Opens a retired shop's live file and holds it exclusively (409 `client_file_busy` when another
/// process has it open): what a restore and a move do before touching the file.
pub(crate) fn take_exclusively(tenancy: &Tenancy, live: &Path) -> Result<Connection, AppError> {
    let conn = db::open_shop_file(live, tenancy.locking, 256, Duration::from_secs(1)).map_err(|e| {
        if is_busy(&e) {
            file_busy()
        } else {
            AppError::Internal(anyhow::Error::new(e).context(format!("opening {}", live.display())))
        }
    })?;
    conn.execute_batch("PRAGMA locking_mode = EXCLUSIVE; BEGIN EXCLUSIVE; COMMIT;").map_err(|e| {
        if is_busy(&e) {
            file_busy()
        } else {
            AppError::Internal(anyhow::Error::new(e).context("locking the shop file"))
        }
    })?;
    Ok(conn)
}

/// Checkpoints the whole WAL into the file and empties it, so the file alone holds the shop.
pub(crate) fn checkpoint_fully(conn: &Connection) -> Result<(), AppError> {
    let busy_flag: i64 = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))?;
    if busy_flag != 0 {
        return Err(file_busy());
    }
    Ok(())
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(e.sqlite_error_code(), Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked))
}

/// What repairing a missing or damaged shop file did.
#[derive(Debug, Clone, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct RepairReport {
    pub client_id: i64,
    /// The backup the shop now holds (its newest that still passes every check); null when the
    /// file turned out whole (a repair queued twice, say) and nothing was changed.
    pub restored: Option<String>,
    pub schema_version: i64,
    /// Where the damaged file was moved (under `<data>/orphans/`), if there was one.
    pub damaged_moved_to: Option<String>,
}

/// Puts shop `id` back from its newest verified backup when its file is missing or damaged
/// (`vergeflow doctor --repair`). Unlike [`restore_client`] the current file is not copied first
/// (it cannot be read); it is moved aside to `<data>/orphans/`, kept for inspection. A crash
/// between moving it and renaming the replacement leaves the shop missing, which the next repair
/// mends the same way.
pub fn restore_damaged(tenancy: &Tenancy, main: &Connection, id: i64) -> Result<RepairReport, AppError> {
    lifecycle::require_served(main, id)?;
    let _op = tenancy.file_ops.lock(id)?;
    // Looked at again under the lock: a whole file is never replaced by an older backup.
    let live = tenancy.regions.path_of(id);
    if live.exists() && crate::tenancy::template::verify_file(&live, tenancy.locking, id).is_ok() {
        let version = registry::find(main, id)?.map_or(0, |c| c.schema_version);
        return Ok(RepairReport { client_id: id, restored: None, schema_version: version, damaged_moved_to: None });
    }
    let folder = Source::Client(id).folder(&tenancy.backup_dir);
    let backups = store::list(&folder).map_err(AppError::Internal)?;
    let mut chosen = None;
    for info in backups {
        let Some((info, path)) = store::find(&folder, &info.name).map_err(AppError::Internal)? else { continue };
        match store::check_before_use(&path, &info, Source::Client(id)) {
            Ok(()) => {
                chosen = Some((info, path));
                break;
            }
            Err(e) => tracing::warn!(client_id = id, backup = %info.name, error = %e, "skipping a damaged backup"),
        }
    }
    let Some((info, backup_path)) = chosen else {
        return Err(AppError::conflict(
            "no_verified_backup",
            format!("shop {id} has no backup that passes its checks; nothing was changed"),
        ));
    };
    let (building, schema_version) = build_replacement(tenancy, id, &backup_path)?;
    let swapped = tenancy.pools.retire(id, DELETE_DRAIN_TIMEOUT).and_then(|()| {
        let mut moved = None;
        for p in files::family(&live).into_iter().filter(|p| p.exists()) {
            let to = files::move_aside(&tenancy.regions.dir_of(id), &p)?;
            if p == live {
                moved = Some(to.display().to_string());
            }
        }
        std::fs::rename(&building, &live)
            .map_err(|e| AppError::Internal(anyhow::Error::new(e).context("renaming the repaired file into place")))?;
        files::sync_dir(&tenancy.regions.dir_of(id))?;
        Ok(moved)
    });
    tenancy.pools.reinstate(id);
    let damaged_moved_to = swapped.inspect_err(|_| {
        let _ = files::remove_family(&building);
    })?;
    registry::set_schema_version(main, id, schema_version)?;
    tenancy.directory.invalidate(id);
    tracing::warn!(client_id = id, backup = %info.name, ?damaged_moved_to, "shop repaired from its newest verified backup");
    crate::audit::lifecycle(
        main,
        id,
        "shop.restored",
        serde_json::json!({ "backup": info.name, "repair": true, "damaged_moved_to": damaged_moved_to }),
    );
    Ok(RepairReport { client_id: id, restored: Some(info.name), schema_version, damaged_moved_to })
}
