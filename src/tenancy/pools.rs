//! The bounded LRU of per-shop connection pools.
//!
//! One r2d2 pool per open shop file, at most `capacity` at once, evicted by a segmented LRU
//! ([`super::slru`]). Pools open no connection until one is asked for, share one scheduler thread
//! pool and run no reaper jobs; idle shops are closed by [`TenantPools::close_idle`]. An evicted
//! pool stays valid for connections already checked out and closes when the last one returns.
//! Every live connection to a shop file holds that file's [`FileGuard`], so deletion can wait until
//! the file is truly closed.

use std::collections::{HashMap, HashSet};
use std::ops::{Deref, DerefMut};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rusqlite::Connection;
use scheduled_thread_pool::ScheduledThreadPool;
use serde::Serialize;

use super::slru::SegmentedLru;
use crate::db::{self, CHECKOUT_TIMEOUT};
use crate::error::AppError;

/// How often a waiting checkout looks whether its shop is being deleted.
const RETIRED_POLL: Duration = Duration::from_millis(50);

/// How long a checkout waits for one of its shop's busy connections to come back before the pool
/// opens another. A request holds its connection for tens of microseconds, while a new connection
/// costs a schema parse (~0.4 ms of CPU) and ~150 KiB for as long as the pool lives; growing at the
/// first overlap, as r2d2 does, gave every busy shop its four connections and took a quarter off
/// the many-shop reads (bench W2: 0.73 → 1.02 × its floor with pools that did not grow).
const GROW_AFTER: Duration = Duration::from_millis(20);

/// Page cache per shop connection (KiB); the connection budget × this (plus overhead) bounds the
/// memory of open shops (`config::ShopBudget`).
const CLIENT_CACHE_KIB: u32 = crate::config::SHOP_CACHE_KIB as u32;

/// Shared by every connection (in every pool) to one shop file.
#[derive(Default)]
struct FileGuard {
    /// Set when the shop is being deleted: no new connection may open.
    retired: AtomicBool,
}

/// Counts one live connection; released after the connection itself is closed.
struct OpenCount {
    _guard: Arc<FileGuard>,
    global: Arc<AtomicI64>,
}

impl Drop for OpenCount {
    fn drop(&mut self) {
        self.global.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A connection to one shop file. Field order matters: the SQLite handle closes before the count.
pub struct TenantConnection {
    conn: Connection,
    _count: OpenCount,
}

impl Deref for TenantConnection {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        &self.conn
    }
}

impl DerefMut for TenantConnection {
    fn deref_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }
}

/// Opens connections to one shop file, never creating it, and checks the file is that shop's.
struct TenantManager {
    client_id: i64,
    path: PathBuf,
    guard: Arc<FileGuard>,
    global_open: Arc<AtomicI64>,
    timings: Arc<ConnectTimings>,
    /// `PRAGMA max_page_count` for every connection, from the shop size limit.
    max_pages: Option<u64>,
    locking: db::ShopLocking,
    /// Connections that may be open over every shop file at once.
    limit: i64,
    refusals: Arc<AtomicU64>,
}

/// How many shop connections were opened and how long opening took in total.
#[derive(Default)]
struct ConnectTimings {
    count: AtomicU64,
    micros: AtomicU64,
}

impl r2d2::ManageConnection for TenantManager {
    type Connection = TenantConnection;
    type Error = rusqlite::Error;

