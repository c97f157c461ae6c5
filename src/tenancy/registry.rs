//! The clients table in main.db: plain SQL over `&Connection`.

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};

/// Where a shop is in its life. Only `active` shops are served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClientStatus {
    Provisioning,
    Active,
    Suspended,
    Deleting,
}

impl ClientStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Provisioning => "provisioning",
            Self::Active => "active",
            Self::Suspended => "suspended",
            Self::Deleting => "deleting",
        }
    }
    fn from_db(s: &str) -> rusqlite::Result<Self> {
        Ok(match s {
            "provisioning" => Self::Provisioning,
            "active" => Self::Active,
            "suspended" => Self::Suspended,
            "deleting" => Self::Deleting,
            other => return Err(crate::db::failure(format!("unknown client status {other}"))),
        })
    }
}

/// A shop as the registry knows it.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[schemars(example = serde_json::json!({"id": 1, "name": "Vault 64", "subdomain": "vault64", "domain": null,
    "database": "client_1.db", "status": "active", "schema_version": 3, "migration_error": null,
    "backup_every": null, "created_at": "2026-11-28T10:00:00Z", "updated_at": "2026-11-28T10:00:00Z"}))]
pub struct Client {
    pub id: i64,
    pub name: String,
    pub subdomain: String,
    pub domain: Option<String>,
    /// The shop file's name inside its region's folder, `client_<id>.db`.
    pub database: String,
    /// The region (storage root from VERGEFLOW_STORAGE_ROOTS) the shop's file lives in; null: the
    /// data folder.
    #[serde(default)]
    pub region: Option<String>,
    pub status: ClientStatus,
    pub schema_version: i64,
    /// Why the last migration of this shop failed; null when it did not. Such a shop answers 503
    /// `client_unavailable` until a migration succeeds.
    pub migration_error: Option<String>,
    /// This shop's backup schedule ('6h', '1d', 'off'); null follows VERGEFLOW_BACKUP_EVERY.
    pub backup_every: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    /// The feature defaults with this shop's overrides (at `/api/super-admin/clients/{id}/features`).
    #[serde(skip)]
    #[schemars(skip)]
    pub features: crate::features::Features,
    /// Quotas (at `/api/super-admin/clients/{id}/quotas`).
    #[serde(skip)]
    #[schemars(skip)]
    pub quotas: crate::quotas::Quotas,
    /// What the shop uses now: in the answer for one shop (not in lists, which would open every shop).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<crate::quotas::Usage>,
}

const COLUMNS: &str = "id, name, subdomain, domain, database, status, schema_version, created_at, updated_at, backup_every, migration_error, features, (SELECT value FROM settings WHERE key = 'features'), max_storage_mb, max_products, requests_per_second, region";

fn from_row(row: &Row<'_>) -> rusqlite::Result<Client> {
    Ok(Client {
        id: row.get(0)?,
        name: row.get(1)?,
        subdomain: row.get(2)?,
        domain: row.get(3)?,
        database: row.get(4)?,
        status: ClientStatus::from_db(&row.get::<_, String>(5)?)?,
        schema_version: row.get(6)?,
        created_at: row.get(7)?,
        updated_at: row.get(8)?,
        backup_every: row.get(9)?,
        migration_error: row.get(10)?,
        features: crate::features::Features::merged(
            row.get::<_, Option<String>>(12)?.as_deref(),
            row.get::<_, Option<String>>(11)?.as_deref(),
        ),
        quotas: crate::quotas::Quotas {
            max_storage_mb: row.get(13)?,
            max_products: row.get(14)?,
            requests_per_second: row.get(15)?,
        },
        usage: None,
        region: row.get(16)?,
    })
}

pub fn find(conn: &Connection, id: i64) -> rusqlite::Result<Option<Client>> {
    conn.prepare_cached(&format!("SELECT {COLUMNS} FROM clients WHERE id = ?1"))?.query_row([id], from_row).optional()
}

pub fn find_by_subdomain(conn: &Connection, subdomain: &str) -> rusqlite::Result<Option<Client>> {
    conn.prepare_cached(&format!("SELECT {COLUMNS} FROM clients WHERE subdomain = ?1"))?
        .query_row([subdomain], from_row)
        .optional()
}

pub fn find_by_domain(conn: &Connection, domain: &str) -> rusqlite::Result<Option<Client>> {
    conn.prepare_cached(&format!("SELECT {COLUMNS} FROM clients WHERE domain = ?1"))?
        .query_row([domain], from_row)
        .optional()
}

/// One page of clients, newest id last, with the total count.
pub fn list(
    conn: &Connection,
    status: Option<ClientStatus>,
    limit: i64,
    offset: i64,
) -> rusqlite::Result<(Vec<Client>, i64)> {
    search(conn, None, status, limit, offset)
}

