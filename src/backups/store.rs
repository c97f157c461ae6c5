//! Backup files: copy a live database online, verify the copy, publish it with its manifest, list,
//! find, delete and prune. Plain functions over paths and `&Connection`; the tenancy-aware steps
//! (which file, which lock) are in [`backup_client`] and [`backup_main`].

use std::io::Read as _;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use rusqlite::{Connection, OpenFlags};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::retention::Keep;
use super::{BackupInfo, BackupKind, Source, TMP_PREFIX, is_valid_name};
use crate::db::{self, migrations};
use crate::error::AppError;
use crate::tenancy::{Tenancy, files};

/// What identifies a file's contents without reading it: inode, sizes and modification times (ns)
/// of the database and its `-wal`. Every commit changes the `-wal` (or, after a checkpoint, the
/// database); a checkpoint alone may change it too, which only costs one unneeded copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    ino: u64,
    db_size: u64,
    db_mtime_ns: i128,
    wal_size: u64,
    wal_mtime_ns: i128,
}

pub fn fingerprint(path: &Path) -> std::io::Result<Fingerprint> {
    let db = std::fs::metadata(path)?;
    let wal = std::fs::metadata(files::family(path)[1].as_path()).ok();
    let ns = |m: &std::fs::Metadata| i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec());
    Ok(Fingerprint {
        ino: db.ino(),
        db_size: db.len(),
        db_mtime_ns: ns(&db),
        wal_size: wal.as_ref().map_or(0, |m| m.len()),
        wal_mtime_ns: wal.as_ref().map_or(0, ns),
    })
}

/// Copies the database behind `src` into a new file at `dst` with SQLite's backup API, in one step
/// (one read transaction: a consistent snapshot while writers go on in WAL mode). The copy uses a
/// rollback journal, so it is one self-contained file, and is fsynced.
pub fn copy_online(src: &Connection, dst: &Path) -> anyhow::Result<()> {
    let _ = std::fs::remove_file(dst);
    let out = db::copy_into_new_file(src, dst)?;
    db::finish_new_file(out, dst, "delete")
}

/// Opens a database file nobody else writes, read-only and defensively: no trusted schema (views,
/// triggers and defaults cannot call functions with side effects), `SQLITE_DBCONFIG_DEFENSIVE`
/// (no writable schema, no shadow-table writes), no extension loading.
pub fn open_untrusted(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    harden(&conn)?;
    Ok(conn)
}

/// The defensive settings of [`open_untrusted`], for a connection opened otherwise.
pub fn harden(conn: &Connection) -> rusqlite::Result<()> {
    use rusqlite::config::DbConfig;
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_DEFENSIVE, true)?;
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_TRUSTED_SCHEMA, false)?;
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_TRIGGER, false)?;
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_VIEW, false)?;
    conn.busy_timeout(db::BUSY_TIMEOUT)
}

/// Checks a copied database: `integrity_check`, then for a shop its stamp and a schema version this
/// binary knows, for main.db its registry table. Returns the schema version.
pub fn verify_copy(path: &Path, source: Source) -> anyhow::Result<i64> {
    let conn = open_untrusted(path).with_context(|| format!("opening {}", path.display()))?;
    let check: String = conn.query_row("PRAGMA integrity_check(1)", [], |r| r.get(0)).context("integrity_check")?;
    if check != "ok" {
        bail!("integrity_check: {check}");
    }
    let version = migrations::client_version(&conn)?;
    match source {
        Source::Client(id) => {
            let owner: i64 = conn
                .query_row("SELECT client_id FROM shop WHERE id = 1", [], |r| r.get(0))
                .context("reading the shop stamp")?;
            if owner != id {
                bail!("the copy is stamped for client {owner}, not {id}");
            }
            if version < 1 || version > migrations::latest_client_version() {
                bail!("schema version {version} is not one this server knows");
            }
        }
        Source::Main => {
            conn.query_row("SELECT COUNT(*) FROM clients", [], |r| r.get::<_, i64>(0)).context("reading clients")?;
        }
    }
    Ok(version)
}

