//! SQLite plumbing shared by the registry and the shop files: PRAGMAs, the main pool, migrations.

pub mod migrations;

use std::ffi::c_void;
use std::os::raw::c_int;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Connection, OpenFlags};
use scheduled_thread_pool::ScheduledThreadPool;

use crate::error::{AppError, Context};

/// How long a connection waits on another writer before giving up with SQLITE_BUSY.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// How long opening a shop for the LRU waits for its first lock before r2d2 tries again later.
/// Inside the process the lock is never held longer than a commit.
pub const SHOP_FIRST_LOCK_WAIT: Duration = Duration::from_millis(250);
/// How long a request waits for a pooled connection before failing with a clear error.
pub const CHECKOUT_TIMEOUT: Duration = Duration::from_secs(5);

/// Process-wide SQLite settings, applied once before the first connection opens:
/// - SQLite allocates through mimalloc instead of glibc's malloc. Opening a shop file parses its
///   schema into thousands of small allocations and closing it frees them, on whichever threads
///   open and close shops; under the cold-spread benchmark glibc spent a third of the server's CPU
///   in its arena locks and the context switches they cause. mimalloc keeps per-thread heaps.
/// - memory statistics off: keeping them takes one global mutex on every SQLite allocation, which
///   every thread opening or querying a shop file then queues on;
/// - no per-connection lookaside buffer: it is 120 KiB per connection, and a thousand open shops
///   would spend 120 MB on it.
pub fn configure_sqlite() {
    use rusqlite::ffi;
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let methods = ffi::sqlite3_mem_methods {
            xMalloc: Some(sqlite_malloc),
            xFree: Some(sqlite_free),
            xRealloc: Some(sqlite_realloc),
            xSize: Some(sqlite_size),
            xRoundup: Some(sqlite_roundup),
            xInit: Some(sqlite_mem_init),
            xShutdown: Some(sqlite_mem_shutdown),
            pAppData: std::ptr::null_mut(),
        };
        // SAFETY: each option takes the arguments given (SQLite copies the methods struct);
        // sqlite3_config is only valid before sqlite3_initialize, and otherwise returns
        // SQLITE_MISUSE without effect.
        let rc = unsafe {
            ffi::sqlite3_config(ffi::SQLITE_CONFIG_MALLOC, &methods as *const ffi::sqlite3_mem_methods)
                | ffi::sqlite3_config(ffi::SQLITE_CONFIG_MEMSTATUS, 0 as c_int)
                | ffi::sqlite3_config(ffi::SQLITE_CONFIG_LOOKASIDE, 0 as c_int, 0 as c_int)
        };
        if rc != ffi::SQLITE_OK {
            tracing::debug!(rc, "SQLite was initialised before it could be configured");
        }
    });
}

// SQLite's allocator interface over mimalloc. SQLite never asks for a negative size, needs 8-byte
// alignment (mimalloc gives 16) and only passes pointers it got from these functions.
unsafe extern "C" fn sqlite_malloc(n: c_int) -> *mut c_void {
    // SAFETY: plain allocation.
    unsafe { libmimalloc_sys::mi_malloc(n.max(0) as usize) }
}
unsafe extern "C" fn sqlite_free(p: *mut c_void) {
    // SAFETY: `p` came from sqlite_malloc/sqlite_realloc (or is null).
    unsafe { libmimalloc_sys::mi_free(p) }
}
unsafe extern "C" fn sqlite_realloc(p: *mut c_void, n: c_int) -> *mut c_void {
    // SAFETY: as for sqlite_free.
    unsafe { libmimalloc_sys::mi_realloc(p, n.max(0) as usize) }
}
unsafe extern "C" fn sqlite_size(p: *mut c_void) -> c_int {
    // SAFETY: as for sqlite_free.
    unsafe { libmimalloc_sys::mi_usable_size(p) as c_int }
}
unsafe extern "C" fn sqlite_roundup(n: c_int) -> c_int {
    // SAFETY: pure computation.
    unsafe { libmimalloc_sys::mi_good_size(n.max(0) as usize) as c_int }
}
unsafe extern "C" fn sqlite_mem_init(_: *mut c_void) -> c_int {
    rusqlite::ffi::SQLITE_OK
}
unsafe extern "C" fn sqlite_mem_shutdown(_: *mut c_void) {}

/// Applies the house PRAGMAs. `cache_kib` bounds this connection's page cache.
///
/// `synchronous=NORMAL` in WAL mode survives process crashes without losing commits; only a power
/// cut can lose the last transactions, never corrupt the file. That is the trade we make for
/// checkout throughput; the README says so.
pub fn apply_pragmas(conn: &Connection, cache_kib: u32) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(failure(format!("journal_mode is {mode}, expected wal")));
    }
    conn.execute_batch(&format!(
        "PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; PRAGMA cache_size = -{cache_kib}; PRAGMA temp_store = MEMORY;"
    ))
}