    fn connect(&self) -> Result<TenantConnection, rusqlite::Error> {
        // Count first (within the budget), then check `retired`: a deletion that saw no count is
        // guaranteed to be seen here.
        let mut open = self.global_open.load(Ordering::SeqCst);
        loop {
            if open >= self.limit {
                self.refusals.fetch_add(1, Ordering::Relaxed);
                return Err(db::failure(format!("all {} shop connections of the budget are open", self.limit)));
            }
            match self.global_open.compare_exchange_weak(open, open + 1, Ordering::SeqCst, Ordering::SeqCst) {
                Ok(_) => break,
                Err(now) => open = now,
            }
        }
        let count = OpenCount { _guard: Arc::clone(&self.guard), global: Arc::clone(&self.global_open) };
        if self.guard.retired.load(Ordering::SeqCst) {
            return Err(db::failure(format!("client {} is being deleted", self.client_id)));
        }
        let started = Instant::now();
        let conn = db::open_shop_file(&self.path, self.locking, CLIENT_CACHE_KIB, db::SHOP_FIRST_LOCK_WAIT)?;
        if let Some(pages) = self.max_pages {
            conn.query_row(&format!("PRAGMA max_page_count = {pages}"), [], |_| Ok(()))?;
        }
        let (owner, version): (i64, i64) = conn.query_row(
            "SELECT client_id, (SELECT MAX(version) FROM refinery_schema_history) FROM shop WHERE id = 1",
            [],
            |r| Ok((r.get(0)?, r.get::<_, Option<i64>>(1)?.unwrap_or(0))),
        )?;
        if owner != self.client_id {
            return Err(db::failure(format!(
                "{} belongs to client {owner}, not {}",
                self.path.display(),
                self.client_id
            )));
        }
        // Never serve a file with another schema than this binary's code expects (`fleet` migrates
        // older ones before their first request; the ledger only disagrees after outside changes).
        let expected = crate::db::migrations::latest_client_version();
        if version != expected {
            return Err(db::failure(format!(
                "{} has schema version {version}, this server serves {expected}; run `vergeflow migrate --client {}`",
                self.path.display(),
                self.client_id
            )));
        }
        crate::observability::watch_slow_queries(&conn);
        // Reading the schema left its pages in the page cache, where no request needs them again:
        // about 30 KiB per connection, 30 MB over a thousand open shops.
        conn.execute_batch("PRAGMA shrink_memory")?;
        self.timings.count.fetch_add(1, Ordering::Relaxed);
        self.timings.micros.fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        Ok(TenantConnection { conn, _count: count })
    }

    fn is_valid(&self, _conn: &mut TenantConnection) -> Result<(), rusqlite::Error> {
        Ok(())
    }

    fn has_broken(&self, _conn: &mut TenantConnection) -> bool {
        false
    }
}

/// One open shop: its pool and when it was last used.
pub struct TenantPool {
    pub client_id: i64,
    pool: r2d2::Pool<TenantManager>,
    /// The file's guard, to see a deletion before waiting on a connection that cannot open.
    guard: Arc<FileGuard>,
    last_used_ms: AtomicU64,
    /// The shop's request rate (when it has a limit).
    pace: crate::quotas::Pace,
    /// Signalled (under `returns`) whenever a connection of this pool is handed back.
    returns: Mutex<()>,
    returned: parking_lot::Condvar,
}

struct PoolsState {
    lru: SegmentedLru<i64, Arc<TenantPool>>,
    guards: HashMap<i64, Arc<FileGuard>>,
    retired: HashSet<i64>,
    /// Shops with their own storage quota: pages their files may grow to.
    storage_pages: HashMap<i64, u64>,
}

/// Counters served at `/api/super-admin/stats` and `/metrics`.
#[derive(Debug, Clone, Copy, Serialize, schemars::JsonSchema)]
pub struct PoolStats {
    pub open_pools: usize,
    pub max_open_pools: usize,
    pub hits: u64,
    pub misses: u64,
    pub evictions: u64,
    pub idle_closed: u64,
    pub open_connections: i64,
    /// Connections that may be open at once (see `shop_budget` for where the figure comes from).
    pub connection_budget: usize,
    /// Pools closed because open connections neared the budget, and connections refused at it.
    pub budget_evictions: u64,
    pub budget_refusals: u64,
    /// Shop connections opened since start, and their mean opening time (open, PRAGMAs, stamp check).
    pub connections_opened: u64,
    pub mean_connect_micros: u64,
    pub connect_micros_total: u64,
}

/// The LRU of shop pools.
pub struct TenantPools {
    regions: Arc<super::regions::Regions>,
    capacity: usize,
    pool_size: u32,
    max_pages: Option<u64>,
    locking: db::ShopLocking,
    budget: usize,
    budget_evictions: AtomicU64,
    budget_refusals: Arc<AtomicU64>,
    threads: Arc<ScheduledThreadPool>,
    state: Mutex<PoolsState>,
    epoch: Instant,
    hits: AtomicU64,
    misses: AtomicU64,
    evictions: AtomicU64,
    idle_closed: AtomicU64,
    open_connections: Arc<AtomicI64>,
    timings: Arc<ConnectTimings>,
    /// Evicted pools waiting to be closed on the scheduler threads.
    pending_closes: Arc<AtomicUsize>,
    /// Connections of evicted pools not yet closed: still counted in `open_connections`, already
    /// on their way out, so the budget check must not evict again for them.
    closing_connections: Arc<AtomicI64>,
}

