//! Every setting in one place: flag > environment (and `.env`) > default, validated once at start.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// The settings shared by `serve` and every CLI command, as clap parses them. `--help` lists each
/// with its environment variable, under its own heading so commands' own options stand apart.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Settings (a flag, else its environment variable, else the default)")]
pub struct SettingsArgs {
    /// Folder holding main.db and one client_<id>.db per shop.
    #[arg(long, env = "VERGEFLOW_DATA_DIR", default_value = "data", global = true)]
    pub data_dir: PathBuf,
    /// Address the HTTP server listens on.
    #[arg(long, env = "VERGEFLOW_BIND", default_value = "127.0.0.1:8080", global = true)]
    pub bind: String,
    /// Shops are reached at <subdomain>.<base-domain>.
    #[arg(long, env = "VERGEFLOW_BASE_DOMAIN", default_value = "localhost", global = true)]
    pub base_domain: String,
    /// How many shop files may have an open pool at once (LRU capacity); default sized for the box.
    #[arg(long, env = "VERGEFLOW_MAX_OPEN_CLIENTS", global = true)]
    pub max_open_clients: Option<usize>,
    /// E-mail of the super admin created on first start.
    #[arg(long, env = "VERGEFLOW_ADMIN_EMAIL", default_value = "admin@localhost", global = true)]
    pub admin_email: String,
    /// Password of the super admin created on first start (random and printed once if unset).
    #[arg(long, env = "VERGEFLOW_ADMIN_PASSWORD", global = true, hide_env_values = true)]
    pub admin_password: Option<String>,
    /// Log format: text or json.
    #[arg(long, env = "VERGEFLOW_LOG_FORMAT", value_enum, default_value = "text", global = true)]
    pub log_format: LogFormat,
    /// Comma-separated proxy IPs whose X-Forwarded-Host / X-Forwarded-For are believed.
    #[arg(long, env = "VERGEFLOW_TRUSTED_PROXIES", value_delimiter = ',', global = true)]
    pub trusted_proxies: Vec<IpAddr>,
    /// Lifetime of bearer tokens, in hours.
    #[arg(long, env = "VERGEFLOW_TOKEN_TTL_HOURS", default_value_t = 720, global = true)]
    pub token_ttl_hours: u64,
    /// Connections per open shop pool.
    #[arg(long, env = "VERGEFLOW_CLIENT_POOL_SIZE", default_value_t = 4, global = true)]
    pub client_pool_size: u32,
    /// Close a shop's pool after this many seconds without a request.
    #[arg(long, env = "VERGEFLOW_IDLE_CLIENT_SECS", default_value_t = 300, global = true)]
    pub idle_client_secs: u64,
    /// Mark the session cookie Secure (set this when served over HTTPS): true/false, yes/no, 1/0.
    #[arg(
        long,
        env = "VERGEFLOW_SECURE_COOKIES",
        global = true,
        action = clap::ArgAction::Set,
        num_args = 0..=1,
        default_value = "false",
        default_missing_value = "true",
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub secure_cookies: bool,
    /// HTTP worker threads (default: one per core).
    #[arg(long, env = "VERGEFLOW_WORKERS", global = true)]
    pub workers: Option<usize>,
    /// Largest size a shop file may grow to, in MiB (unlimited when unset).
    #[arg(long, env = "VERGEFLOW_MAX_SHOP_MB", global = true)]
    pub max_shop_mb: Option<u64>,
    /// Requests per second each shop may make before 429 `rate_limited` (unlimited when unset);
    /// a shop's own quota overrides it.
    #[arg(long, env = "VERGEFLOW_SHOP_RPS", global = true)]
    pub shop_rps: Option<u32>,
    /// Threads per HTTP worker for blocking work (SQLite queries; passwords hash on their own threads).
    #[arg(long, env = "VERGEFLOW_BLOCKING_THREADS", default_value_t = 8, global = true)]
    pub blocking_threads: usize,
    /// Threads that hash passwords (19 MiB each while hashing); default half the cores, at least 1.
    #[arg(long, env = "VERGEFLOW_HASH_THREADS", global = true)]
    pub hash_threads: Option<usize>,
    /// Password checks that may wait for a hashing thread; beyond this, 503 with Retry-After.
    #[arg(long, env = "VERGEFLOW_HASH_QUEUE", default_value_t = 16, global = true)]
    pub hash_queue: usize,
    /// Sign-ups, sign-ins and shop creations one address may make per minute (429 beyond).
    #[arg(long, env = "VERGEFLOW_PASSWORD_RATE_PER_IP", default_value_t = 20, global = true)]
    pub password_rate_per_ip: u32,
    /// Sign-ups and sign-ins one shop (or the main registry) may take per minute (429 beyond).
    #[arg(long, env = "VERGEFLOW_PASSWORD_RATE_PER_SHOP", default_value_t = 120, global = true)]
    pub password_rate_per_shop: u32,
    /// Seconds a request body may take to arrive (408 and the connection closed beyond).
    #[arg(long, env = "VERGEFLOW_BODY_TIMEOUT_SECS", default_value_t = 10, global = true)]
    pub body_timeout_secs: u64,
    /// How shop files are locked against other processes: shared (SQLite's standard locking; outside
    /// tools, backup scripts and Litestream can read live shops) or exclusive (faster opens; only the
    /// server can open a shop file it has open).
    #[arg(long, env = "VERGEFLOW_SHOP_LOCKING", value_enum, default_value = "shared", global = true)]
    pub shop_locking: crate::db::ShopLocking,
    /// Where Stripe's API is (tests point it at a local fake).
    #[arg(long, env = "VERGEFLOW_STRIPE_API_BASE", default_value = "https://api.stripe.com", global = true)]
    pub stripe_api_base: String,
    /// The key that seals payment provider secrets, 64 hex digits (default: <data-dir>/secret.key,
    /// made on first start).
    #[arg(long, env = "VERGEFLOW_SECRET_KEY", global = true, hide_env_values = true)]
    pub secret_key: Option<String>,
    /// Regions for data residency: named folders shop files may live in, `eu=/srv/eu,us=/srv/us`
    /// (a shop without a region lives in the data folder).
    #[arg(long, env = "VERGEFLOW_STORAGE_ROOTS", default_value = "", global = true)]
    pub storage_roots: String,
    /// Where backups are kept (default: <data-dir>/backups).
    #[arg(long, env = "VERGEFLOW_BACKUP_DIR", global = true)]
    pub backup_dir: Option<PathBuf>,
    /// Which backups each shop keeps: a count ('10') and/or the newest per hour/day/week/month ('7d,4w').
    #[arg(long, env = "VERGEFLOW_BACKUP_KEEP", default_value = "10,7d,4w", global = true)]
    pub backup_keep: String,
    /// How often scheduled backups look at each shop ('30m', '6h', '1d', 'off'); only changed shops are copied.
    #[arg(long, env = "VERGEFLOW_BACKUP_EVERY", default_value = "1d", global = true)]
    pub backup_every: String,
    /// Threads a backup run over many shops uses.
    #[arg(long, env = "VERGEFLOW_BACKUP_THREADS", default_value_t = 2, global = true)]
    pub backup_threads: usize,
    /// Days the final backup of a deleted shop (DELETE …?final_backup=true) is kept.
    #[arg(long, env = "VERGEFLOW_FINAL_BACKUP_DAYS", default_value_t = 30, global = true)]
    pub final_backup_days: u64,
    /// Most shop-file connections open at once (default: from the open-file limit and the locking mode).
    #[arg(long, env = "VERGEFLOW_SHOP_CONNECTIONS", global = true)]
    pub shop_connections: Option<usize>,
    /// Memory for open shop connections, MiB: page caches (1 MiB each at most) and schemas (default: an eighth of RAM).
    #[arg(long, env = "VERGEFLOW_SHOP_CACHE_MB", global = true)]
    pub shop_cache_mb: Option<u64>,
    /// Largest shop export accepted by an import, in MiB.
    #[arg(long, env = "VERGEFLOW_IMPORT_MAX_MB", default_value_t = 1024, global = true)]
    pub import_max_mb: u64,
    /// A token /metrics then requires ('Authorization: Bearer <token>'); open to all when unset.
    #[arg(long, env = "VERGEFLOW_METRICS_TOKEN", global = true, hide_env_values = true)]
    pub metrics_token: Option<String>,
    /// Queries on a shop slower than this many milliseconds are logged with the shop id (0: off).
    #[arg(long, env = "VERGEFLOW_SLOW_QUERY_MS", default_value_t = 250, global = true)]
    pub slow_query_ms: u64,
    /// Shops a fleet migration migrates at once.
    #[arg(long, env = "VERGEFLOW_MIGRATE_THREADS", default_value_t = 2, global = true)]
    pub migrate_threads: usize,
    /// A folder of extra client migrations (V<n>__<name>.sql after the built-in ones), for developing
    /// a migration without rebuilding. A shop migrated with them is refused by a binary without them.
    #[arg(long, env = "VERGEFLOW_EXTRA_CLIENT_MIGRATIONS", global = true)]
    pub extra_client_migrations: Option<PathBuf>,
    /// Threads that run background jobs (one more, the message lane, runs notify, mail and webhook jobs).
    #[arg(long, env = "VERGEFLOW_JOB_WORKERS", default_value_t = 2, global = true)]
    pub job_workers: usize,
    /// First retry delay of a failed job, in milliseconds; doubles per attempt (capped at an hour).
    #[arg(long, env = "VERGEFLOW_JOB_RETRY_BASE_MS", default_value_t = 10_000, global = true)]
    pub job_retry_base_ms: u64,
    /// Seconds running jobs get to finish at shutdown (SIGTERM) before they are put back on the queue.
    #[arg(long, env = "VERGEFLOW_SHUTDOWN_GRACE_SECS", default_value_t = 25, global = true)]
    pub shutdown_grace_secs: u64,
    /// SMTP server for outgoing mail (smtp://user:pass@host:587, smtps://…:465); unset: mail is
    /// written as .eml files under <data-dir>/mail/.
    #[arg(long, env = "VERGEFLOW_SMTP_URL", global = true, hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// Sender address of outgoing mail (the shop's name is the sender name).
    #[arg(long, env = "VERGEFLOW_MAIL_FROM", default_value = "noreply@localhost", global = true)]
    pub mail_from: String,
    /// Let webhooks reach loopback, private and link-local addresses (development and tests only).
    #[arg(
        long,
        env = "VERGEFLOW_WEBHOOK_ALLOW_PRIVATE",
        global = true,
        action = clap::ArgAction::Set,
        num_args = 0..=1,
        default_value = "false",
        default_missing_value = "true",
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub webhook_allow_private: bool,
}