/// Opens one standalone connection with the house PRAGMAs (CLI, reconciliation, provisioning).
/// `create` decides whether a missing file may be created.
pub fn open_file(path: &Path, create: bool, cache_kib: u32) -> rusqlite::Result<Connection> {
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    if create {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    }
    let conn = Connection::open_with_flags(path, flags)?;
    apply_pragmas(&conn, cache_kib)?;
    Ok(conn)
}

/// How shop files are locked against other processes (`VERGEFLOW_SHOP_LOCKING`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ShopLocking {
    /// SQLite's standard unix locking (the default): other processes may open a shop file the
    /// server has open — `sqlite3`, `.backup`, backup scripts, Litestream — with WAL's usual
    /// rules (any number of readers, one writer at a time, waiting on each other's commits).
    #[default]
    Shared,
    /// The `unix-excl` VFS: the server takes one exclusive OS lock on a shop file the first time
    /// it opens it, held until its last connection to the file closes. Connections inside the
    /// process coordinate in memory and the WAL index lives in the heap instead of a `-shm` file,
    /// so opening, reading and closing a shop costs about a third less (no `-shm` to create, map
    /// and lock; no `fcntl` per transaction). The price: no other process can open a shop file
    /// the server has open (it gets `database is locked`), so outside tools and Litestream cannot
    /// read live shops; use the server's own backups.
    Exclusive,
}

impl ShopLocking {
    /// The SQLite VFS that implements this mode.
    pub fn vfs(self) -> &'static std::ffi::CStr {
        match self {
            Self::Shared => c"unix",
            Self::Exclusive => c"unix-excl",
        }
    }
}

/// Opens a shop file (never creating it) with the house PRAGMAs, through the VFS of `locking`,
/// keeping `-wal` (and `-shm`) on disk between opens and emptying the WAL when the last connection
/// closes.
///
/// `journal_size_limit = 0` matters more than it looks: a WAL left with frames in it is replayed
/// by the next first opener and checkpointed again (with an fsync) by the next last closer, so a
/// shop that cycles through the LRU would pay a checkpoint on every close (~300 µs measured).
///
/// `first_lock_wait` bounds how long the first lock on the file may wait. That lock is where another
/// process holding the file shows; the LRU passes [`SHOP_FIRST_LOCK_WAIT`] so the shared thread
/// opening the shop gives up quickly and r2d2 retries later without holding a thread, instead of
/// one held file stalling every other shop's opening for the whole busy timeout.
pub fn open_shop_file(
    path: &Path,
    locking: ShopLocking,
    cache_kib: u32,
    first_lock_wait: Duration,
) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags_and_vfs(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        locking.vfs(),
    )?;
    conn.busy_timeout(first_lock_wait)?;
    conn.query_row("PRAGMA schema_version", [], |_| Ok(()))?;
    apply_pragmas(&conn, cache_kib)?;
    persist_wal(&conn)?;
    conn.execute_batch("PRAGMA journal_size_limit = 0")?;
    Ok(conn)
}

/// Keeps `-wal` on disk when the last connection closes (and `-shm`, for VFSes that use one).
/// Shops are opened and closed all day by the LRU; recreating the files on every reopen costs more
/// than the open itself. Deletion removes them with the database.
pub fn persist_wal(conn: &Connection) -> rusqlite::Result<()> {
    let mut on: std::os::raw::c_int = 1;
    // SAFETY: the handle is valid for the life of `conn`; the op reads and writes one c_int.
    let rc = unsafe {
        rusqlite::ffi::sqlite3_file_control(
            conn.handle(),
            c"main".as_ptr(),
            rusqlite::ffi::SQLITE_FCNTL_PERSIST_WAL,
            (&mut on as *mut std::os::raw::c_int).cast(),
        )
    };
    if rc == rusqlite::ffi::SQLITE_OK { Ok(()) } else { Err(failure(format!("enabling persistent WAL failed ({rc})"))) }
}

/// Copies the database behind `src` page by page into a new file at `dst` with SQLite's backup API,
/// in one step (one read transaction: a consistent snapshot while writers go on in WAL mode).
/// While it is filled `dst` has no journal and no syncing: a half-written file is discarded, never
/// repaired, and [`finish_new_file`] makes the finished one durable. Shop provisioning, backups,
/// restores and imports all build their files this way.
pub fn copy_into_new_file(src: &Connection, dst: &Path) -> anyhow::Result<Connection> {
    use anyhow::Context as _;
    let mut out = Connection::open(dst).with_context(|| format!("creating {}", dst.display()))?;
    out.execute_batch("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;")
        .with_context(|| format!("preparing {}", dst.display()))?;
    rusqlite::backup::Backup::new(src, &mut out)
        .and_then(|b| b.run_to_completion(i32::MAX, Duration::ZERO, None))
        .with_context(|| format!("copying into {}", dst.display()))?;
    Ok(out)
}