pub fn sha256_file(path: &Path) -> std::io::Result<(String, u64)> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    Ok((format!("{:x}", hasher.finalize()), total))
}

fn db_path(folder: &Path, name: &str) -> PathBuf {
    folder.join(format!("{name}.db"))
}

fn manifest_path(folder: &Path, name: &str) -> PathBuf {
    folder.join(format!("{name}.json"))
}

/// A name for a new backup in `folder`, unique there.
fn new_name(folder: &Path, kind: BackupKind) -> String {
    let now = OffsetDateTime::now_utc();
    let stamp = format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}{:03}Z",
        now.year(),
        now.month() as u8,
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        now.millisecond()
    );
    let base = format!("{}-{stamp}", kind.as_str());
    let mut name = base.clone();
    let mut n = 2;
    while db_path(folder, &name).exists() || manifest_path(folder, &name).exists() {
        name = format!("{base}-{n}");
        n += 1;
    }
    name
}

/// Copies, verifies and publishes one backup of the database behind `src` into `folder`.
pub fn make_backup(
    src: &Connection,
    folder: &Path,
    source: Source,
    kind: BackupKind,
    fingerprint: Option<Fingerprint>,
) -> anyhow::Result<BackupInfo> {
    make_backup_unless_same(src, folder, source, kind, fingerprint, None)?
        .ok_or_else(|| anyhow::anyhow!("no backup was written"))
}

/// [`make_backup`], except that a copy identical (SHA-256) to `previous` is not published: the
/// file's metadata changed without its contents (a checkpoint moved pages from the `-wal` into the
/// database). `previous` then takes the new fingerprint, and `None` is returned.
pub fn make_backup_unless_same(
    src: &Connection,
    folder: &Path,
    source: Source,
    kind: BackupKind,
    fingerprint: Option<Fingerprint>,
    previous: Option<&BackupInfo>,
) -> anyhow::Result<Option<BackupInfo>> {
    crate::sys::create_private_folder(folder).with_context(|| format!("creating {}", folder.display()))?;
    let name = new_name(folder, kind);
    let tmp = folder.join(format!("{TMP_PREFIX}{name}.db"));
    let result = (|| {
        copy_online(src, &tmp)?;
        let (sha256, size_bytes) = sha256_file(&tmp)?;
        if let Some(previous) = previous.filter(|p| p.sha256 == sha256 && p.size_bytes == size_bytes) {
            std::fs::remove_file(&tmp)?;
            let refreshed = BackupInfo { fingerprint, ..previous.clone() };
            write_manifest(folder, &refreshed)?;
            return Ok(None);
        }
        let schema_version = verify_copy(&tmp, source).context("verifying the new backup")?;
        let info = BackupInfo {
            name: name.clone(),
            kind,
            created_at: OffsetDateTime::now_utc()
                .replace_nanosecond(0)
                .map_err(anyhow::Error::from)?
                .format(&time::format_description::well_known::Rfc3339)?,
            size_bytes,
            schema_version,
            verified: true,
            client_id: match source {
                Source::Client(id) => Some(id),
                Source::Main => None,
            },
            sha256,
            fingerprint,
        };
        publish(folder, &info, &tmp)?;
        Ok(Some(info))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Writes the manifest, then renames the copy into place: the rename is the moment the backup exists.
fn publish(folder: &Path, info: &BackupInfo, tmp_db: &Path) -> anyhow::Result<()> {
    write_manifest(folder, info)?;
    std::fs::rename(tmp_db, db_path(folder, &info.name))?;
    files::sync_dir(folder)
}

/// Writes (or replaces) a manifest atomically: a temporary file, fsynced, renamed.
fn write_manifest(folder: &Path, info: &BackupInfo) -> anyhow::Result<()> {
    let tmp_manifest = folder.join(format!("{TMP_PREFIX}{}.json", info.name));
    std::fs::write(&tmp_manifest, serde_json::to_vec_pretty(info)?)?;
    std::fs::File::open(&tmp_manifest).and_then(|f| f.sync_all())?;
    std::fs::rename(&tmp_manifest, manifest_path(folder, &info.name))?;
    Ok(())
}

/// The published backups in `folder`, newest first. Files being written and manifests whose
/// database is missing are not backups.
pub fn list(folder: &Path) -> anyhow::Result<Vec<BackupInfo>> {
    let entries = match std::fs::read_dir(folder) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("listing {}", folder.display())),
    };
    let mut out = Vec::new();
    for entry in entries.filter_map(Result::ok) {
        let Some(file) = entry.file_name().to_str().map(str::to_owned) else { continue };
        let Some(name) = file.strip_suffix(".db") else { continue };
        if !is_valid_name(name) {
            continue;
        }
        out.extend(read_manifest(folder, name));
    }
    out.sort_by(|a, b| stamp(&b.name).cmp(stamp(&a.name)).then_with(|| b.name.cmp(&a.name)));
    Ok(out)
}

/// The time part of a name (names of every kind sort by it).
fn stamp(name: &str) -> &str {
    let rest = name.strip_prefix("pre-restore-").unwrap_or(name);
    rest.split_once('-').map_or(rest, |(_, s)| s)
}

fn stamp_time(name: &str) -> Option<OffsetDateTime> {
    let s = stamp(name);
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second][subsecond digits:3]Z");
    time::PrimitiveDateTime::parse(s.get(..19)?, &format).ok().map(|t| t.assume_utc())
}