/// Validated settings used by the server, the CLI, the job worker and tests.
#[derive(Debug, Clone)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub bind: String,
    pub base_domain: String,
    pub max_open_clients: usize,
    pub admin_email: String,
    pub admin_password: Option<String>,
    pub log_format: LogFormat,
    pub trusted_proxies: Vec<IpAddr>,
    pub token_ttl: Duration,
    pub client_pool_size: u32,
    pub idle_client_after: Duration,
    pub secure_cookies: bool,
    pub workers: usize,
    pub blocking_threads: usize,
    /// Size limit per shop file; writes past it answer 507 `storage_full`.
    pub max_shop_bytes: Option<u64>,
    /// Requests per second per shop (a shop's own quota overrides it).
    pub shop_rps: Option<u32>,
    pub hash_threads: usize,
    pub hash_queue: usize,
    pub password_rate_per_ip: u32,
    pub password_rate_per_shop: u32,
    pub body_timeout: Duration,
    pub shop_locking: crate::db::ShopLocking,
    pub backup_dir: PathBuf,
    pub stripe_api_base: String,
    /// `VERGEFLOW_SECRET_KEY` as given (the key file is read when the state opens).
    pub secret_key: Option<String>,
    /// Named storage roots (regions), in the order given.
    pub storage_roots: Vec<(String, PathBuf)>,
    pub backup_keep: crate::backups::retention::Keep,
    /// `None`: scheduled backups are off.
    pub backup_every: Option<Duration>,
    pub backup_threads: usize,
    pub final_backup_keep: Duration,
    pub import_max_bytes: u64,
    pub migrate_threads: usize,
    pub metrics_token: Option<String>,
    /// `None`: slow queries are not logged.
    pub slow_query: Option<Duration>,
    /// Installed by the CLI before anything opens a shop (see `db::migrations`).
    pub extra_client_migrations: Option<PathBuf>,
    /// How many shop connections may be open at once, and why that many.
    pub shop_budget: ShopBudget,
    pub job_workers: usize,
    pub job_retry_base: Duration,
    pub shutdown_grace: Duration,
    pub smtp_url: Option<String>,
    pub mail_from: lettre::message::Mailbox,
    pub webhook_allow_private: bool,
}

