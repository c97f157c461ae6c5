//! Schedules: named recurring work with a cron expression (UTC), global or overridden per shop.
//!
//! - `backups`: the global row says when the scheduler looks for shops whose backup interval
//!   (`VERGEFLOW_BACKUP_EVERY` or the shop's `backup_every`) has passed; a shop's own row backs
//!   that shop up at its own times instead (or never, disabled).
//! - `prune`: global only; drops expired tokens and reset tokens, sent mail and settled webhook
//!   deliveries older than 30 days, finished jobs older than 30 days.
//! - `order_auto_cancel`: cancels `pending` (unpaid) orders older than `setting` minutes, restoring
//!   stock as a cancel does and telling the customer and webhooks; a shop's own row sets its own
//!   times, minutes, or turns it off. A run opens only shops whose file changed since the last run
//!   minus the waiting time (an order that can have become overdue since), so thousands of idle
//!   shops are not opened every few minutes.
//!
//! The maintenance loop looks every 15 s; a schedule whose next time has passed queues its job
//! (unless one of it is still queued or running).

pub mod routes;

use std::time::SystemTime;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::error::AppError;
use crate::jobs::{Task, queue};
use crate::state::AppState;

pub const NAMES: &[&str] = &["backups", "prune", "order_auto_cancel"];
/// Days sent mail, settled deliveries and finished jobs are kept before `prune` drops them.
pub const KEEP_DAYS: u32 = 30;

/// A schedule as the API shows it.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[schemars(example = serde_json::json!({"name": "order_auto_cancel", "client_id": null, "cron": "*/5 * * * *",
    "enabled": true, "setting": 1440, "last_run_at": "2026-11-29T10:05:00Z", "next_run_at": "2026-11-29T10:10:00Z"}))]
pub struct Schedule {
    /// `backups`, `prune` or `order_auto_cancel`.
    pub name: String,
    /// Null for the global schedule; a shop's id for that shop's override.
    pub client_id: Option<i64>,
    /// Five fields (minute hour day-of-month month day-of-week), UTC.
    pub cron: String,
    pub enabled: bool,
    /// `order_auto_cancel`: minutes an unpaid order may stay pending.
    pub setting: Option<i64>,
    pub last_run_at: Option<String>,
    pub next_run_at: Option<String>,
    #[serde(skip)]
    pub updated_at: String,
}

pub fn parse_cron(expr: &str) -> Result<croner::Cron, String> {
    let fields = expr.split_whitespace().count();
    if fields != 5 {
        return Err(format!("must have five fields (minute hour day month weekday), not {fields}"));
    }
    expr.parse::<croner::Cron>().map_err(|e| format!("is not a cron expression: {e}"))
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s).ok().map(|t| t.with_timezone(&Utc))
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// When the schedule runs next: after its last run, or after it was last changed.
pub fn next_run(s: &Schedule) -> Option<DateTime<Utc>> {
    let cron = parse_cron(&s.cron).ok()?;
    let base = s.last_run_at.as_deref().or(Some(&s.updated_at)).and_then(parse_time)?;
    cron.find_next_occurrence(&base, false).ok()
}

