//! Multi-tenancy: the clients registry, one SQLite file per shop behind an LRU of pools,
//! provisioning and deletion, start-up reconciliation, and resolving which shop a request is for.

pub mod directory;
pub mod files;
pub mod lifecycle;
pub mod lock;
pub mod names;
pub mod pools;
pub mod reconcile;
pub mod regions;
pub mod registry;
pub mod resolve;
pub mod slru;
pub mod template;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use scheduled_thread_pool::ScheduledThreadPool;

use crate::config::Settings;
use directory::ClientDirectory;
use pools::TenantPools;
use template::ClientTemplate;

/// Everything the server, the CLI and the job worker share about shops.
pub struct Tenancy {
    pub data_dir: PathBuf,
    /// Where each shop's file lives (the data folder or a region's root).
    pub regions: Arc<regions::Regions>,
    pub base_domain: String,
    /// How shop files are locked against other processes.
    pub locking: crate::db::ShopLocking,
    pub pools: TenantPools,
    pub template: ClientTemplate,
    pub directory: ClientDirectory,
    /// Where backups live (`<data>/backups` or `VERGEFLOW_BACKUP_DIR`); deletion removes a shop's.
    pub backup_dir: PathBuf,
    /// One whole-file operation (backup, restore, export, deletion) per shop at a time.
    pub file_ops: FileOps,
}

impl Tenancy {
    pub fn new(settings: &Settings, threads: Arc<ScheduledThreadPool>) -> anyhow::Result<Self> {
        let regions = Arc::new(regions::Regions::new(settings.data_dir.clone(), settings.storage_roots.clone()));
        Ok(Self {
            data_dir: settings.data_dir.clone(),
            regions: Arc::clone(&regions),
            base_domain: settings.base_domain.clone(),
            locking: settings.shop_locking,
            pools: TenantPools::new(
                regions,
                settings.max_open_clients,
                settings.client_pool_size,
                settings.max_shop_bytes,
                settings.shop_locking,
                settings.shop_budget.connections,
                threads,
            ),
            template: ClientTemplate::new()?,
            directory: ClientDirectory::default(),
            backup_dir: settings.backup_dir.clone(),
            file_ops: FileOps::default(),
        })
    }
}

/// Per-shop exclusion for operations on a whole shop file: a backup never reads a file a restore
/// is swapping, a deletion never removes a file a backup is copying.
#[derive(Default)]
pub struct FileOps {
    busy: Mutex<HashSet<i64>>,
    freed: Condvar,
}

/// Held while one shop's file operation runs.
pub struct FileOp<'a> {
    ops: &'a FileOps,
    id: i64,
}

impl Drop for FileOp<'_> {
    fn drop(&mut self) {
        self.ops.busy.lock().remove(&self.id);
        self.ops.freed.notify_all();
    }
}

/// How long an operation waits for another on the same shop.
const FILE_OP_WAIT: Duration = Duration::from_secs(120);

impl FileOps {
    /// Waits until no other whole-file operation runs on shop `id`, then holds it.
    pub fn lock(&self, id: i64) -> Result<FileOp<'_>, crate::error::AppError> {
        let deadline = std::time::Instant::now() + FILE_OP_WAIT;
        let mut busy = self.busy.lock();
        while busy.contains(&id) {
            if self.freed.wait_until(&mut busy, deadline).timed_out() {
                return Err(crate::error::AppError::unavailable(
                    "client_busy",
                    "another backup, restore or deletion of this shop is still running; try again later",
                ));
            }
        }
        busy.insert(id);
        Ok(FileOp { ops: self, id })
    }
}