/// The bounds on open shop connections: descriptors and memory. The LRU of pools is sized from
/// them, and no connection opens past `connections`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct ShopBudget {
    /// Connections allowed: the smallest of the descriptor and memory bounds (or the setting).
    pub connections: usize,
    /// Connections the open-file limit allows (descriptors per connection by locking mode, 512 kept back).
    pub by_descriptors: usize,
    /// Connections the memory budget allows at `bytes_per_connection` each.
    pub by_memory: usize,
    pub memory_bytes: u64,
    /// What one connection may hold at most: its page cache bound plus schema, WAL index and statements.
    pub bytes_per_connection: u64,
    pub descriptors_per_connection: u64,
}

/// Page cache bound of one shop connection (KiB); with the overhead below, a connection's memory bound.
pub const SHOP_CACHE_KIB: u64 = 1024;
/// A shop connection's memory besides its page cache, measured: parsed schema ~145 KiB since the
/// catalogue's tables (`sqlite3_db_status(SCHEMA_USED)`; it was ~60 KiB before), WAL index 32 KiB,
/// prepared statements ~8 KiB, SQLite and pool bookkeeping; rounded up.
pub const SHOP_CONNECTION_OVERHEAD_KIB: u64 = 256;

impl ShopBudget {
    pub fn new(locking: crate::db::ShopLocking, setting: Option<usize>, memory_mb: Option<u64>) -> Self {
        let descriptors_per_connection = match locking {
            crate::db::ShopLocking::Shared => 3,
            crate::db::ShopLocking::Exclusive => 2,
        };
        let fd_limit = crate::sys::raise_fd_limit();
        let by_descriptors = (fd_limit.saturating_sub(512) / descriptors_per_connection).max(16) as usize;
        let memory_bytes = memory_mb.map_or_else(|| crate::sys::total_memory_bytes() / 8, |mb| mb * 1024 * 1024);
        let bytes_per_connection = (SHOP_CACHE_KIB + SHOP_CONNECTION_OVERHEAD_KIB) * 1024;
        let by_memory = ((memory_bytes / bytes_per_connection) as usize).max(16);
        let connections = setting.unwrap_or(usize::MAX).min(by_descriptors).min(by_memory).max(1);
        Self { connections, by_descriptors, by_memory, memory_bytes, bytes_per_connection, descriptors_per_connection }
    }