pub fn list(conn: &Connection) -> rusqlite::Result<Vec<Schedule>> {
    let mut rows = conn
        .prepare(
            "SELECT name, client_id, cron, enabled, setting, last_run_at, updated_at FROM schedules
             ORDER BY client_id IS NOT NULL, client_id, name",
        )?
        .query_map([], |r| {
            Ok(Schedule {
                name: r.get(0)?,
                client_id: r.get(1)?,
                cron: r.get(2)?,
                enabled: r.get(3)?,
                setting: r.get(4)?,
                last_run_at: r.get(5)?,
                next_run_at: None,
                updated_at: r.get(6)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    for s in &mut rows {
        s.next_run_at = if s.enabled { next_run(s).map(rfc3339) } else { None };
    }
    Ok(rows)
}

/// Sets a schedule (creating a shop's override); its next time counts from now.
pub fn put(
    conn: &Connection,
    name: &str,
    client_id: Option<i64>,
    cron: &str,
    enabled: bool,
    setting: Option<i64>,
) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO schedules (name, client_id, cron, enabled, setting) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (name, ifnull(client_id, 0)) DO UPDATE SET cron = ?3, enabled = ?4, setting = ?5,
                last_run_at = NULL, updated_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now')",
        params![name, client_id, cron, enabled, setting],
    )?;
    Ok(())
}

/// Removes a shop's override (the shop follows the global schedule again).
pub fn remove_override(conn: &Connection, name: &str, client_id: i64) -> rusqlite::Result<bool> {
    Ok(conn.execute("DELETE FROM schedules WHERE name = ?1 AND client_id = ?2", params![name, client_id])? > 0)
}

/// Shops with their own row for `name`.
pub fn overridden(conn: &Connection, name: &str) -> rusqlite::Result<std::collections::HashSet<i64>> {
    conn.prepare("SELECT client_id FROM schedules WHERE name = ?1 AND client_id IS NOT NULL")?
        .query_map([name], |r| r.get(0))?
        .collect()
}

/// The task a due schedule queues.
fn task_for(s: &Schedule) -> Option<Task> {
    match (s.name.as_str(), s.client_id) {
        ("backups", None) => Some(Task::ScheduledBackups),
        ("backups", Some(client_id)) => Some(Task::BackupClient { client_id }),
        ("prune", None) => Some(Task::Prune),
        ("order_auto_cancel", client_id) => Some(Task::AutoCancelOrders { client_id, since: s.last_run_at.clone() }),
        _ => None,
    }
}

/// Queues the job of every schedule whose time has come. Called by the maintenance loop.
pub fn tick(conn: &Connection, backup_every: Option<std::time::Duration>) -> Result<usize, AppError> {
    let now = Utc::now();
    let mut queued = 0;
    for s in list(conn)? {
        if !s.enabled {
            continue;
        }
        let Some(next) = next_run(&s) else { continue };
        if next > now {
            continue;
        }
        let Some(task) = task_for(&s) else { continue };
        let open: bool = conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM jobs WHERE kind = ?1 AND status IN ('pending', 'running')
                            AND client_id IS ?2)",
            params![task.kind(), s.client_id],
            |r| r.get(0),
        )?;
        conn.execute(
            "UPDATE schedules SET last_run_at = ?3 WHERE name = ?1 AND ifnull(client_id, 0) = ifnull(?2, 0)",
            params![s.name, s.client_id, rfc3339(now)],
        )?;
        // The global backup run only when some shop's interval has passed.
        if open
            || (s.name == "backups"
                && s.client_id.is_none()
                && crate::backups::batch::due(conn, backup_every)?.is_empty())
        {
            continue;
        }
        crate::jobs::enqueue(conn, &task)?;
        queued += 1;
    }
    Ok(queued)
}

/// The `prune` job.
pub fn prune(state: &AppState) -> Result<serde_json::Value, AppError> {
    let conn = state.main.get()?;
    let tokens = crate::auth::tokens::purge_expired(&conn)?;
    let resets = crate::auth::reset::prune_expired(&conn)?;
    let mail = crate::mail::prune_sent(&conn, KEEP_DAYS)?;
    let deliveries = crate::webhooks::store::prune_deliveries(&conn, KEEP_DAYS)?;
    let jobs = queue::prune_finished(&conn, KEEP_DAYS)?;
    Ok(serde_json::json!({
        "tokens": tokens, "reset_tokens": resets, "mail": mail, "webhook_deliveries": deliveries, "jobs": jobs,
    }))
}