/// Gives a file built by [`copy_into_new_file`] its journal mode (`wal` for a shop file, `delete`
/// for a self-contained copy; a header flag), closes it and fsyncs it.
pub fn finish_new_file(conn: Connection, path: &Path, journal_mode: &str) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let mode: String = conn.query_row(&format!("PRAGMA journal_mode = {journal_mode}"), [], |r| r.get(0))?;
    anyhow::ensure!(
        mode.eq_ignore_ascii_case(journal_mode),
        "{} refused journal_mode {journal_mode} ({mode})",
        path.display()
    );
    conn.close().map_err(|(_, e)| e).with_context(|| format!("closing {}", path.display()))?;
    std::fs::File::open(path).and_then(|f| f.sync_all()).with_context(|| format!("syncing {}", path.display()))
}

/// A pooled connection to the main registry. Its own type, so a shop handler cannot reach
/// `main.db` by accident.
pub type MainConnection = r2d2::PooledConnection<SqliteConnectionManager>;

/// The main registry's pool.
#[derive(Clone)]
pub struct MainDb {
    pool: r2d2::Pool<SqliteConnectionManager>,
    /// Taken around the frequent writes (a checkout's mail and webhooks, the job workers' claims
    /// and settlements): writers of this process queue here, in order, instead of colliding in
    /// SQLite's busy handler, which backs off by sleeping milliseconds at a time.
    writes: Arc<parking_lot::Mutex<()>>,
}

impl MainDb {
    /// Opens (creating if needed) `main.db` and runs its migrations.
    pub fn open(data_dir: &Path, threads: Arc<ScheduledThreadPool>) -> anyhow::Result<Self> {
        use anyhow::Context as _;
        crate::sys::make_data_folder_private(data_dir)
            .with_context(|| format!("making data folder {} private", data_dir.display()))?;
        let path = data_dir.join("main.db");
        {
            let mut conn = open_file(&path, true, 8192).with_context(|| format!("opening {}", path.display()))?;
            migrations::migrate_main(&mut conn).context("migrating main.db")?;
        }
        let manager = SqliteConnectionManager::file(&path)
            .with_flags(OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)
            .with_init(|c| apply_pragmas(c, 8192));
        let pool = r2d2::Pool::builder()
            .max_size(8)
            .min_idle(Some(1))
            .idle_timeout(None)
            .max_lifetime(None)
            .test_on_check_out(false)
            .connection_timeout(CHECKOUT_TIMEOUT)
            .thread_pool(threads)
            .build(manager)
            .map_err(|e| anyhow::anyhow!("opening the main.db pool: {e}"))?;
        Ok(Self { pool, writes: Arc::new(parking_lot::Mutex::new(())) })
    }

    /// Holds the in-process write turn (see `writes`); take it before `BEGIN IMMEDIATE`.
    pub fn write_turn(&self) -> parking_lot::MutexGuard<'_, ()> {
        self.writes.lock()
    }

    /// Runs `f` in one `BEGIN IMMEDIATE` transaction on main.db, in this process's write turn, off
    /// the async worker threads: committed if it returns `Ok`.
    pub async fn write<T, F>(&self, f: F) -> Result<T, AppError>
    where
        F: FnOnce(&rusqlite::Transaction<'_>) -> Result<T, AppError> + Send + 'static,
        T: Send + 'static,
    {
        let db = self.clone();
        actix_web::web::block(move || db.write_now(f)).await?
    }

    /// [`MainDb::write`] for code already off the async workers.
    pub fn write_now<T>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T, AppError>,
    ) -> Result<T, AppError> {
        let _turn = self.write_turn();
        let mut conn = self.pool.get().context("checking out a main.db connection")?;
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let value = f(&tx)?;
        tx.commit()?;
        Ok(value)
    }

    /// A connection for synchronous callers (CLI, job worker, tests).
    pub fn get(&self) -> Result<MainConnection, AppError> {
        self.pool.get().context("checking out a main.db connection")
    }

    /// Runs `f` on a main.db connection off the async worker threads.
    pub async fn run<T, F>(&self, f: F) -> Result<T, AppError>
    where
        F: FnOnce(&mut Connection) -> Result<T, AppError> + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.pool.clone();
        actix_web::web::block(move || {
            let mut conn = pool.get().context("checking out a main.db connection")?;
            f(&mut conn)
        })
        .await?
    }
}

/// One shared scheduler for every r2d2 pool (without it each pool would start three threads). It
/// opens every connection and closes the shop pools the LRU evicts.
pub fn shared_pool_threads() -> Arc<ScheduledThreadPool> {
    Arc::new(ScheduledThreadPool::builder().num_threads(4).thread_name_pattern("sqlite-open-{}").build())
}

/// Current time as RFC 3339 UTC with seconds, the format every table stores.
pub fn now_rfc3339(conn: &Connection) -> rusqlite::Result<String> {
    conn.query_row("SELECT strftime('%Y-%m-%dT%H:%M:%SZ', 'now')", [], |r| r.get(0))
}

/// A SQLite-shaped error for conditions we detect ourselves (wrong journal mode, wrong shop stamp).
pub fn failure(message: String) -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ERROR), Some(message))
}
