//! The state shared by every request, the job worker and CLI commands.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use anyhow::Context as _;

use crate::auth::hash_pool::HashPool;
use crate::auth::throttle::{LoginThrottle, PasswordRates, ResetRates};
use crate::config::Settings;
use crate::db::{self, MainDb};
use crate::tenancy::Tenancy;

pub struct AppState {
    pub settings: Settings,
    pub main: MainDb,
    pub tenancy: Arc<Tenancy>,
    /// Seals payment provider secrets (`VERGEFLOW_SECRET_KEY` or `<data>/secret.key`).
    pub secret_key: crate::payments::secrets::SecretKey,
    pub throttle: LoginThrottle,
    pub password_rates: PasswordRates,
    pub reset_rates: ResetRates,
    pub hashing: HashPool,
    pub requests_total: AtomicU64,
    pub responses_5xx: AtomicU64,
    pub metrics: crate::observability::Metrics,
    /// Shops with order events to move into the job queue.
    pub relay: crate::events::relay::Relay,
}

impl AppState {
    /// Opens main.db (migrating it) and prepares the shop machinery. Does not lock the data folder
    /// or reconcile: callers that own the folder do that.
    pub fn open(settings: Settings) -> anyhow::Result<Self> {
        db::configure_sqlite();
        let threads = db::shared_pool_threads();
        let main = MainDb::open(&settings.data_dir, Arc::clone(&threads))?;
        let tenancy = Arc::new(Tenancy::new(&settings, threads).context("preparing the shop template")?);
        for (name, dir) in &settings.storage_roots {
            crate::sys::create_private_folder(dir)
                .with_context(|| format!("creating the folder of region {name}, {}", dir.display()))?;
        }
        let unplaced = tenancy.regions.load(&*main.get()?)?;
        for (id, region) in unplaced {
            tracing::error!(client_id = id, region, "the shop lives in a region VERGEFLOW_STORAGE_ROOTS does not name");
        }
        for (id, mb) in crate::quotas::storage_quotas(&*main.get()?).context("reading the shops' storage quotas")? {
            tenancy.pools.set_storage_quota(id, Some(mb * 1024 * 1024));
        }
        let secret_key = crate::payments::secrets::SecretKey::load(&settings.data_dir, settings.secret_key.as_deref())
            .context("loading the key that seals payment provider secrets")?;
        let password_rates = PasswordRates::new(settings.password_rate_per_ip, settings.password_rate_per_shop);
        let hashing = HashPool::start(settings.hash_threads, settings.hash_queue);
        Ok(Self {
            settings,
            main,
            tenancy,
            secret_key,
            throttle: LoginThrottle::default(),
            password_rates,
            reset_rates: ResetRates::default(),
            hashing,
            requests_total: AtomicU64::new(0),
            responses_5xx: AtomicU64::new(0),
            metrics: crate::observability::Metrics::default(),
            relay: crate::events::relay::Relay::default(),
        })
    }
}