/// One backup by its opaque name; `None` for anything that is not a published backup in `folder`.
pub fn find(folder: &Path, name: &str) -> anyhow::Result<Option<(BackupInfo, PathBuf)>> {
    if !is_valid_name(name) {
        return Ok(None);
    }
    let path = db_path(folder, name);
    if !path.is_file() {
        return Ok(None);
    }
    Ok(read_manifest(folder, name).map(|b| (b, path)))
}

/// The manifest of backup `name`, if it exists and describes that name (a missing one means the
/// backup was never published; an unreadable one is logged). The caller has checked the name.
fn read_manifest(folder: &Path, name: &str) -> Option<BackupInfo> {
    let raw = std::fs::read(manifest_path(folder, name)).ok()?;
    match serde_json::from_slice::<BackupInfo>(&raw) {
        Ok(info) if info.name == name => Some(info),
        _ => {
            tracing::warn!(folder = %folder.display(), name, "unreadable backup manifest; not listed");
            None
        }
    }
}

/// Removes a backup: the database first (it stops being listed), then its manifest.
pub fn delete(folder: &Path, name: &str) -> anyhow::Result<bool> {
    if !is_valid_name(name) || !db_path(folder, name).is_file() {
        return Ok(false);
    }
    std::fs::remove_file(db_path(folder, name))?;
    let _ = std::fs::remove_file(manifest_path(folder, name));
    files::sync_dir(folder)?;
    Ok(true)
}

/// Deletes the backups in `folder` that `keep` does not keep; returns their names.
pub fn prune(folder: &Path, keep: &Keep) -> anyhow::Result<Vec<String>> {
    let all = list(folder)?;
    let times: Vec<OffsetDateTime> =
        all.iter().map(|b| stamp_time(&b.name).unwrap_or(OffsetDateTime::UNIX_EPOCH)).collect();
    let kept = keep.select(&times);
    let mut removed = Vec::new();
    for (i, b) in all.iter().enumerate() {
        if !kept.contains(&i) && delete(folder, &b.name)? {
            removed.push(b.name.clone());
        }
    }
    Ok(removed)
}

/// Re-checks a backup before it is used: the file is the one the manifest describes (size and
/// SHA-256, so a flipped byte anywhere is caught), and it still passes verification.
pub fn check_before_use(path: &Path, info: &BackupInfo, source: Source) -> Result<(), AppError> {
    let refuse = |why: String| AppError::unprocessable("backup_invalid", format!("backup {}: {why}", info.name));
    let (sha, size) = sha256_file(path).map_err(|e| refuse(format!("unreadable ({e})")))?;
    if size != info.size_bytes || sha != info.sha256 {
        return Err(refuse("its contents no longer match its manifest (damaged or changed)".into()));
    }
    verify_copy(path, source).map_err(|e| refuse(format!("{e:#}")))?;
    Ok(())
}

