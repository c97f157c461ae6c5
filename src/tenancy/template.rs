//! A pre-migrated, in-memory shop schema that new shop files are copied from with SQLite's backup API.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, bail};
use parking_lot::Mutex;
use rusqlite::Connection;
use rusqlite::backup::Backup;

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
            let mut dst = Connection::open(&building).with_context(|| format!("creating {}", building.display()))?;
            // No journal and no syncing while building: a half-built file is discarded, never
            // repaired, and the finished file is fsynced once below before it is renamed into
            // place. It is switched to WAL (a header flag) just before closing.
            dst.execute_batch("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;")
                .context("preparing the new shop file")?;
            {
                let src = self.conn.lock();
                Backup::new(&src, &mut dst)
                    .and_then(|b| b.run_to_completion(i32::MAX, Duration::ZERO, None))
                    .context("copying the shop template")?;
            }
            dst.execute("INSERT INTO shop (id, client_id) VALUES (1, ?1)", [client_id])
                .context("stamping the shop file with its client id")?;
            migrations::migrate_client(&mut dst).context("checking the new shop file's migrations")?;
            let version = migrations::client_version(&dst)?;
            let mode: String = dst.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
            anyhow::ensure!(mode.eq_ignore_ascii_case("wal"), "the new shop file refused WAL mode ({mode})");
            dst.close().map_err(|(_, e)| e).context("closing the new shop file")?;
            version
        };
        std::fs::File::open(&building)
            .and_then(|f| f.sync_all())
            .with_context(|| format!("syncing {}", building.display()))?;
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
