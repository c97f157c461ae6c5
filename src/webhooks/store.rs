//! `webhooks` and `webhook_deliveries` in main.db. Every function takes the shop's id and never
//! reads or changes another shop's rows.

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::pagination::Page;

/// An endpoint as the API shows it (the secret only once, at creation).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[schemars(example = serde_json::json!({"id": 1, "url": "https://hooks.example.com/vergeflow",
    "events": ["order.created", "order.status_changed"], "active": true, "failing_since": null,
    "disabled_reason": null, "created_at": "2026-11-29T10:00:00Z", "updated_at": "2026-11-29T10:00:00Z"}))]
pub struct Webhook {
    pub id: i64,
    pub url: String,
    pub events: Vec<String>,
    pub active: bool,
    /// Since when deliveries fail (null while they succeed); after a day the endpoint is disabled.
    pub failing_since: Option<String>,
    /// Why the server disabled it, if it did.
    pub disabled_reason: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

const COLUMNS: &str = "id, url, events, active, failing_since, disabled_reason, created_at, updated_at";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Webhook> {
    let events: String = r.get(2)?;
    Ok(Webhook {
        id: r.get(0)?,
        url: r.get(1)?,
        events: serde_json::from_str(&events).unwrap_or_default(),
        active: r.get(3)?,
        failing_since: r.get(4)?,
        disabled_reason: r.get(5)?,
        created_at: r.get(6)?,
        updated_at: r.get(7)?,
    })
}

pub fn insert(
    conn: &Connection,
    client_id: i64,
    url: &str,
    events: &[String],
    secret: &str,
    active: bool,
) -> rusqlite::Result<Webhook> {
    conn.query_row(
        &format!(
            "INSERT INTO webhooks (client_id, url, events, secret, active) VALUES (?1, ?2, ?3, ?4, ?5) RETURNING {COLUMNS}"
        ),
        params![client_id, url, serde_json::to_string(events).unwrap_or_default(), secret, active],
        row,
    )
}

pub fn find(conn: &Connection, client_id: i64, id: i64) -> rusqlite::Result<Option<Webhook>> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM webhooks WHERE client_id = ?1 AND id = ?2"),
        params![client_id, id],
        row,
    )
    .optional()
}

pub fn list(conn: &Connection, client_id: i64, page: Page) -> rusqlite::Result<(Vec<Webhook>, i64)> {
    let total = conn.query_row("SELECT count(*) FROM webhooks WHERE client_id = ?1", [client_id], |r| r.get(0))?;
    let rows = conn
        .prepare(&format!("SELECT {COLUMNS} FROM webhooks WHERE client_id = ?1 ORDER BY id LIMIT ?2 OFFSET ?3"))?
        .query_map(params![client_id, page.limit(), page.offset()], row)?
        .collect::<rusqlite::Result<_>>()?;
    Ok((rows, total))
}

/// Applies the given changes; re-activating clears the failure state. None when there is no such
/// endpoint in this shop.
pub fn update(
    conn: &Connection,
    client_id: i64,
    id: i64,
    url: Option<&str>,
    events: Option<&[String]>,
    active: Option<bool>,
) -> rusqlite::Result<Option<Webhook>> {
    conn.query_row(
        &format!(
            "UPDATE webhooks SET url = coalesce(?3, url), events = coalesce(?4, events), active = coalesce(?5, active),
                    failing_since = CASE WHEN ?5 = 1 THEN NULL ELSE failing_since END,
                    disabled_reason = CASE WHEN ?5 = 1 THEN NULL ELSE disabled_reason END,
                    updated_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now')
             WHERE client_id = ?1 AND id = ?2 RETURNING {COLUMNS}"
        ),
        params![client_id, id, url, events.map(|e| serde_json::to_string(e).unwrap_or_default()), active],
        row,
    )
    .optional()
}

pub fn delete(conn: &Connection, client_id: i64, id: i64) -> rusqlite::Result<bool> {
    Ok(conn.execute("DELETE FROM webhooks WHERE client_id = ?1 AND id = ?2", params![client_id, id])? > 0)
}

/// The shop's active endpoints subscribed to `event`: (id, url).
pub fn subscribed(conn: &Connection, client_id: i64, event: &str) -> rusqlite::Result<Vec<i64>> {
    conn.prepare_cached(
        "SELECT w.id FROM webhooks w, json_each(w.events) e WHERE w.client_id = ?1 AND w.active = 1 AND e.value = ?2",
    )?
    .query_map(params![client_id, event], |r| r.get(0))?
    .collect()
}

/// Whether the shop has any active endpoint (a checkout skips building events when none).
pub fn any_active(conn: &Connection, client_id: i64) -> rusqlite::Result<bool> {
    conn.prepare_cached("SELECT EXISTS (SELECT 1 FROM webhooks WHERE client_id = ?1 AND active = 1)")?
        .query_row([client_id], |r| r.get(0))
}

pub fn insert_delivery(
    conn: &Connection,
    client_id: i64,
    webhook_id: i64,
    event_id: &str,
    event: &str,
    payload: &str,
) -> rusqlite::Result<i64> {
    conn.prepare_cached(
        "INSERT INTO webhook_deliveries (webhook_id, client_id, event_id, event, payload) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![webhook_id, client_id, event_id, event, payload])?;
    Ok(conn.last_insert_rowid())
}

/// One attempt's log entry.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[schemars(example = serde_json::json!({"id": 9, "event_id": "evt_5f2c…", "event": "order.created",
    "status": "delivered", "attempts": 2, "response_status": 200, "last_error": null,
    "created_at": "2026-11-29T10:00:00Z", "delivered_at": "2026-11-29T10:00:11Z"}))]