    /// The most memory `open` shop connections may hold.
    pub fn memory_bound(&self, open: i64) -> u64 {
        open.max(0) as u64 * self.bytes_per_connection
    }
}

impl SettingsArgs {
    pub fn validate(self) -> anyhow::Result<Settings> {
        let base_domain = self.base_domain.trim().trim_end_matches('.').to_ascii_lowercase();
        anyhow::ensure!(!base_domain.is_empty(), "--base-domain must not be empty");
        anyhow::ensure!(
            self.client_pool_size >= 1 && self.client_pool_size <= 64,
            "VERGEFLOW_CLIENT_POOL_SIZE must be 1..=64"
        );
        anyhow::ensure!(self.token_ttl_hours >= 1, "VERGEFLOW_TOKEN_TTL_HOURS must be at least 1");
        if self.shop_connections == Some(0) || self.shop_cache_mb == Some(0) {
            anyhow::bail!("VERGEFLOW_SHOP_CONNECTIONS and VERGEFLOW_SHOP_CACHE_MB must be at least 1");
        }
        let shop_budget = ShopBudget::new(self.shop_locking, self.shop_connections, self.shop_cache_mb);
        // A pool holds at least one connection while its shop is in use: as many pools as connections.
        let max_open_clients = match self.max_open_clients {
            Some(0) => anyhow::bail!("--max-open-clients must be at least 1"),
            Some(n) => n,
            None => shop_budget.connections,
        };
        Ok(Settings {
            data_dir: self.data_dir.clone(),
            bind: self.bind,
            base_domain,
            max_open_clients,
            admin_email: self.admin_email,
            admin_password: self.admin_password,
            log_format: self.log_format,
            trusted_proxies: self.trusted_proxies,
            token_ttl: Duration::from_secs(self.token_ttl_hours * 3600),
            client_pool_size: self.client_pool_size,
            idle_client_after: Duration::from_secs(self.idle_client_secs.max(1)),
            secure_cookies: self.secure_cookies,
            workers: self.workers.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())),
            blocking_threads: self.blocking_threads.clamp(1, 256),
            max_shop_bytes: match self.max_shop_mb {
                Some(0) => anyhow::bail!("VERGEFLOW_MAX_SHOP_MB must be at least 1"),
                other => other.map(|mb| mb * 1024 * 1024),
            },
            shop_rps: match self.shop_rps {
                Some(0) => anyhow::bail!("VERGEFLOW_SHOP_RPS must be at least 1"),
                other => other,
            },
            hash_threads: match self.hash_threads {
                Some(n) => n.clamp(1, 64),
                None => std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1)),
            },
            hash_queue: self.hash_queue.min(10_000),
            password_rate_per_ip: self.password_rate_per_ip.max(1),
            password_rate_per_shop: self.password_rate_per_shop.max(1),
            body_timeout: Duration::from_secs(self.body_timeout_secs.clamp(1, 3600)),
            shop_locking: self.shop_locking,
            backup_dir: self.backup_dir.unwrap_or_else(|| self.data_dir.join("backups")),
            stripe_api_base: self.stripe_api_base.trim_end_matches('/').to_string(),
            secret_key: self.secret_key,
            storage_roots: crate::tenancy::regions::parse_roots(&self.storage_roots)
                .map_err(|e| anyhow::anyhow!("VERGEFLOW_STORAGE_ROOTS: {e}"))?,
            backup_keep: self.backup_keep.parse().map_err(|e| anyhow::anyhow!("VERGEFLOW_BACKUP_KEEP: {e}"))?,
            backup_every: crate::backups::parse_every(&self.backup_every)
                .map_err(|e| anyhow::anyhow!("VERGEFLOW_BACKUP_EVERY: {e}"))?,
            backup_threads: self.backup_threads.clamp(1, 16),
            final_backup_keep: Duration::from_secs(self.final_backup_days.min(36_500) * 86_400),
            import_max_bytes: self.import_max_mb.clamp(1, 1 << 20) * 1024 * 1024,
            migrate_threads: self.migrate_threads.clamp(1, 32),
            metrics_token: match self.metrics_token.map(|t| t.trim().to_string()) {
                Some(t) if t.len() < 16 => anyhow::bail!("VERGEFLOW_METRICS_TOKEN must be at least 16 characters"),
                other => other,
            },
            slow_query: (self.slow_query_ms > 0).then(|| Duration::from_millis(self.slow_query_ms)),
            extra_client_migrations: self.extra_client_migrations,
            shop_budget,
            job_workers: self.job_workers.clamp(1, 64),
            job_retry_base: Duration::from_millis(self.job_retry_base_ms.clamp(10, 3_600_000)),
            shutdown_grace: Duration::from_secs(self.shutdown_grace_secs.min(3600)),
            smtp_url: match self.smtp_url.map(|u| u.trim().to_string()).filter(|u| !u.is_empty()) {
                Some(url) => {
                    crate::mail::transport::check_url(&url).map_err(|e| anyhow::anyhow!("VERGEFLOW_SMTP_URL: {e}"))?;
                    Some(url)
                }
                None => None,
            },
            mail_from: self
                .mail_from
                .trim()
                .parse()
                .map_err(|e| anyhow::anyhow!("VERGEFLOW_MAIL_FROM is not an e-mail address: {e}"))?,
            webhook_allow_private: self.webhook_allow_private,
        })
    }
}

