//! Start-up reconciliation: make the registry and the files agree after a crash, before serving.

use std::collections::HashSet;

use rusqlite::Connection;
use serde::Serialize;

use super::Tenancy;
use super::files::{self, DataFile};
use super::lifecycle;
use super::registry::{self, ClientStatus};
use crate::error::AppError;

/// What reconciliation did; logged, and returned to tests.
#[derive(Debug, Default, Serialize)]
pub struct ReconcileReport {
    pub provisioning_finished: Vec<i64>,
    pub deletions_finished: Vec<i64>,
    pub building_files_removed: Vec<String>,
    pub moved_aside: Vec<String>,
    /// Copies of a shop's file outside the folder the registry names (a move a crash interrupted),
    /// removed because the named folder holds the shop's file.
    pub stray_copies_removed: Vec<String>,
    pub missing_files: Vec<i64>,
    pub imports_finished: Vec<i64>,
    pub imports_rolled_back: Vec<i64>,
    /// Backups, uploads and exports a crash interrupted.
    pub unfinished_transfers_removed: usize,
    /// Shops whose migration a crash interrupted; the ledger now holds their file's version.
    pub migrations_settled: Vec<i64>,
}

impl ReconcileReport {
    pub fn is_clean(&self) -> bool {
        self.provisioning_finished.is_empty()
            && self.deletions_finished.is_empty()
            && self.building_files_removed.is_empty()
            && self.moved_aside.is_empty()
            && self.stray_copies_removed.is_empty()
            && self.missing_files.is_empty()
            && self.imports_finished.is_empty()
            && self.imports_rolled_back.is_empty()
            && self.unfinished_transfers_removed == 0
            && self.migrations_settled.is_empty()
    }
}

/// Runs with the data-folder lock held and no shop file open.
pub fn reconcile(tenancy: &Tenancy, main: &mut Connection) -> Result<ReconcileReport, AppError> {
    let mut report = ReconcileReport::default();
    let dir = &tenancy.data_dir;
    let roots: Vec<std::path::PathBuf> = tenancy.regions.all_dirs().into_iter().map(|(_, d)| d.to_path_buf()).collect();

    // Half-built files are never served; whatever they held is rebuilt below if still wanted.
    for root in &roots {
        for name in data_file_names(root)? {
            if let DataFile::Building(_) = files::classify(&name) {
                std::fs::remove_file(root.join(&name))
                    .map_err(|e| anyhow::Error::new(e).context(format!("removing {name}")))?;
                report.building_files_removed.push(shown(dir, root, &name));
            }
        }
    }

    for client in registry::all_with_status(main, &[ClientStatus::Deleting])? {
        lifecycle::remove_files(tenancy, client.id)?;
        registry::delete_row(main, client.id)?;
        tracing::info!(client_id = client.id, "reconciled: finished an interrupted deletion");
        crate::audit::lifecycle(
            main,
            client.id,
            "shop.deleted",
            serde_json::json!({ "finished_by": "start-up reconciliation" }),
        );
        report.deletions_finished.push(client.id);
    }

    report.unfinished_transfers_removed = crate::backups::store::remove_unfinished(&tenancy.backup_dir)?
        + crate::backups::transfer::remove_unfinished_transfers(dir);

    // An import whose file was renamed into place is whole (the rename is its last step on disk);
    // one without is removed, admins and all: an import never leaves an empty shop behind.
    for id in registry::pending_imports(main)? {
        let path = files::client_path(dir, id);
        if path.exists() && super::template::verify_file(&path, tenancy.locking, id).is_ok() {
            let version = crate::db::migrations::shop_file_version(&path, tenancy.locking)?;
            registry::set_schema_version(main, id, version)?;
            main.execute("UPDATE clients SET status = 'active', import_pending = 0 WHERE id = ?1", [id])?;
            tracing::info!(client_id = id, "reconciled: finished an interrupted import");
            report.imports_finished.push(id);
        } else {
            lifecycle::remove_files(tenancy, id)?;
            registry::delete_row(main, id)?;
            tracing::info!(client_id = id, "reconciled: rolled back an interrupted import");
            report.imports_rolled_back.push(id);
        }
    }

    for client in registry::all_with_status(main, &[ClientStatus::Provisioning])? {
        // A legacy import in progress is finished (or undone) by the next `vergeflow import`,
        // never made active half-filled.
        if crate::legacy::importing(main, client.id)? {
            tracing::warn!(
                client_id = client.id,
                "a legacy import of this shop was interrupted; run `vergeflow import` again to finish it"
            );
            continue;
        }
        lifecycle::finish_provisioning(tenancy, main, client.id)?;
        tracing::info!(client_id = client.id, "reconciled: finished an interrupted provisioning");
        report.provisioning_finished.push(client.id);
    }

    let known: HashSet<i64> = registry::all_ids(main)?.into_iter().collect();
    for root in &roots {
        for name in &data_file_names(root)? {
            let id = match files::classify(name) {
                DataFile::Client(id) | DataFile::ClientSidecar(id) => id,
                _ => continue,
            };
            if !root.join(name).exists() {
                continue; // went with its database just above
            }
            let home = tenancy.regions.dir_of(id);
            if known.contains(&id) && home != *root && files::client_path(&home, id).exists() {
                // A copy a move left behind (before or after its switch): the registry's folder
                // holds the shop's file, so this one is never served again.
                files::remove_family(&files::client_path(root, id))?;
                tracing::warn!(client_id = id, file = %root.join(name).display(), "reconciled: removed a stray copy a move left behind");
                report.stray_copies_removed.push(shown(dir, root, name));
                continue;
            }
            let orphan = match files::classify(name) {
                DataFile::Client(id) => !known.contains(&id),
                // A -wal or -shm whose database is gone must never be picked up by a future file.
                DataFile::ClientSidecar(id) => !known.contains(&id) || !files::client_path(root, id).exists(),
                _ => false,
            };
            if orphan {
                let moved = files::move_aside(root, &root.join(name))?;
                tracing::warn!(file = %name, to = %moved.display(), "reconciled: moved a file that belongs to no shop aside");
                report.moved_aside.push(shown(dir, root, name));
            }
        }
    }

    report.migrations_settled = crate::fleet::migrate::settle_interrupted(tenancy, main)?;

    for client in registry::all_with_status(main, &[ClientStatus::Active, ClientStatus::Suspended])? {
        if !tenancy.regions.path_of(client.id).exists() {
            tracing::error!(
                client_id = client.id,
                "shop file is missing; the shop will answer 503 until it is restored"
            );
            report.missing_files.push(client.id);
        }
    }
    if !report.is_clean() {
        tracing::info!(report = ?report, "reconciliation changed the data folder");
    }
    Ok(report)
}

/// A file's name as reports show it: bare in the data folder, the whole path in a region's.
fn shown(data_dir: &std::path::Path, root: &std::path::Path, name: &str) -> String {
    if root == data_dir { name.to_string() } else { root.join(name).display().to_string() }
}

fn data_file_names(dir: &std::path::Path) -> Result<Vec<String>, AppError> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map_err(|e| anyhow::Error::new(e).context(format!("listing {}", dir.display())))?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    Ok(names)
}
