//! The `audit_log` table in main.db.

use rusqlite::{Connection, params};
use serde::Serialize;

use crate::pagination::Page;

/// One entry to write.
#[derive(Debug, Clone, Default)]
pub struct Entry {
    /// A main user (super admin or shop admin); None for the server itself (jobs, start-up, CLI).
    pub actor_id: Option<i64>,
    /// `super_admin`, `admin`, `system` or `cli`.
    pub actor_role: String,
    pub client_id: Option<i64>,
    pub action: String,
    pub target: Option<String>,
    pub ip: Option<String>,
    pub detail: Option<serde_json::Value>,
}

/// Writes an entry; the actor's e-mail is copied from `users` so the entry outlives the account.
pub fn record(conn: &Connection, e: &Entry) -> rusqlite::Result<i64> {
    conn.prepare_cached(
        "INSERT INTO audit_log (actor_id, actor_email, actor_role, client_id, action, target, ip, detail)
         VALUES (?1, (SELECT email FROM users WHERE id = ?1), ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        e.actor_id,
        e.actor_role,
        e.client_id,
        e.action,
        e.target,
        e.ip,
        e.detail.as_ref().map(|d| d.to_string())
    ])?;
    Ok(conn.last_insert_rowid())
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Actor {
    pub id: Option<i64>,
    pub email: Option<String>,
    /// `super_admin`, `admin`, or `system` for what the server did on its own (jobs, start-up) and
    /// `cli` for commands on the machine.
    pub role: String,
}

/// An entry as the API lists it.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[schemars(example = serde_json::json!({"id": 41, "at": "2026-11-29T10:02:11Z",
    "actor": {"id": 3, "email": "admin@teashop.example", "role": "admin"}, "client_id": 2,
    "action": "product.updated", "target": "product:17", "ip": "203.0.113.9", "detail": {"status": 200}}))]
pub struct AuditEntry {
    pub id: i64,
    pub at: String,
    pub actor: Actor,
    pub client_id: Option<i64>,
    /// `<thing>.<what happened>`: `client.created`, `product.updated`, `backup.restore`, …; shop
    /// lifecycle events are `shop.created`, `shop.suspended`, `shop.resumed`, `shop.deleted`,
    /// `shop.restored`, `shop.migrated`, `shop.migration_failed`, `shop.imported`.
    pub action: String,
    /// What it was done to, `<thing>:<id>`.
    pub target: Option<String>,
    pub ip: Option<String>,
    pub detail: Option<serde_json::Value>,
}

/// Which entries a listing shows.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub client_id: Option<i64>,
    /// A user id, or an e-mail.
    pub actor: Option<String>,
    /// An action, or a prefix ending in `*` (`shop.*`).
    pub action: Option<String>,
}

pub fn list(conn: &Connection, f: &Filter, page: Page) -> rusqlite::Result<(Vec<AuditEntry>, i64)> {
    let (actor_id, actor_email) = match &f.actor {
        Some(a) => match a.parse::<i64>() {
            Ok(id) => (Some(id), None),
            Err(_) => (None, Some(crate::auth::Email::normalise(a))),
        },
        None => (None, None),
    };
    let action = f.action.as_ref().map(|a| match a.strip_suffix('*') {
        Some(prefix) => format!("{}%", prefix.replace('%', "\\%").replace('_', "\\_")),
        None => a.replace('%', "\\%").replace('_', "\\_"),
    });
    let cond = "(?1 IS NULL OR client_id = ?1) AND (?2 IS NULL OR actor_id = ?2) AND (?3 IS NULL OR actor_email = ?3)
                AND (?4 IS NULL OR action LIKE ?4 ESCAPE '\\')";
    let total = conn.query_row(
        &format!("SELECT count(*) FROM audit_log WHERE {cond}"),
        params![f.client_id, actor_id, actor_email, action],
        |r| r.get(0),
    )?;
    let rows = conn
        .prepare(&format!(
            "SELECT id, at, actor_id, actor_email, actor_role, client_id, action, target, ip, detail FROM audit_log
             WHERE {cond} ORDER BY id DESC LIMIT ?5 OFFSET ?6"
        ))?
        .query_map(params![f.client_id, actor_id, actor_email, action, page.limit(), page.offset()], |r| {
            let detail: Option<String> = r.get(9)?;
            Ok(AuditEntry {
                id: r.get(0)?,
                at: r.get(1)?,
                actor: Actor {
                    id: r.get(2)?,
                    email: r.get(3)?,
                    role: r.get::<_, Option<String>>(4)?.unwrap_or_default(),
                },
                client_id: r.get(5)?,
                action: r.get(6)?,
                target: r.get(7)?,
                ip: r.get(8)?,
                detail: detail.and_then(|d| serde_json::from_str(&d).ok()),
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok((rows, total))
}
