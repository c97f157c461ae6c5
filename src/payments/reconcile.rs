//! Keeping shop files in step with Stripe when the server stopped between Stripe acting and the
//! shop file recording it (a crash after a capture, a webhook sent while the server was down).
//!
//! A Stripe payment is watched (main.db `payment_watch`) from before its PaymentIntent is asked
//! for until it is settled. The maintenance loop queues a `reconcile_payments` job at start and
//! then every minute while anything is watched; the job reads each watched intent back from
//! Stripe and applies it like a webhook would, one shop's connection at a time.

use rusqlite::{Connection, OptionalExtension, params};

use super::flow::{self, settle, stripe_for};
use super::{Payment, Provider, store};
use crate::error::AppError;
use crate::state::AppState;

/// How long a payment is watched at most (an abandoned checkout stops being asked about).
const WATCH_DAYS: i64 = 7;
/// How often one payment is asked about.
const EVERY_SECS: i64 = 60;

pub fn watch(main: &Connection, client_id: i64, order_id: i64) -> rusqlite::Result<()> {
    main.execute(
        "INSERT OR IGNORE INTO payment_watch (client_id, order_id) VALUES (?1, ?2)",
        params![client_id, order_id],
    )?;
    Ok(())
}

fn unwatch(main: &Connection, client_id: i64, order_id: i64) -> rusqlite::Result<()> {
    main.execute("DELETE FROM payment_watch WHERE client_id = ?1 AND order_id = ?2", params![client_id, order_id])?;
    Ok(())
}

/// Queues the reconciliation when a watched payment is due and none is queued or running.
pub fn queue_if_due(main: &Connection) -> Result<bool, AppError> {
    let due: bool = main.query_row(
        &format!(
            "SELECT EXISTS (SELECT 1 FROM payment_watch WHERE checked_at IS NULL
                            OR checked_at < strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-{EVERY_SECS} seconds'))
             AND NOT EXISTS (SELECT 1 FROM jobs WHERE kind = 'reconcile_payments' AND status IN ('pending', 'running'))"
        ),
        [],
        |r| r.get(0),
    )?;
    if due {
        crate::jobs::enqueue(main, &crate::jobs::Task::ReconcilePayments)?;
    }
    Ok(due)
}

/// Whether a payment needs no more watching.
fn settled(payment: &Payment, order_status: &str) -> bool {
    matches!(payment.status.as_str(), "captured" | "refunded" | "partially_refunded") || order_status == "cancelled"
}

/// The job: every due watched payment, read back from Stripe and applied.
pub fn run(state: &AppState) -> Result<serde_json::Value, AppError> {
    let due: Vec<(i64, i64, bool)> = {
        let main = state.main.get()?;
        let mut stmt = main.prepare(&format!(
            "SELECT client_id, order_id, since < strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-{WATCH_DAYS} days')
             FROM payment_watch WHERE checked_at IS NULL
                OR checked_at < strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-{EVERY_SECS} seconds')
             ORDER BY client_id, order_id"
        ))?;
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?.collect::<Result<_, _>>()?
    };
    let (mut changed, mut failed) = (0, 0);
    for &(client_id, order_id, expired) in &due {
        let done = match one(state, client_id, order_id) {
            Ok((did_change, done)) => {
                changed += usize::from(did_change);
                done
            }
            Err(e) => {
                failed += 1;
                tracing::warn!(client_id, order_id, error = %e, "could not reconcile a payment with Stripe");
                crate::tenancy::registry::find(&*state.main.get()?, client_id)?.is_none()
            }
        };
        let main = state.main.get()?;
        if done || expired {
            unwatch(&main, client_id, order_id)?;
        } else {
            main.execute(
                "UPDATE payment_watch SET checked_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now')
                 WHERE client_id = ?1 AND order_id = ?2",
                params![client_id, order_id],
            )?;
        }
    }
    if changed > 0 {
        tracing::info!(changed, "payments brought in step with Stripe");
    }
    Ok(serde_json::json!({ "checked": due.len(), "changed": changed, "failed": failed }))
}

/// One watched payment: its intent made if it never was, else read back and applied. Answers
/// (changed, needs no more watching). The shop's connection is not held while Stripe is asked.
fn one(state: &AppState, client_id: i64, order_id: i64) -> Result<(bool, bool), AppError> {
    let client = {
        let main = state.main.get()?;
        crate::tenancy::registry::find(&main, client_id)?
    };
    let Some(client) = client else { return Ok((false, true)) };
    let db = state.tenancy.pools.checkout(client_id)?;
    let (payment, order_status, api, manual) = {
        let conn = db.get()?;
        let Some(order) = crate::orders::store::find(&conn, order_id, None)? else { return Ok((false, true)) };
        let Some(payment) = order.payment.clone() else { return Ok((false, true)) };
        if payment.provider != Provider::Stripe || settled(&payment, &order.status) {
            return Ok((false, true));
        }
        let api = stripe_for(&conn, &state.secret_key, &state.settings.stripe_api_base, client_id)?;
        let manual = store::provider(&conn, Provider::Stripe)?.is_some_and(|p| p.config.capture == "manual");
        (payment, order.status, api, manual)
    };
    let _ = order_status;
    let standing = match &payment.provider_ref {
        // Asked for before a crash and never recorded: the same idempotency key gets the same intent.
        None => {
            let intent = api
                .create_intent(
                    payment.amount_cents,
                    &payment.currency,
                    manual,
                    &[("client_id", client_id.to_string()), ("order_id", order_id.to_string())],
                    &format!("vergeflow-{client_id}-payment-{}", payment.id),
                )
                .map_err(flow::provider_error)?;
            let mut conn = db.get()?;
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            store::set_intent(&tx, payment.id, &intent.id, &intent.client_secret)?;
            tx.commit()?;
            intent.standing()
        }
        Some(id) => api.retrieve(id).map_err(flow::provider_error)?.standing(),
    };
    let mut conn = db.get()?;
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let current =
        store::payment_of(&tx, order_id)?.ok_or_else(|| AppError::Internal(anyhow::anyhow!("payment vanished")))?;
    let changed = settle(&tx, order_id, &current, &standing, &client.name, "provider:stripe")?;
    let status: Option<String> =
        tx.query_row("SELECT status FROM orders WHERE id = ?1", [order_id], |r| r.get(0)).optional()?;
    tx.commit()?;
    if changed {
        state.relay.hint(client_id);
    }
    let after = Payment { status: standing.status.to_string(), ..current };
    Ok((changed, settled(&after, status.as_deref().unwrap_or("cancelled"))))
}