/// Removes files left by backups a crash interrupted (`.tmp-*` in every backup folder).
pub fn remove_unfinished(backup_dir: &Path) -> anyhow::Result<usize> {
    let mut removed = 0;
    let Ok(folders) = std::fs::read_dir(backup_dir) else { return Ok(0) };
    // Every folder holds its files directly: client_<id>/, main/ and deleted/ alike.
    for folder in folders.filter_map(Result::ok).filter(|e| e.file_type().is_ok_and(|t| t.is_dir())) {
        let Ok(entries) = std::fs::read_dir(folder.path()) else { continue };
        for e in entries.filter_map(Result::ok) {
            if e.file_name().to_str().is_some_and(|n| n.starts_with(TMP_PREFIX)) {
                std::fs::remove_file(e.path()).with_context(|| format!("removing {}", e.path().display()))?;
                removed += 1;
            }
        }
    }
    Ok(removed)
}

/// What backing up one shop did.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    Created {
        backup: BackupInfo,
        pruned: Vec<String>,
        /// Time to open, copy, verify and publish, in milliseconds.
        elapsed_ms: f64,
    },
    /// The shop file has not changed since its newest backup.
    Unchanged { latest: String },
}

/// Backs up one shop online. Unless `force`, a shop whose file is unchanged since its newest
/// backup is not copied again. Holds the shop's file-operation lock (no restore, export or deletion
/// meanwhile) and reads the file through its own connection, not the LRU's pools.
pub fn backup_client(
    tenancy: &Tenancy,
    backup_dir: &Path,
    keep: &Keep,
    id: i64,
    kind: BackupKind,
    force: bool,
) -> Result<Outcome, AppError> {
    let _op = tenancy.file_ops.lock(id)?;
    let started = std::time::Instant::now();
    let path = tenancy.regions.path_of(id);
    let unavailable = |e: &dyn std::fmt::Display| {
        tracing::error!(client_id = id, error = %e, "shop file is missing or unreadable");
        AppError::unavailable("client_unavailable", "this shop's data is unavailable")
    };
    if !path.exists() {
        return Err(unavailable(&"no shop file"));
    }
    let folder = Source::Client(id).folder(backup_dir);
    let latest = list(&folder)?.into_iter().find(|b| b.fingerprint.is_some());
    // Taken with our connection open, so what opening does to the files (creating an empty `-wal`)
    // is part of it; anything written after it is copied now and seen as a change next time.
    let conn = db::open_shop_file(&path, tenancy.locking, 256, db::BUSY_TIMEOUT)
        .map_err(|e| AppError::Internal(anyhow::Error::new(e).context(format!("opening {}", path.display()))))?;
    let fp = fingerprint(&path).map_err(|e| unavailable(&e))?;
    let previous = latest.filter(|_| !force);
    if let Some(latest) = &previous
        && latest.fingerprint == Some(fp)
    {
        return Ok(Outcome::Unchanged { latest: latest.name.clone() });
    }
    let made = make_backup_unless_same(&conn, &folder, Source::Client(id), kind, Some(fp), previous.as_ref())
        .map_err(|e| AppError::Internal(e.context(format!("backing up client {id}"))))?;
    let Some(backup) = made else {
        let latest = previous.map(|p| p.name).unwrap_or_default();
        return Ok(Outcome::Unchanged { latest });
    };
    drop(conn);
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    let pruned = prune(&folder, keep)?;
    tracing::info!(client_id = id, backup = %backup.name, size = backup.size_bytes, pruned = pruned.len(), "backup made");
    Ok(Outcome::Created { backup, pruned, elapsed_ms })
}

/// Backs up main.db online through a registry connection.
pub fn backup_main(
    main: &Connection,
    backup_dir: &Path,
    keep: &Keep,
    kind: BackupKind,
) -> Result<BackupInfo, AppError> {
    let folder = Source::Main.folder(backup_dir);
    let backup = make_backup(main, &folder, Source::Main, kind, None)
        .map_err(|e| AppError::Internal(e.context("backing up main.db")))?;
    prune(&folder, keep)?;
    Ok(backup)
}