impl Settings {
    /// Defaults for a given data folder (what tests and the bench start from).
    pub fn for_data_dir(data_dir: impl Into<PathBuf>) -> Self {
        let mut args = SettingsArgs {
            data_dir: PathBuf::new(),
            bind: "127.0.0.1:0".into(),
            base_domain: "localhost".into(),
            max_open_clients: None,
            admin_email: "admin@localhost".into(),
            admin_password: None,
            log_format: LogFormat::Text,
            trusted_proxies: Vec::new(),
            token_ttl_hours: 720,
            client_pool_size: 4,
            idle_client_secs: 300,
            secure_cookies: false,
            workers: Some(2),
            blocking_threads: 8,
            max_shop_mb: None,
            shop_rps: None,
            hash_threads: None,
            hash_queue: 16,
            password_rate_per_ip: 20,
            password_rate_per_shop: 120,
            body_timeout_secs: 10,
            shop_locking: crate::db::ShopLocking::Shared,
            backup_dir: None,
            storage_roots: String::new(),
            stripe_api_base: "https://api.stripe.com".into(),
            secret_key: None,
            backup_keep: "10,7d,4w".into(),
            backup_every: "1d".into(),
            backup_threads: 2,
            final_backup_days: 30,
            import_max_mb: 1024,
            migrate_threads: 2,
            metrics_token: None,
            slow_query_ms: 250,
            extra_client_migrations: None,
            shop_connections: None,
            shop_cache_mb: None,
            job_workers: 2,
            job_retry_base_ms: 10_000,
            shutdown_grace_secs: 25,
            smtp_url: None,
            mail_from: "noreply@localhost".into(),
            webhook_allow_private: false,
        };
        args.data_dir = data_dir.into();
        args.validate().expect("defaults are valid")
    }
}