/// The `auto_cancel_orders` job: one shop (its override) or every active shop following the
/// global schedule.
pub fn auto_cancel(
    state: &AppState,
    only: Option<i64>,
    since: Option<&str>,
    progress: &mut dyn FnMut(&serde_json::Value),
) -> Result<serde_json::Value, AppError> {
    let (shops, minutes) = {
        let main = state.main.get()?;
        let row: Option<(bool, Option<i64>)> = main
            .query_row(
                "SELECT enabled, setting FROM schedules WHERE name = 'order_auto_cancel' AND ifnull(client_id, 0) = ?1",
                [only.unwrap_or(0)],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let Some((true, minutes)) = row else { return Ok(serde_json::json!({ "checked": 0, "cancelled": 0 })) };
        let minutes = minutes.unwrap_or(1440).max(1);
        let shops: Vec<crate::tenancy::registry::Client> = match only {
            Some(id) => crate::tenancy::registry::find(&main, id)?.into_iter().collect(),
            None => {
                let own = overridden(&main, "order_auto_cancel")?;
                crate::tenancy::registry::all_with_status(&main, &[crate::tenancy::registry::ClientStatus::Active])?
                    .into_iter()
                    .filter(|c| !own.contains(&c.id))
                    .collect()
            }
        };
        (shops, minutes)
    };
    // A shop's own `auto_cancel_unpaid_hours` may wait longer than the schedule (up to 720 hours):
    // only shops unwritten for longer than that can be skipped unopened.
    let waits = minutes.max(crate::shop_settings::MAX_AUTO_CANCEL_HOURS * 60);
    let horizon = since
        .and_then(parse_time)
        .map(|t| SystemTime::from(t - chrono::Duration::minutes(waits) - chrono::Duration::minutes(1)));
    let (mut checked, mut cancelled, mut failed) = (0usize, 0usize, Vec::new());
    let total = shops.len();
    for (i, client) in shops.iter().enumerate() {
        if client.status != crate::tenancy::registry::ClientStatus::Active {
            continue;
        }
        let path = state.tenancy.regions.path_of(client.id);
        if let (Some(h), Some(w)) = (horizon, crate::tenancy::files::last_write(&path))
            && w < h
        {
            continue;
        }
        checked += 1;
        match cancel_overdue(state, client, minutes) {
            Ok(n) => cancelled += n,
            Err(e) => {
                tracing::warn!(client_id = client.id, error = %e, "auto-cancel could not look at the shop");
                failed.push(serde_json::json!({ "client_id": client.id, "error": e.to_string() }));
            }
        }
        if i % 100 == 99 {
            progress(&serde_json::json!({ "total": total, "done": i + 1, "failed": failed.len() }));
        }
    }
    Ok(
        serde_json::json!({ "total": total, "checked": checked, "cancelled": cancelled, "failed": failed, "minutes": minutes }),
    )
}

/// Cancels one shop's overdue orders, each like an admin's cancel, and queues its mail and webhook.
fn cancel_overdue(
    state: &AppState,
    client: &crate::tenancy::registry::Client,
    minutes: i64,
) -> Result<usize, AppError> {
    let db = state.tenancy.pools.checkout(client.id)?;
    let mut conn = db.get()?;
    let (done, minutes) = crate::observability::for_shop(client.id, || -> Result<_, AppError> {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        // The shop's own setting wins over the schedule's minutes.
        let minutes = crate::shop_settings::store::get(&tx)?.auto_cancel_unpaid_hours.map_or(minutes, |h| h * 60);
        let ids: Vec<i64> = tx
            .prepare(
                "SELECT id FROM orders WHERE status = 'pending'
                 AND created_at < strftime('%Y-%m-%dT%H:%M:%SZ', 'now', ?1)
                 AND NOT EXISTS (SELECT 1 FROM payments p WHERE p.id = orders.id
                                 AND p.status IN ('authorized', 'captured', 'partially_refunded', 'refunded'))
                 ORDER BY id",
            )?
            .query_map([format!("-{minutes} minutes")], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        let mut done = Vec::new();
        for id in ids {
            // Stock, totals, the customer's mail and webhooks and the history, committed together.
            let (order, _) =
                crate::orders::status::change(&tx, id, "cancelled", &client.name, Some("unpaid"), "system")?;
            done.push(order.id);
        }
        tx.commit()?;
        Ok((done, minutes))
    })?;
    drop(conn);
    for order_id in &done {
        tracing::info!(client_id = client.id, order_id, minutes, "unpaid order cancelled automatically");
    }
    if !done.is_empty() {
        state.relay.hint(client.id);
    }
    Ok(done.len())
}
