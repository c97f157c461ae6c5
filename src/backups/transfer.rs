//! Moving a shop between servers: export to one self-contained file, import it elsewhere.
//!
//! An export is a SQLite file: a verified copy of the shop file plus one table,
//! `vergeflow_export(key, value)`, holding the format, the registry row (name, subdomain, domain)
//! and the shop's admins (name, e-mail, password hash, so they sign in with the same password).
//!
//! An import file is untrusted. It must start with SQLite's header, stay within the size limit, open
//! with SQLite's defensive settings, have exactly the schema of one of our client migration versions
//! (besides the export table and Litestream's two bookkeeping tables: no extra table, index, view
//! or trigger), carry our migration history, and pass `integrity_check`. Only then is a registry
//! row written and the file copied into place under a new id.

use std::collections::BTreeSet;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use serde::{Deserialize, Serialize};

use super::store;
use crate::auth::Email;
use crate::auth::users::{self, PortableAdmin};
use crate::db::{self, migrations};
use crate::error::{AppError, is_unique_violation};
use crate::tenancy::names::{Domain, Subdomain};
use crate::tenancy::registry::{self, Client};
use crate::tenancy::{Tenancy, files};

/// The `format` an export declares.
pub const FORMAT: &str = "vergeflow-export-1";
const EXPORT_TABLE: &str = "vergeflow_export";
/// Tables Litestream adds to every database it replicates; accepted and dropped on import.
const LITESTREAM_TABLES: [&str; 2] = ["_litestream_seq", "_litestream_lock"];

/// The registry part of an export.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExportedClient {
    pub name: String,
    pub subdomain: String,
    pub domain: Option<String>,
}

/// Writes shop `id` as an export file at `out` (any file there is replaced).
pub fn export_client(tenancy: &Tenancy, main: &Connection, id: i64, out: &Path) -> Result<u64, AppError> {
    crate::tenancy::lifecycle::require_served(main, id)?;
    let _op = tenancy.file_ops.lock(id)?;
    write_export(tenancy, main, id, out)
}

/// The export a deletion keeps (`DELETE …?final_backup=true`): `<backups>/deleted/client_<id>-<time>.vfexport`.
/// The caller holds the shop's file-operation lock.
pub fn final_export(tenancy: &Tenancy, main: &Connection, id: i64) -> Result<PathBuf, AppError> {
    let folder = tenancy.backup_dir.join(DELETED_DIR);
    crate::sys::create_private_folder(&folder).map_err(|e| AppError::Internal(e.into()))?;
    let stamp = time::OffsetDateTime::now_utc().unix_timestamp();
    let target = folder.join(format!("client_{id}-{stamp}.vfexport"));
    let tmp = folder.join(format!("{}client_{id}-{stamp}.vfexport", super::TMP_PREFIX));
    write_export(tenancy, main, id, &tmp)?;
    std::fs::rename(&tmp, &target).map_err(|e| AppError::Internal(e.into()))?;
    files::sync_dir(&folder)?;
    tracing::info!(client_id = id, path = %target.display(), "final backup kept");
    Ok(target)
}

/// Folder (in the backup folder) of the final exports of deleted shops.
pub const DELETED_DIR: &str = "deleted";

/// Removes final exports older than `keep`; returns how many.
pub fn purge_final_exports(backup_dir: &Path, keep: Duration) -> usize {
    let Ok(entries) = std::fs::read_dir(backup_dir.join(DELETED_DIR)) else { return 0 };
    let mut removed = 0;
    for e in entries.filter_map(Result::ok) {
        let old = e
            .metadata()
            .ok()
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > keep);
        if old
            && e.file_name().to_str().is_some_and(|n| n.ends_with(".vfexport"))
            && std::fs::remove_file(e.path()).is_ok()
        {
            removed += 1;
        }
    }
    removed
}

