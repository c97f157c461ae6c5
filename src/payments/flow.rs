//! What happens to an order when its payment moves, over one shop's connection (called from the
//! handlers, the webhook and the reconciliation alike).

use rusqlite::Connection;

use super::secrets::SecretKey;
use super::store::{self, Standing};
use super::stripe::{StripeApi, StripeError};
use super::{Payment, Provider};
use crate::error::AppError;
use crate::orders::{history, status};

/// The sealing context of a provider secret: bound to the shop and the field.
pub fn secret_context(client_id: i64, provider: Provider, field: &str) -> String {
    format!("client:{client_id}:{}:{field}", provider.as_str())
}

/// The shop's Stripe client, from its sealed secret key.
pub fn stripe_for(conn: &Connection, key: &SecretKey, api_base: &str, client_id: i64) -> Result<StripeApi, AppError> {
    let row = store::provider(conn, Provider::Stripe)?
        .ok_or_else(|| AppError::conflict("provider_not_configured", "this shop has not set Stripe up"))?;
    let sealed = row
        .secret_key_sealed
        .ok_or_else(|| AppError::conflict("provider_not_configured", "this shop's Stripe secret key is not set"))?;
    let secret = key.open(&secret_context(client_id, Provider::Stripe, "secret_key"), &sealed).map_err(|e| {
        tracing::error!(client_id, error = %e, "the shop's Stripe secret key does not open");
        AppError::conflict("provider_not_configured", "this shop's Stripe secret key must be set again")
    })?;
    Ok(StripeApi::new(api_base, secret))
}

/// A Stripe error as the API answers it: 502 with what Stripe said (never a key).
pub fn provider_error(e: StripeError) -> AppError {
    tracing::warn!(error = %e, "Stripe call failed");
    AppError::BadGateway { code: "payment_provider_error", message: e.to_string() }
}

/// Applies a payment's new standing inside the caller's immediate transaction, with what follows:
/// the order's history, and a pending order becoming `paid` once its money is captured. Answers
/// whether anything changed.
pub fn settle(
    tx: &Connection,
    order_id: i64,
    payment: &Payment,
    standing: &Standing,
    shop_name: &str,
    actor: &str,
) -> Result<bool, AppError> {
    let same = payment.status == standing.status
        && payment.captured_cents == standing.captured_cents
        && payment.refunded_cents == standing.refunded_cents;
    if same {
        return Ok(false);
    }
    if is_behind(payment, standing) {
        // Read from the provider before a newer change was recorded (a capture answered while a
        // webhook or the reconciliation was asking): never move a payment backwards.
        tracing::debug!(order_id, from = %payment.status, to = standing.status, "ignored a payment state older than the one recorded");
        return Ok(false);
    }
    let before = store::set_standing(tx, payment.id, standing)?;
    tx.execute(
        "UPDATE orders SET refunded_cents = ?2 WHERE id = ?1",
        rusqlite::params![order_id, standing.refunded_cents],
    )?;
    let amounts = serde_json::json!({ "provider": payment.provider, "captured_cents": standing.captured_cents,
                                      "refunded_cents": standing.refunded_cents });
    let newly = |s: &str| standing.status == s && before != s;
    if newly("authorized") {
        history::record(tx, order_id, "payment_authorized", None, false, Some(amounts.clone()), actor)?;
    }
    if standing.captured_cents > payment.captured_cents {
        history::record(tx, order_id, "paid", None, true, Some(amounts.clone()), actor)?;
        let order = crate::orders::store::find(tx, order_id, None)?;
        match order.map(|o| o.status) {
            Some(s) if s == "pending" => {
                status::change(tx, order_id, "paid", shop_name, Some("payment captured"), actor)?;
            }
            Some(s) if s == "cancelled" => {
                let note = "the payment was captured after the order was cancelled: refund it";
                history::record(tx, order_id, "note", Some(note), false, None, "system")?;
                tracing::warn!(order_id, "payment captured for a cancelled order");
            }
            _ => {}
        }
    }
    if newly("failed") {
        let data = serde_json::json!({ "reason": standing.failure_reason });
        history::record(tx, order_id, "payment_failed", None, false, Some(data), actor)?;
    }
    Ok(true)
}

/// Whether `new` is older than what `current` records: less captured or refunded, or an earlier step
/// (pending or failed before authorised before captured).
pub fn is_behind(current: &Payment, new: &Standing) -> bool {
    let step = |s: &str| match s {
        "authorized" => 1,
        "captured" | "partially_refunded" | "refunded" => 2,
        _ => 0,
    };
    new.captured_cents < current.captured_cents
        || new.refunded_cents < current.refunded_cents
        || step(new.status) < step(&current.status)
}

/// Brings a Stripe payment's standing in from Stripe (blocking HTTP; not on an actix worker).
pub fn standing_from_stripe(api: &StripeApi, payment: &Payment) -> Result<Option<Standing>, AppError> {
    match payment.provider_ref.as_deref() {
        None => Ok(None),
        Some(id) => Ok(Some(api.retrieve(id).map_err(provider_error)?.standing())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payment(status: &str, captured: i64, refunded: i64) -> Payment {
        Payment {
            id: 1,
            provider: Provider::Stripe,
            status: status.into(),
            amount_cents: 1000,
            currency: "EUR".into(),
            captured_cents: captured,
            refunded_cents: refunded,
            client_secret: None,
            instructions: None,
            failure_reason: None,
            provider_ref: None,
            created_at: String::new(),
            updated_at: String::new(),
        }
    }

    fn standing(status: &'static str, captured: i64, refunded: i64) -> Standing {
        Standing { status, captured_cents: captured, refunded_cents: refunded, failure_reason: None }
    }

    #[test]
    fn a_payment_never_moves_backwards() {
        assert!(
            is_behind(&payment("captured", 1000, 0), &standing("authorized", 0, 0)),
            "a stale read after a capture"
        );
        assert!(is_behind(&payment("partially_refunded", 1000, 300), &standing("captured", 1000, 0)));
        assert!(is_behind(&payment("authorized", 0, 0), &standing("pending", 0, 0)));
        assert!(!is_behind(&payment("authorized", 0, 0), &standing("captured", 1000, 0)));
        assert!(!is_behind(&payment("captured", 1000, 0), &standing("partially_refunded", 1000, 200)));
        assert!(!is_behind(&payment("failed", 0, 0), &standing("pending", 0, 0)), "a new card after a decline");
        assert!(!is_behind(&payment("pending", 0, 0), &standing("failed", 0, 0)));
    }
}