pub struct Delivery {
    pub id: i64,
    /// The event's id, the same on every attempt (receivers deduplicate by it).
    pub event_id: String,
    pub event: String,
    /// `pending` (waiting for an attempt or a retry), `delivered` or `failed`.
    pub status: String,
    pub attempts: i64,
    /// The receiver's HTTP status on the last attempt, if it answered.
    pub response_status: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: String,
    pub delivered_at: Option<String>,
}

pub fn deliveries(
    conn: &Connection,
    client_id: i64,
    webhook_id: i64,
    page: Page,
) -> rusqlite::Result<(Vec<Delivery>, i64)> {
    let total = conn.query_row(
        "SELECT count(*) FROM webhook_deliveries WHERE client_id = ?1 AND webhook_id = ?2",
        params![client_id, webhook_id],
        |r| r.get(0),
    )?;
    let rows = conn
        .prepare(
            "SELECT id, event_id, event, status, attempts, response_status, last_error, created_at, delivered_at
             FROM webhook_deliveries WHERE client_id = ?1 AND webhook_id = ?2 ORDER BY id DESC LIMIT ?3 OFFSET ?4",
        )?
        .query_map(params![client_id, webhook_id, page.limit(), page.offset()], |r| {
            Ok(Delivery {
                id: r.get(0)?,
                event_id: r.get(1)?,
                event: r.get(2)?,
                status: r.get(3)?,
                attempts: r.get(4)?,
                response_status: r.get(5)?,
                last_error: r.get(6)?,
                created_at: r.get(7)?,
                delivered_at: r.get(8)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok((rows, total))
}

/// What a delivery job needs: the delivery, its endpoint's URL and secret and state.
pub struct Pending {
    pub webhook_id: i64,
    pub url: String,
    pub secret: String,
    pub active: bool,
    pub status: String,
    pub event_id: String,
    pub event: String,
    pub payload: String,
}

pub fn pending(conn: &Connection, client_id: i64, delivery_id: i64) -> rusqlite::Result<Option<Pending>> {
    conn.query_row(
        "SELECT w.id, w.url, w.secret, w.active, d.status, d.event_id, d.event, d.payload
         FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
         WHERE d.client_id = ?1 AND w.client_id = ?1 AND d.id = ?2",
        params![client_id, delivery_id],
        |r| {
            Ok(Pending {
                webhook_id: r.get(0)?,
                url: r.get(1)?,
                secret: r.get(2)?,
                active: r.get(3)?,
                status: r.get(4)?,
                event_id: r.get(5)?,
                event: r.get(6)?,
                payload: r.get(7)?,
            })
        },
    )
    .optional()
}

/// Records an acknowledged delivery and clears the endpoint's failure state.
pub fn delivered(conn: &Connection, delivery_id: i64, webhook_id: i64, status: u16) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE webhook_deliveries SET status = 'delivered', attempts = attempts + 1, response_status = ?2,
                last_error = NULL, delivered_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') WHERE id = ?1",
        params![delivery_id, status],
    )?;
    conn.execute("UPDATE webhooks SET failing_since = NULL WHERE id = ?1", [webhook_id])?;
    Ok(())
}

/// Records a failed attempt; marks the endpoint failing. Returns true when it has been failing
/// for at least `disable_after_secs` (the caller disables it).
pub fn attempt_failed(
    conn: &Connection,
    delivery_id: i64,
    webhook_id: i64,
    status: Option<u16>,
    error: &str,
    disable_after_secs: i64,
) -> rusqlite::Result<bool> {
    conn.execute(
        "UPDATE webhook_deliveries SET attempts = attempts + 1, response_status = ?2, last_error = ?3 WHERE id = ?1",
        params![delivery_id, status, error],
    )?;
    conn.execute(
        "UPDATE webhooks SET failing_since = coalesce(failing_since, strftime('%Y-%m-%dT%H:%M:%SZ', 'now')) WHERE id = ?1",
        [webhook_id],
    )?;
    conn.query_row(
        "SELECT active = 1 AND (julianday('now') - julianday(failing_since)) * 86400 >= ?2 FROM webhooks WHERE id = ?1",
        params![webhook_id, disable_after_secs],
        |r| r.get(0),
    )
}

pub fn mark_failed(conn: &Connection, delivery_id: i64, error: &str) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE webhook_deliveries SET status = 'failed', last_error = ?2 WHERE id = ?1 AND status = 'pending'",
        params![delivery_id, error],
    )?;
    Ok(())
}

/// Disables a failing endpoint; true if it was active.
pub fn disable(conn: &Connection, webhook_id: i64, reason: &str) -> rusqlite::Result<bool> {
    Ok(conn.execute(
        "UPDATE webhooks SET active = 0, disabled_reason = ?2, updated_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now')
         WHERE id = ?1 AND active = 1",
        params![webhook_id, reason],
    )? > 0)
}

/// Drops delivery log entries older than `days` (the `prune` schedule).
pub fn prune_deliveries(conn: &Connection, days: u32) -> rusqlite::Result<usize> {
    conn.execute(
        "DELETE FROM webhook_deliveries WHERE status != 'pending' AND created_at < strftime('%Y-%m-%dT%H:%M:%SZ', 'now', ?1)",
        [format!("-{days} days")],
    )
}