fn write_export(tenancy: &Tenancy, main: &Connection, id: i64, out: &Path) -> Result<u64, AppError> {
    let client = registry::find(main, id)?.ok_or_else(|| AppError::not_found("client_not_found", "no such client"))?;
    let admins = users::admins_of(main, id)?;
    let live = tenancy.regions.path_of(id);
    let write = || -> anyhow::Result<u64> {
        let conn = db::open_shop_file(&live, tenancy.locking, 256, db::BUSY_TIMEOUT)
            .with_context(|| format!("opening {}", live.display()))?;
        store::copy_online(&conn, out)?;
        drop(conn);
        let file = Connection::open_with_flags(out, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
        file.execute_batch(&format!(
            "CREATE TABLE {EXPORT_TABLE} (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID"
        ))?;
        let meta = ExportedClient {
            name: client.name.clone(),
            subdomain: client.subdomain.clone(),
            domain: client.domain.clone(),
        };
        let mut insert = file.prepare(&format!("INSERT INTO {EXPORT_TABLE} (key, value) VALUES (?1, ?2)"))?;
        insert.execute(["format", FORMAT])?;
        insert.execute(["client", &serde_json::to_string(&meta)?])?;
        insert.execute(["admins", &serde_json::to_string(&admins)?])?;
        insert.execute(["source_client_id", &id.to_string()])?;
        insert.execute(["exported_at", &db::now_rfc3339(&file)?])?;
        drop(insert);
        file.close().map_err(|(_, e)| e)?;
        std::fs::File::open(out).and_then(|f| f.sync_all())?;
        Ok(std::fs::metadata(out)?.len())
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(out);
        AppError::Internal(e.context(format!("exporting client {id}")))
    })
}

fn refuse(why: impl Into<String>) -> AppError {
    AppError::unprocessable("import_invalid", why)
}

/// The schema an untouched shop file of `version` has: `(type, name, table, sql)` of every entry.
fn known_schema(version: i64) -> anyhow::Result<BTreeSet<(String, String, String, String)>> {
    let mut conn = Connection::open_in_memory()?;
    migrations::migrate_client_to(&mut conn, version)?;
    schema_of(&conn).map_err(Into::into)
}

fn schema_of(conn: &Connection) -> rusqlite::Result<BTreeSet<(String, String, String, String)>> {
    conn.prepare("SELECT type, name, tbl_name, COALESCE(sql, '') FROM sqlite_schema")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect()
}

/// What a checked import file holds.
struct Checked {
    version: i64,
    client: ExportedClient,
    admins: Vec<PortableAdmin>,
}

/// Checks an import file, opened by `conn` with the defensive settings. See the module docs.
fn check(conn: &Connection) -> Result<Checked, AppError> {
    let mut schema =
        schema_of(conn).map_err(|e| refuse(format!("the file is not a readable SQLite database ({e})")))?;
    let has_export = schema.iter().any(|(t, n, _, _)| t == "table" && n == EXPORT_TABLE);
    if !has_export {
        return Err(refuse(
            "not a VergeFlow export: it has no registry data (make one with GET /api/super-admin/clients/{id}/export \
             or `vergeflow clients export`)",
        ));
    }
    schema.retain(|(t, n, tbl, _)| {
        let ours = (t == "table" && (n == EXPORT_TABLE || LITESTREAM_TABLES.contains(&n.as_str())))
            || (t == "index" && tbl == EXPORT_TABLE && n.starts_with("sqlite_autoindex_"));
        !ours
    });
    let history: Vec<(i64, String, String)> = conn
        .prepare("SELECT version, name, checksum FROM refinery_schema_history ORDER BY version")
        .and_then(|mut s| s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?.collect())
        .map_err(|_| refuse("the file has no VergeFlow migration history"))?;
    let known_migrations = migrations::client_migrations();
    for entry in &history {
        if !known_migrations.contains(entry) {
            return Err(refuse(format!("migration {} ('{}') is not one this server knows", entry.0, entry.1)));
        }
    }
    let version = history.last().map(|h| h.0).ok_or_else(|| refuse("the file's migration history is empty"))?;
    let expected = known_schema(version)?;
    if schema != expected {
        let extra = schema.difference(&expected).next().map(|(t, n, _, _)| format!("unexpected {t} '{n}'"));
        let missing = expected.difference(&schema).next().map(|(t, n, _, _)| format!("missing {t} '{n}'"));
        return Err(refuse(format!(
            "the file's schema is not a VergeFlow shop schema of version {version}: {}",
            extra.or(missing).unwrap_or_default()
        )));
    }
    let check: String = conn
        .query_row("PRAGMA integrity_check(1)", [], |r| r.get(0))
        .map_err(|e| refuse(format!("integrity_check failed ({e})")))?;
    if check != "ok" {
        return Err(refuse(format!("integrity_check: {check}")));
    }
    let stamps: (i64, Option<i64>) = conn
        .query_row("SELECT COUNT(*), MIN(id) FROM shop", [], |r| Ok((r.get(0)?, r.get(1)?)))
        .map_err(|e| refuse(format!("the shop stamp is unreadable ({e})")))?;
    if stamps != (1, Some(1)) {
        return Err(refuse("the file has no shop stamp (the shop table must hold exactly its one row)"));
    }
    let meta = |key: &str| -> Result<String, AppError> {
        conn.query_row(&format!("SELECT value FROM {EXPORT_TABLE} WHERE key = ?1"), [key], |r| r.get::<_, String>(0))
            .map_err(|_| refuse(format!("the export has no '{key}'")))
    };
    if meta("format")? != FORMAT {
        return Err(refuse(format!("unknown export format (this server reads {FORMAT})")));
    }
    let client: ExportedClient =
        serde_json::from_str(&meta("client")?).map_err(|e| refuse(format!("unreadable registry data ({e})")))?;
    let admins: Vec<PortableAdmin> =
        serde_json::from_str(&meta("admins")?).map_err(|e| refuse(format!("unreadable admins ({e})")))?;
    if admins.len() > 100 {
        return Err(refuse("too many admins"));
    }
    for a in &admins {
        crate::validate::name(&a.name).map_err(|e| refuse(format!("admin name: {e}")))?;
        Email::parse(&a.email).map_err(|e| refuse(format!("admin e-mail '{}': {e}", a.email)))?;
        if !a.password_hash.starts_with("$argon2") || a.password_hash.len() > 512 {
            return Err(refuse(format!("admin '{}' has no usable password hash", a.email)));
        }
    }
    Ok(Checked { version, client, admins })
}