/// At most this many evicted pools wait to be closed; past it the evicting thread closes inline, so
/// open files stay bounded when closing falls behind.
const MAX_PENDING_CLOSES: usize = 64;

impl TenantPools {
    pub fn new(
        regions: Arc<super::regions::Regions>,
        capacity: usize,
        pool_size: u32,
        max_shop_bytes: Option<u64>,
        locking: db::ShopLocking,
        budget: usize,
        threads: Arc<ScheduledThreadPool>,
    ) -> Self {
        let capacity = capacity.max(1);
        Self {
            regions,
            capacity,
            pool_size: pool_size.max(1),
            max_pages: max_shop_bytes.map(|b| (b / 4096).max(1)),
            locking,
            budget: budget.max(1),
            budget_evictions: AtomicU64::new(0),
            budget_refusals: Arc::default(),
            threads,
            state: Mutex::new(PoolsState {
                lru: SegmentedLru::new(capacity),
                guards: HashMap::new(),
                retired: HashSet::new(),
                storage_pages: HashMap::new(),
            }),
            epoch: Instant::now(),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
            idle_closed: AtomicU64::new(0),
            open_connections: Arc::new(AtomicI64::new(0)),
            timings: Arc::default(),
            pending_closes: Arc::default(),
            closing_connections: Arc::default(),
        }
    }

    /// Closes evicted pools on the scheduler threads that open shop files: closing is I/O that a
    /// request which merely caused the eviction should not wait for, and the memory a closed
    /// connection frees is then reused by the next connection opened on the same thread, still in
    /// its cache and in its own allocator heap. When too many wait, closes here instead.
    fn close_later(&self, pools: Vec<Arc<TenantPool>>) {
        let connections = self.mark_closing(&pools);
        self.close_marked(pools, connections);
    }

    /// Counts the connections of evicted pools as closing until [`Self::close_marked`] closes them
    /// (a connection a request still holds closes when it is returned).
    fn mark_closing(&self, pools: &[Arc<TenantPool>]) -> i64 {
        let connections: i64 = pools.iter().map(|p| i64::from(p.pool.state().connections)).sum();
        self.closing_connections.fetch_add(connections, Ordering::AcqRel);
        connections
    }

