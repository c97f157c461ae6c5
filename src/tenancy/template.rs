//! A pre-migrated, in-memory shop schema that new shop files are copied from with SQLite's backup API.

use std::path::Path;

use anyhow::{Context as _, bail};
use parking_lot::Mutex;
use rusqlite::Connection;

use super::files;
use crate::db::{self, migrations};

/// The migrated client schema, kept in memory so provisioning is a page copy, not a migration run.
pub struct ClientTemplate {
    conn: Mutex<Connection>,
    version: i64,
}

impl ClientTemplate {
    pub fn new() -> anyhow::Result<Self> {
        let mut conn = Connection::open_in_memory().context("opening the in-memory template")?;
        migrations::migrate_client(&mut conn).context("migrating the shop template")?;
        let version = migrations::client_version(&conn)?;
        Ok(Self { conn: Mutex::new(conn), version })
    }

    pub fn version(&self) -> i64 {
        self.version
    }

    /// Builds `client_<id>.db`: copy the template to `client_<id>.db.building`, stamp it with the
    /// client id, check its migrations, close, fsync, then rename into place. Never replaces an
    /// existing shop file. Returns the file's schema version.
    pub fn build_file(&self, data_dir: &Path, client_id: i64) -> anyhow::Result<i64> {
        let building = files::building_path(data_dir, client_id);
        let target = files::client_path(data_dir, client_id);
        if target.exists() {
            bail!("{} already exists; refusing to replace a shop file", target.display());
        }
        files::remove_family(&building)?;
        let version = {
            // No journal and no syncing while building; fsynced once, as WAL, before the rename.
            let mut dst = db::copy_into_new_file(&self.conn.lock(), &building).context("copying the shop template")?;
            dst.execute("INSERT INTO shop (id, client_id) VALUES (1, ?1)", [client_id])
                .context("stamping the shop file with its client id")?;
            migrations::migrate_client(&mut dst).context("checking the new shop file's migrations")?;
            let version = migrations::client_version(&dst)?;
            db::finish_new_file(dst, &building, "wal")?;
            version
        };
        // Leftover sidecars under the final name must never be applied to the new file.
        for sidecar in files::family(&target).into_iter().skip(1) {
            if sidecar.exists() {
                let moved = files::move_aside(data_dir, &sidecar)?;
                tracing::warn!(client_id, from = %sidecar.display(), to = %moved.display(), "moved a stray sidecar aside before provisioning");
            }
        }
        std::fs::rename(&building, &target).with_context(|| format!("renaming {} into place", building.display()))?;
        files::sync_dir(data_dir)?;
        Ok(version)
    }
}

/// Checks that a shop file opens, says it belongs to `client_id` and passes `quick_check`.
pub fn verify_file(path: &Path, locking: db::ShopLocking, client_id: i64) -> anyhow::Result<()> {
    let conn = db::open_shop_file(path, locking, 256, db::BUSY_TIMEOUT)
        .with_context(|| format!("opening {}", path.display()))?;
    let owner: i64 = conn
        .query_row("SELECT client_id FROM shop WHERE id = 1", [], |r| r.get(0))
        .context("reading the shop stamp")?;
    if owner != client_id {
        bail!("{} is stamped for client {owner}", path.display());
    }
    let check: String = conn.query_row("PRAGMA quick_check", [], |r| r.get(0))?;
    if check != "ok" {
        bail!("quick_check of {}: {check}", path.display());
    }
    Ok(())
}