/// Reads the first bytes of a file to see whether it is a SQLite database at all.
fn looks_like_sqlite(path: &Path) -> std::io::Result<bool> {
    let mut head = [0u8; 16];
    let mut f = std::fs::File::open(path)?;
    Ok(f.read_exact(&mut head).is_ok() && &head == b"SQLite format 3\0")
}

/// Imports the export at `upload` (a private copy the caller may lose) as a new shop, renamed to
/// `subdomain` when given. Returns the new client.
pub fn import_client(
    tenancy: &Tenancy,
    main: &mut Connection,
    upload: &Path,
    subdomain: Option<&str>,
    max_bytes: u64,
) -> Result<Client, AppError> {
    let size = std::fs::metadata(upload).map_err(|e| refuse(format!("unreadable file ({e})")))?.len();
    if size > max_bytes {
        return Err(refuse(format!("the file is {size} bytes; the limit is {max_bytes} (VERGEFLOW_IMPORT_MAX_MB)")));
    }
    if !looks_like_sqlite(upload).map_err(|e| refuse(format!("unreadable file ({e})")))? {
        return Err(refuse("not a SQLite database"));
    }
    let conn = Connection::open_with_flags(upload, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(|e| refuse(format!("not a readable SQLite database ({e})")))?;
    store::harden(&conn)?;
    let checked = check(&conn)?;

    let subdomain = match subdomain {
        Some(s) => Subdomain::parse(s).map_err(|e| AppError::invalid_field("subdomain", e))?,
        None => Subdomain::parse(&checked.client.subdomain).map_err(|e| refuse(format!("subdomain: {e}")))?,
    };
    let name = crate::validate::name(&checked.client.name).map_err(|e| refuse(format!("name: {e}")))?;
    let domain = match checked.client.domain.as_deref() {
        Some(d) => Some(Domain::parse(d, &tenancy.base_domain).map_err(|e| refuse(format!("domain: {e}")))?),
        None => None,
    };

    // The registry row first, marked as an import: a crash before the file is in place makes start-up
    // remove the row instead of building an empty shop.
    let id = {
        let tx = main.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let id =
            registry::insert_provisioning(&tx, &name, subdomain.as_str(), domain.as_ref().map(|d| d.as_str()), None)
                .map_err(|e| {
                    if is_unique_violation(&e, "subdomain") {
                        AppError::conflict(
                            "subdomain_taken",
                            format!(
                                "the subdomain '{}' is taken; import with ?subdomain= to rename",
                                subdomain.as_str()
                            ),
                        )
                    } else if is_unique_violation(&e, "domain") {
                        AppError::conflict("domain_taken", "the shop's custom domain belongs to another shop here")
                    } else {
                        e.into()
                    }
                })?;
        tx.execute("UPDATE clients SET import_pending = 1 WHERE id = ?1", [id])?;
        for a in &checked.admins {
            users::insert_admin(&tx, id, &a.name, &a.email, &a.password_hash).map_err(|e| {
                if is_unique_violation(&e, "email") {
                    AppError::conflict(
                        "email_taken",
                        format!("a user with the e-mail '{}' already exists here", a.email),
                    )
                } else {
                    e.into()
                }
            })?;
        }
        tx.commit()?;
        id
    };
    let placed = place_file(tenancy, &conn, id).and_then(|version| {
        let tx = main.transaction_with_behavior(TransactionBehavior::Immediate)?;
        registry::set_schema_version(&tx, id, version)?;
        tx.execute("UPDATE clients SET status = 'active', import_pending = 0 WHERE id = ?1", [id])?;
        tx.commit()?;
        Ok(())
    });
    drop(conn);
    if let Err(err) = placed {
        tracing::error!(client_id = id, error = %err, "import failed; rolling back");
        let _ = files::remove_family(&files::building_path(&tenancy.data_dir, id));
        let _ = files::remove_family(&files::client_path(&tenancy.data_dir, id));
        let _ = registry::delete_row(main, id);
        tenancy.directory.invalidate(id);
        return Err(err);
    }
    tenancy.directory.invalidate(id);
    let client = registry::find(main, id)?.ok_or_else(|| AppError::not_found("client_not_found", "no such client"))?;
    tracing::info!(client_id = id, subdomain = %client.subdomain, from_version = checked.version, "shop imported");
    crate::audit::lifecycle(
        main,
        id,
        "shop.imported",
        serde_json::json!({ "subdomain": client.subdomain, "from_version": checked.version }),
    );
    Ok(client)
}

/// Copies the checked import into `client_<id>.db`: built as `.building`, stripped of the export and
/// Litestream tables, stamped with the new id, migrated, fsynced, renamed into place.
fn place_file(tenancy: &Tenancy, src: &Connection, id: i64) -> Result<i64, AppError> {
    let building = files::building_path(&tenancy.data_dir, id);
    let target = files::client_path(&tenancy.data_dir, id);
    let build = || -> anyhow::Result<i64> {
        anyhow::ensure!(!target.exists(), "{} already exists", target.display());
        files::remove_family(&building)?;
        let mut dst = db::copy_into_new_file(src, &building)?;
        let mut drop_sql = format!("DROP TABLE {EXPORT_TABLE};");
        for t in LITESTREAM_TABLES {
            drop_sql.push_str(&format!("DROP TABLE IF EXISTS {t};"));
        }
        dst.execute_batch(&drop_sql)?;
        dst.execute("UPDATE shop SET client_id = ?1 WHERE id = 1", [id])?;
        migrations::migrate_client(&mut dst)?;
        crate::events::relay::renew_generation(&dst)?;
        let version = migrations::client_version(&dst)?;
        // The search index's pages are not covered by integrity_check: rebuild it from the products.
        dst.execute_batch("INSERT INTO products_fts (products_fts) VALUES ('rebuild'); VACUUM;")?;
        db::finish_new_file(dst, &building, "wal")?;
        std::fs::rename(&building, &target)?;
        files::sync_dir(&tenancy.data_dir)?;
        Ok(version)
    };
    build().map_err(|e| AppError::Internal(e.context(format!("placing the imported file for client {id}"))))
}

/// Imports an export from a path on this machine: copied first into a private file the import may
/// open read-write (a WAL-mode file needs its `-shm`), then imported like an upload.
pub fn import_client_from_path(
    tenancy: &Tenancy,
    main: &mut Connection,
    path: &Path,
    subdomain: Option<&str>,
    max_bytes: u64,
) -> Result<Client, AppError> {
    let size = std::fs::metadata(path).map_err(|e| refuse(format!("cannot read {} ({e})", path.display())))?.len();
    if size > max_bytes {
        return Err(refuse(format!("the file is {size} bytes; the limit is {max_bytes} (VERGEFLOW_IMPORT_MAX_MB)")));
    }
    let upload = new_upload_path(&tenancy.data_dir).map_err(|e| AppError::Internal(e.into()))?;
    let result = std::fs::copy(path, &upload)
        .map_err(|e| refuse(format!("cannot read {} ({e})", path.display())))
        .and_then(|_| import_client(tenancy, main, &upload, subdomain, max_bytes));
    let _ = files::remove_family(&upload);
    result
}

/// Folder (in the data folder) for uploads and exports in transit; emptied at start-up.
pub const TRANSFERS_DIR: &str = "transfers";

/// A fresh private path for an upload or an export in transit.
pub fn new_upload_path(data_dir: &Path) -> std::io::Result<PathBuf> {
    let dir = data_dir.join(TRANSFERS_DIR);
    crate::sys::create_private_folder(&dir)?;
    let n: u64 = rand::random();
    Ok(dir.join(format!("{}{n:016x}.db", super::TMP_PREFIX)))
}

/// Empties the transfers folder (files of uploads and exports a crash interrupted).
pub fn remove_unfinished_transfers(data_dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(data_dir.join(TRANSFERS_DIR)) else { return 0 };
    entries.filter_map(Result::ok).filter(|e| std::fs::remove_file(e.path()).is_ok()).count()
}
