//! Multi-tenancy: the clients registry, one SQLite file per shop behind an LRU of pools,
//! provisioning and deletion, start-up reconciliation, and resolving which shop a request is for.

pub mod directory;
pub mod files;
pub mod lifecycle;
pub mod lock;
pub mod names;
pub mod pools;
pub mod reconcile;
pub mod registry;
pub mod resolve;
pub mod slru;
pub mod template;

use std::path::PathBuf;
use std::sync::Arc;

use scheduled_thread_pool::ScheduledThreadPool;

use crate::config::Settings;
use directory::ClientDirectory;
use pools::TenantPools;
use template::ClientTemplate;

/// Everything the server, the CLI and the job worker share about shops.
pub struct Tenancy {
    pub data_dir: PathBuf,
    pub base_domain: String,
    pub pools: TenantPools,
    pub template: ClientTemplate,
    pub directory: ClientDirectory,
}

impl Tenancy {
    pub fn new(settings: &Settings, threads: Arc<ScheduledThreadPool>) -> anyhow::Result<Self> {
        Ok(Self {
            data_dir: settings.data_dir.clone(),
            base_domain: settings.base_domain.clone(),
            pools: TenantPools::new(
                settings.data_dir.clone(),
                settings.max_open_clients,
                settings.client_pool_size,
                settings.max_shop_bytes,
                threads,
            ),
            template: ClientTemplate::new()?,
            directory: ClientDirectory::default(),
        })
    }
}