/// Clients whose name, subdomain or domain contains `q` (case-insensitive), in a status, by id.
pub fn search(
    conn: &Connection,
    q: Option<&str>,
    status: Option<ClientStatus>,
    limit: i64,
    offset: i64,
) -> rusqlite::Result<(Vec<Client>, i64)> {
    let status = status.map(ClientStatus::as_str);
    let pattern = q.map(|q| format!("%{}%", q.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")));
    const WHERE: &str = "(?1 IS NULL OR status = ?1) AND (?2 IS NULL OR name LIKE ?2 ESCAPE '\\'
        OR subdomain LIKE ?2 ESCAPE '\\' OR domain LIKE ?2 ESCAPE '\\')";
    let total =
        conn.query_row(&format!("SELECT COUNT(*) FROM clients WHERE {WHERE}"), params![status, pattern], |r| r.get(0))?;
    let mut stmt =
        conn.prepare(&format!("SELECT {COLUMNS} FROM clients WHERE {WHERE} ORDER BY id LIMIT ?3 OFFSET ?4"))?;
    let rows = stmt.query_map(params![status, pattern, limit, offset], from_row)?.collect::<Result<_, _>>()?;
    Ok((rows, total))
}

/// Every client in the given states (reconciliation and `migrate` walk these).
pub fn all_with_status(conn: &Connection, statuses: &[ClientStatus]) -> rusqlite::Result<Vec<Client>> {
    let mut stmt = conn.prepare(&format!("SELECT {COLUMNS} FROM clients ORDER BY id"))?;
    let rows: Vec<Client> = stmt.query_map([], from_row)?.collect::<Result<_, _>>()?;
    Ok(rows.into_iter().filter(|c| statuses.contains(&c.status)).collect())
}

pub fn all_ids(conn: &Connection) -> rusqlite::Result<Vec<i64>> {
    let mut stmt = conn.prepare("SELECT id FROM clients")?;
    stmt.query_map([], |r| r.get(0))?.collect()
}

pub fn count_by_status(conn: &Connection) -> rusqlite::Result<Vec<(String, i64)>> {
    let mut stmt = conn.prepare("SELECT status, COUNT(*) FROM clients GROUP BY status ORDER BY status")?;
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect()
}

pub fn insert_provisioning(
    conn: &Connection,
    name: &str,
    subdomain: &str,
    domain: Option<&str>,
    region: Option<&str>,
) -> rusqlite::Result<i64> {
    conn.execute(
        "INSERT INTO clients (name, subdomain, domain, status, region) VALUES (?1, ?2, ?3, 'provisioning', ?4)",
        params![name, subdomain, domain, region],
    )?;
    Ok(conn.last_insert_rowid())
}

pub fn set_status(conn: &Connection, id: i64, status: ClientStatus) -> rusqlite::Result<bool> {
    let n = conn.execute(
        "UPDATE clients SET status = ?2, updated_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') WHERE id = ?1",
        params![id, status.as_str()],
    )?;
    Ok(n == 1)
}

/// Records the version of a file just built, restored or imported (clearing any migration failure:
/// the file it was about is gone).
pub fn set_schema_version(conn: &Connection, id: i64, version: i64) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE clients SET schema_version = ?2, migration_error = NULL, updated_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') WHERE id = ?1",
        params![id, version],
    )?;
    Ok(())
}

/// Changes to a client's editable fields; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct ClientChanges {
    pub name: Option<String>,
    pub subdomain: Option<String>,
    /// `Some(None)` clears the custom domain.
    pub domain: Option<Option<String>>,
    pub status: Option<ClientStatus>,
    /// `Some(None)` returns the shop to the global backup schedule.
    pub backup_every: Option<Option<String>>,
}

pub fn update(conn: &Connection, id: i64, changes: &ClientChanges) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE clients SET
            name = COALESCE(?2, name),
            subdomain = COALESCE(?3, subdomain),
            domain = CASE WHEN ?4 THEN ?5 ELSE domain END,
            status = COALESCE(?6, status),
            backup_every = CASE WHEN ?7 THEN ?8 ELSE backup_every END,
            updated_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now')
         WHERE id = ?1",
        params![
            id,
            changes.name,
            changes.subdomain,
            changes.domain.is_some(),
            changes.domain.clone().flatten(),
            changes.status.map(ClientStatus::as_str),
            changes.backup_every.is_some(),
            changes.backup_every.clone().flatten(),
        ],
    )?;
    Ok(())
}

/// Removes the row; the shop's admins and every token tied to the shop go with it (ON DELETE CASCADE).
/// Removes a shop's row (its admins, tokens, outbox and schedules go with it by cascade) and
/// cancels its pending jobs.
pub fn delete_row(conn: &Connection, id: i64) -> rusqlite::Result<()> {
    conn.execute("DELETE FROM clients WHERE id = ?1", [id])?;
    let cancelled = crate::jobs::queue::cancel_for_client(conn, id)?;
    if cancelled > 0 {
        tracing::info!(client_id = id, cancelled, "cancelled the deleted shop's pending jobs");
    }
    Ok(())
}

/// Shops whose subdomain is all digits (allowed before v0.2): `?client=N` names the shop with id N,
/// never one of these, so they are reachable by Host only until renamed.
pub fn numeric_subdomains(conn: &Connection) -> rusqlite::Result<Vec<(i64, String)>> {
    conn.prepare("SELECT id, subdomain FROM clients WHERE subdomain NOT GLOB '*[^0-9]*' ORDER BY id")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect()
}

/// Shops being imported (`provisioning` with `import_pending`).
pub fn pending_imports(conn: &Connection) -> rusqlite::Result<Vec<i64>> {
    conn.prepare("SELECT id FROM clients WHERE status = 'provisioning' AND import_pending = 1 ORDER BY id")?
        .query_map([], |r| r.get(0))?
        .collect()
}