    fn close_marked(&self, pools: Vec<Arc<TenantPool>>, connections: i64) {
        if pools.is_empty() {
            return;
        }
        let closing = Arc::clone(&self.closing_connections);
        let close = move || {
            drop(pools);
            closing.fetch_sub(connections, Ordering::AcqRel);
        };
        if self.pending_closes.fetch_add(1, Ordering::AcqRel) >= MAX_PENDING_CLOSES {
            self.pending_closes.fetch_sub(1, Ordering::AcqRel);
            close();
            return;
        }
        let pending = Arc::clone(&self.pending_closes);
        self.threads.execute(move || {
            close();
            pending.fetch_sub(1, Ordering::AcqRel);
        });
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// The pool for a shop, opening it (and evicting the least recently used one) if needed.
    /// Cheap: no file is touched until a connection is asked for.
    pub fn checkout(&self, client_id: i64) -> Result<ClientDb, AppError> {
        let now = self.now_ms();
        self.keep_within_budget(client_id);
        if let Some(pool) = self.lookup(client_id, now)? {
            return Ok(ClientDb { pool });
        }
        // A miss: check the file outside the lock (a syscall), then open the pool under it.
        let path = self.regions.path_of(client_id);
        if !path.exists() {
            tracing::error!(client_id, path = %path.display(), "shop file is missing");
            return Err(AppError::unavailable("client_unavailable", "this shop's data is unavailable"));
        }
        let mut evicted = None;
        let pool = {
            let mut st = self.state.lock();
            if st.retired.contains(&client_id) {
                return Err(AppError::unavailable("client_unavailable", "this shop is being deleted"));
            }
            if let Some(pool) = st.lru.get(&client_id) {
                // Another request opened it meanwhile.
                Arc::clone(pool)
            } else {
                self.misses.fetch_add(1, Ordering::Relaxed);
                let guard = Arc::clone(st.guards.entry(client_id).or_default());
                let manager = TenantManager {
                    client_id,
                    path,
                    guard: Arc::clone(&guard),
                    global_open: Arc::clone(&self.open_connections),
                    timings: Arc::clone(&self.timings),
                    max_pages: st.storage_pages.get(&client_id).copied().or(self.max_pages),
                    locking: self.locking,
                    limit: self.budget as i64,
                    refusals: Arc::clone(&self.budget_refusals),
                };
                let r2d2_pool = r2d2::Pool::builder()
                    .max_size(self.pool_size)
                    .min_idle(Some(0))
                    .idle_timeout(None)
                    .max_lifetime(None)
                    .test_on_check_out(false)
                    .connection_timeout(CHECKOUT_TIMEOUT)
                    .thread_pool(Arc::clone(&self.threads))
                    .build_unchecked(manager);
                let pool = Arc::new(TenantPool {
                    client_id,
                    pool: r2d2_pool,
                    guard,
                    last_used_ms: AtomicU64::new(now),
                    pace: crate::quotas::Pace::default(),
                    returns: Mutex::new(()),
                    returned: parking_lot::Condvar::new(),
                });
                if let Some((old_id, old)) = st.lru.insert(client_id, Arc::clone(&pool)) {
                    if old_id != client_id {
                        self.evictions.fetch_add(1, Ordering::Relaxed);
                    }
                    evicted = Some(old);
                }
                pool
            }
        };
        self.close_later(evicted.into_iter().collect());
        Ok(ClientDb { pool })
    }

    /// When open connections come within one pool's size of the budget, closes the least valuable
    /// pools (never `keep`'s) until there is room again, so that a connection about to open finds a
    /// place. The budget itself is enforced where connections open: past it they are refused (and
    /// r2d2 tries again), so open connections never exceed it, however many hot shops grow their
    /// pools at once. Connections of pools already evicted and still closing count as gone: without
    /// that, every request arriving before the closes finish evicted more pools again, and under
    /// load a full budget emptied a fifth of the LRU (W3-large's hit rate fell from 93 % to 82 %).
    fn keep_within_budget(&self, keep: i64) {
        let high = self.budget as i64 - i64::from(self.pool_size);
        let staying =
            || self.open_connections.load(Ordering::Acquire) - self.closing_connections.load(Ordering::Acquire);
        if staying() <= high {
            return;
        }
        let mut evicted = Vec::new();
        let marked = {
            let mut st = self.state.lock();
            let mut kept = None;
            let mut freed = 0i64;
            while staying() - freed > high {
                let Some((id, pool)) = st.lru.pop_least() else { break };
                if id == keep {
                    kept = Some((id, pool));
                    continue;
                }
                freed += i64::from(pool.pool.state().connections);
                evicted.push(pool);
            }
            if let Some((id, pool)) = kept {
                st.lru.insert(id, pool);
            }
            // Marked under the lock, so the next request to take it already sees them leaving.
            self.mark_closing(&evicted)
        };
        self.budget_evictions.fetch_add(evicted.len() as u64, Ordering::Relaxed);
        self.close_marked(evicted, marked);
    }

    /// The open pool for a shop, if the LRU has it (a hit); refuses retired shops.
    fn lookup(&self, client_id: i64, now: u64) -> Result<Option<Arc<TenantPool>>, AppError> {
        let mut st = self.state.lock();
        if st.retired.contains(&client_id) {
            return Err(AppError::unavailable("client_unavailable", "this shop is being deleted"));
        }
        Ok(st.lru.get(&client_id).map(|pool| {
            self.hits.fetch_add(1, Ordering::Relaxed);
            pool.last_used_ms.store(now, Ordering::Relaxed);
            Arc::clone(pool)
        }))
    }

    /// Stops serving a shop and waits until every connection to its file is closed. After `Ok`, no
    /// connection to the file exists and none can open, so the file may be removed.
    pub fn retire(&self, client_id: i64, timeout: Duration) -> Result<(), AppError> {
        let (evicted, guard) = {
            let mut st = self.state.lock();
            st.retired.insert(client_id);
            (st.lru.remove(&client_id), st.guards.remove(&client_id))
        };
        drop(evicted);
        let Some(guard) = guard else { return Ok(()) };
        guard.retired.store(true, Ordering::SeqCst);
        let deadline = Instant::now() + timeout;
        // Every pool, manager and connection of this file holds the guard: when ours is the last
        // reference, nothing is open.
        while Arc::strong_count(&guard) > 1 {
            if Instant::now() >= deadline {
                return Err(AppError::unavailable(
                    "client_busy",
                    "the shop still has requests in flight; deletion will be finished by the next attempt",
                ));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        Ok(())
    }

    /// Gives a shop its own storage quota (`None`: the server's default). Its pool is closed, so the
    /// next request opens connections with the new limit.
    pub fn set_storage_quota(&self, client_id: i64, bytes: Option<u64>) {
        let evicted = {
            let mut st = self.state.lock();
            match bytes {
                Some(b) => st.storage_pages.insert(client_id, (b / 4096).max(1)),
                None => st.storage_pages.remove(&client_id),
            };
            st.lru.remove(&client_id)
        };
        self.close_later(evicted.into_iter().collect());
    }

    /// Serves a retired shop again (after its file was swapped by a restore).
    pub fn reinstate(&self, client_id: i64) {
        self.state.lock().retired.remove(&client_id);
    }

    /// Closes pools unused for `idle`; returns how many.
    pub fn close_idle(&self, idle: Duration) -> usize {
        let cutoff = self.now_ms().saturating_sub(idle.as_millis() as u64);
        let closed: Vec<Arc<TenantPool>> = {
            let mut st = self.state.lock();
            let stale: Vec<i64> = st
                .lru
                .iter()
                .filter(|(_, p)| p.last_used_ms.load(Ordering::Relaxed) < cutoff)
                .map(|(id, _)| *id)
                .collect();
            stale.iter().filter_map(|id| st.lru.remove(id)).collect()
        };
        let n = closed.len();
        self.idle_closed.fetch_add(n as u64, Ordering::Relaxed);
        self.close_later(closed);
        n
    }

    pub fn stats(&self) -> PoolStats {
        let open_pools = self.state.lock().lru.len();
        PoolStats {
            open_pools,
            max_open_pools: self.capacity,
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            evictions: self.evictions.load(Ordering::Relaxed),
            idle_closed: self.idle_closed.load(Ordering::Relaxed),
            open_connections: self.open_connections.load(Ordering::SeqCst),
            connection_budget: self.budget,
            budget_evictions: self.budget_evictions.load(Ordering::Relaxed),
            budget_refusals: self.budget_refusals.load(Ordering::Relaxed),
            connections_opened: self.timings.count.load(Ordering::Relaxed),
            mean_connect_micros: self.timings.micros.load(Ordering::Relaxed)
                / self.timings.count.load(Ordering::Relaxed).max(1),
            connect_micros_total: self.timings.micros.load(Ordering::Relaxed),
        }
    }
}

/// A connection to one shop's file, checked out of its pool; handed back when dropped.
pub struct ShopConnection {
    conn: Option<r2d2::PooledConnection<TenantManager>>,
    pool: Arc<TenantPool>,
}

impl Deref for ShopConnection {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn.as_ref().expect("present until dropped")
    }
}

impl DerefMut for ShopConnection {
    fn deref_mut(&mut self) -> &mut Connection {
        self.conn.as_mut().expect("present until dropped")
    }
}

impl Drop for ShopConnection {
    fn drop(&mut self) {
        // Back to the pool's idle list first, then wake a checkout waiting for it.
        drop(self.conn.take());
        let _returns = self.pool.returns.lock();
        self.pool.returned.notify_one();
    }
}

/// A handle on one shop's database. Handlers receive it already resolved; it reaches only that file.
#[derive(Clone)]
pub struct ClientDb {
    pool: Arc<TenantPool>,
}

impl ClientDb {
    pub fn client_id(&self) -> i64 {
        self.pool.client_id
    }

    /// The shop's request pace, kept with its pool.
    pub fn pace(&self) -> &crate::quotas::Pace {
        &self.pool.pace
    }

    /// Checks out a connection (blocking; for the CLI, jobs and code already off the async workers).
    /// A connection handed back within [`GROW_AFTER`] is reused; only then does the pool grow.
    pub fn get(&self) -> Result<ShopConnection, AppError> {
        // A request that took this pool before its shop was retired must not wait out the checkout
        // timeout on connections that can no longer open: look at the guard between short waits.
        let retired = || self.pool.guard.retired.load(Ordering::SeqCst);
        let deleted = || AppError::unavailable("client_unavailable", "this shop is being deleted");
        if retired() {
            return Err(deleted());
        }
        if let Some(conn) = self.returned_within(GROW_AFTER) {
            return Ok(ShopConnection { conn: Some(conn), pool: Arc::clone(&self.pool) });
        }
        let deadline = Instant::now() + CHECKOUT_TIMEOUT;
        loop {
            if retired() {
                return Err(deleted());
            }
            let wait = deadline.saturating_duration_since(Instant::now()).min(RETIRED_POLL);
            match self.pool.pool.get_timeout(wait) {
                Ok(conn) => return Ok(ShopConnection { conn: Some(conn), pool: Arc::clone(&self.pool) }),
                Err(_) if retired() => return Err(deleted()),
                Err(e) if Instant::now() >= deadline => {
                    tracing::warn!(client_id = self.pool.client_id, error = %e, "no connection to shop file");
                    return Err(AppError::unavailable(
                        "client_unavailable",
                        "this shop is busy or unavailable; try again",
                    ));
                }
                Err(_) => {}
            }
        }
    }

    /// An idle connection of the pool, waiting up to `patience` for a busy one to be handed back;
    /// `None` at once when the pool has none open.
    fn returned_within(&self, patience: Duration) -> Option<r2d2::PooledConnection<TenantManager>> {
        let p = &self.pool;
        let deadline = Instant::now() + patience;
        // Held while looking, released only by the wait: a hand-back (which signals under the same
        // lock) cannot slip between the look and the wait.
        let mut returns = p.returns.lock();
        loop {
            if let Some(conn) = p.pool.try_get() {
                return Some(conn);
            }
            if p.pool.state().connections == 0 {
                return None;
            }
            if p.returned.wait_until(&mut returns, deadline).timed_out() {
                return p.pool.try_get();
            }
        }
    }

    /// Runs `f` on a connection to this shop's file, off the async worker threads.
    pub async fn run<T, F>(&self, f: F) -> Result<T, AppError>
    where
        F: FnOnce(&mut Connection) -> Result<T, AppError> + Send + 'static,
        T: Send + 'static,
    {
        let db = self.clone();
        actix_web::web::block(move || {
            let mut conn = db.get()?;
            crate::observability::for_shop(db.client_id(), || f(&mut conn))
        })
        .await?
    }

    /// Runs `f` in one `BEGIN IMMEDIATE` transaction: committed if it returns `Ok`, rolled back otherwise.
    pub async fn write<T, F>(&self, f: F) -> Result<T, AppError>
    where
        F: FnOnce(&rusqlite::Transaction<'_>) -> Result<T, AppError> + Send + 'static,
        T: Send + 'static,
    {
        self.run(move |conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let value = f(&tx)?;
            tx.commit()?;
            Ok(value)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use scheduled_thread_pool::ScheduledThreadPool;

    use super::TenantPools;
    use crate::db::ShopLocking;
    use crate::tenancy::{regions::Regions, template::ClientTemplate};

    /// Evicted pools close on the scheduler threads; until they have, their connections must count
    /// as leaving, or each request arriving meanwhile evicts another pool for the same overshoot.
    #[test]
    fn pools_already_closing_are_not_evicted_for_again() {
        let dir = tempfile::tempdir().unwrap();
        let template = ClientTemplate::new().unwrap();
        for id in 1..=5 {
            template.build_file(dir.path(), id).unwrap();
        }
        let threads = Arc::new(ScheduledThreadPool::new(1));
        let regions = Arc::new(Regions::new(dir.path().to_path_buf(), Vec::new()));
        // Budget 5 with pools of one connection: evictions start once 5 are open.
        let pools = TenantPools::new(regions, 100, 1, None, ShopLocking::Shared, 5, Arc::clone(&threads));
        for id in 1..=5 {
            drop(pools.checkout(id).unwrap().get().unwrap());
        }
        assert_eq!(pools.stats().open_connections, 5);
        assert_eq!(pools.stats().budget_evictions, 0);

        // Hold the only scheduler thread, so evicted pools stay open (closing) for a while.
        let (release, held) = std::sync::mpsc::channel::<()>();
        threads.execute(move || {
            let _ = held.recv();
        });
        pools.keep_within_budget(0);
        assert_eq!(pools.stats().budget_evictions, 1, "one pool makes the room");
        for _ in 0..10 {
            pools.keep_within_budget(0);
        }
        assert_eq!(pools.stats().budget_evictions, 1, "the pool still closing was counted as gone");
        assert_eq!(pools.stats().open_pools, 4);

        release.send(()).unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while pools.stats().open_connections > 4 {
            assert!(std::time::Instant::now() < deadline, "the evicted pool never closed");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert_eq!(pools.closing_connections.load(std::sync::atomic::Ordering::SeqCst), 0);
    }
}
