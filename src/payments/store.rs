//! Payment SQL over one shop's connection: provider configuration, payments, refunds,
//! idempotency keys and provider events already seen.

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::Serialize;

use super::{Payment, Provider};
use crate::error::AppError;

/// A provider's configuration as the admin sees it: secrets only as "set or not".
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[schemars(example = serde_json::json!({"provider": "stripe", "configured": true, "enabled": true, "instructions": null,
    "capture": "automatic", "secret_key_set": true, "webhook_secret_set": true, "updated_at": "2026-11-29T10:00:00Z"}))]
pub struct ProviderConfig {
    pub provider: Provider,
    /// The admin has set this provider up (the others are listed for completeness).
    pub configured: bool,
    pub enabled: bool,
    pub instructions: Option<String>,
    /// `automatic` or `manual` (Stripe: authorise at checkout, the admin captures).
    pub capture: String,
    pub secret_key_set: bool,
    pub webhook_secret_set: bool,
    pub updated_at: Option<String>,
}

/// A configured provider with its sealed secrets (never answered).
#[derive(Debug, Clone)]
pub struct ProviderRow {
    pub config: ProviderConfig,
    pub secret_key_sealed: Option<String>,
    pub webhook_secret_sealed: Option<String>,
}

const PROVIDER_COLUMNS: &str =
    "provider, enabled, instructions, capture, secret_key_sealed, webhook_secret_sealed, updated_at";

fn provider_row(r: &Row<'_>) -> rusqlite::Result<ProviderRow> {
    let name: String = r.get(0)?;
    let secret_key_sealed: Option<String> = r.get(4)?;
    let webhook_secret_sealed: Option<String> = r.get(5)?;
    Ok(ProviderRow {
        config: ProviderConfig {
            provider: Provider::parse(&name).unwrap_or(Provider::Manual),
            configured: true,
            enabled: r.get(1)?,
            instructions: r.get(2)?,
            capture: r.get(3)?,
            secret_key_set: secret_key_sealed.is_some(),
            webhook_secret_set: webhook_secret_sealed.is_some(),
            updated_at: r.get(6)?,
        },
        secret_key_sealed,
        webhook_secret_sealed,
    })
}

pub fn provider(conn: &Connection, p: Provider) -> rusqlite::Result<Option<ProviderRow>> {
    conn.prepare_cached(&format!("SELECT {PROVIDER_COLUMNS} FROM payment_providers WHERE provider = ?1"))?
        .query_row([p.as_str()], provider_row)
        .optional()
}

/// Every provider, configured or not, in a fixed order.
pub fn providers(conn: &Connection) -> rusqlite::Result<Vec<ProviderConfig>> {
    let mut out = Vec::new();
    for p in Provider::ALL {
        out.push(match provider(conn, p)? {
            Some(row) => row.config,
            None => ProviderConfig {
                provider: p,
                configured: false,
                enabled: false,
                instructions: None,
                capture: "automatic".into(),
                secret_key_set: false,
                webhook_secret_set: false,
                updated_at: None,
            },
        });
    }
    Ok(out)
}

/// What to change in a provider's configuration; `None` keeps a value.
#[derive(Debug, Default)]
pub struct ProviderChanges {
    pub enabled: Option<bool>,
    pub instructions: Option<Option<String>>,
    pub capture: Option<String>,
    pub secret_key_sealed: Option<Option<String>>,
    pub webhook_secret_sealed: Option<Option<String>>,
}

pub fn save_provider(conn: &Connection, p: Provider, c: &ProviderChanges) -> rusqlite::Result<ProviderConfig> {
    conn.execute("INSERT INTO payment_providers (provider) VALUES (?1) ON CONFLICT DO NOTHING", [p.as_str()])?;
    conn.execute(
        "UPDATE payment_providers SET enabled = COALESCE(?2, enabled),
                instructions = CASE WHEN ?3 THEN ?4 ELSE instructions END,
                capture = COALESCE(?5, capture),
                secret_key_sealed = CASE WHEN ?6 THEN ?7 ELSE secret_key_sealed END,
                webhook_secret_sealed = CASE WHEN ?8 THEN ?9 ELSE webhook_secret_sealed END,
                updated_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now')
         WHERE provider = ?1",
        params![
            p.as_str(),
            c.enabled,
            c.instructions.is_some(),
            c.instructions.clone().flatten(),
            c.capture,
            c.secret_key_sealed.is_some(),
            c.secret_key_sealed.clone().flatten(),
            c.webhook_secret_sealed.is_some(),
            c.webhook_secret_sealed.clone().flatten(),
        ],
    )?;
    Ok(provider(conn, p)?.expect("just saved").config)
}

pub fn remove_provider(conn: &Connection, p: Provider) -> rusqlite::Result<bool> {
    Ok(conn.execute("DELETE FROM payment_providers WHERE provider = ?1", [p.as_str()])? > 0)
}

/// The provider a checkout uses: the one asked for, if the shop has it enabled; without a wish, the
/// only enabled one; a shop that configured none takes orders as `manual` (as before payments).
pub fn choose(conn: &Connection, wanted: Option<Provider>) -> Result<ProviderRow, AppError> {
    // One read of the (at most four) rows: the checkout's cost matters.
    let all: Vec<ProviderRow> = {
        let mut stmt = conn.prepare_cached(&format!("SELECT {PROVIDER_COLUMNS} FROM payment_providers"))?;
        stmt.query_map([], provider_row)?.collect::<Result<_, _>>()?
    };
    let configured = all.len();
    let enabled: Vec<ProviderRow> = all.into_iter().filter(|r| r.config.enabled).collect();
    let manual = || ProviderRow {
        config: ProviderConfig {
            provider: Provider::Manual,
            configured: false,
            enabled: true,
            instructions: None,
            capture: "automatic".into(),
            secret_key_set: false,
            webhook_secret_set: false,
            updated_at: None,
        },
        secret_key_sealed: None,
        webhook_secret_sealed: None,
    };
    let names = || enabled.iter().map(|r| r.config.provider.as_str()).collect::<Vec<_>>().join(", ");
    match wanted {
        _ if configured == 0 && wanted.is_none_or(|w| w == Provider::Manual) => Ok(manual()),
        Some(w) => enabled.iter().find(|r| r.config.provider == w).cloned().ok_or_else(|| {
            AppError::invalid_field(
                "payment_method",
                format!("this shop takes {}", if enabled.is_empty() { "no payments".into() } else { names() }),
            )
        }),
        None if enabled.len() == 1 => Ok(enabled[0].clone()),
        None if enabled.is_empty() => {
            Err(AppError::unprocessable("no_payment_method", "this shop takes no payments at the moment"))
        }
        None => Err(AppError::invalid_field("payment_method", format!("is required: one of {}", names()))),
    }
}

const PAYMENT_COLUMNS: &str = "p.id, p.provider, p.status, p.amount_cents, p.currency, p.captured_cents, p.refunded_cents, \
    p.client_secret, pp.instructions, p.failure_reason, p.provider_ref, p.created_at, p.updated_at, p.id";

fn payment(r: &Row<'_>) -> rusqlite::Result<Payment> {
    let provider: String = r.get(1)?;
    let provider = Provider::parse(&provider).unwrap_or(Provider::Manual);
    let status: String = r.get(2)?;
    Ok(Payment {
        id: r.get(0)?,
        provider,
        amount_cents: r.get(3)?,
        currency: r.get(4)?,
        captured_cents: r.get(5)?,
        refunded_cents: r.get(6)?,
        // Only a payment still waiting for the buyer needs its client secret.
        client_secret: if status == "pending" { r.get(7)? } else { None },
        instructions: if provider.is_offline() { r.get(8)? } else { None },
        failure_reason: r.get(9)?,
        provider_ref: r.get(10)?,
        status,
        created_at: r.get(11)?,
        updated_at: r.get(12)?,
    })
}

pub fn payment_of(conn: &Connection, order_id: i64) -> rusqlite::Result<Option<Payment>> {
    conn.prepare_cached(&format!(
        "SELECT {PAYMENT_COLUMNS} FROM payments p LEFT JOIN payment_providers pp ON pp.provider = p.provider
         WHERE p.id = ?1"
    ))?
    .query_row([order_id], payment)
    .optional()
}

/// The payment with this provider id, and its order's id.
pub fn find_by_ref(conn: &Connection, provider_ref: &str) -> rusqlite::Result<Option<(i64, Payment)>> {
    conn.prepare_cached(&format!(
        "SELECT {PAYMENT_COLUMNS} FROM payments p LEFT JOIN payment_providers pp ON pp.provider = p.provider
         WHERE p.provider_ref = ?1"
    ))?
    .query_row([provider_ref], |r| Ok((r.get(13)?, payment(r)?)))
    .optional()
}

/// Makes an order's payment (`pending`) and answers it as a read would, without reading it back.
pub fn insert_payment(
    conn: &Connection,
    order_id: i64,
    provider: &ProviderRow,
    amount_cents: i64,
    currency: &str,
) -> rusqlite::Result<Payment> {
    let p = provider.config.provider;
    let now: String = conn
        .prepare_cached(
            "INSERT INTO payments (id, provider, amount_cents, currency) VALUES (?1, ?2, ?3, ?4) RETURNING created_at",
        )?
        .query_row(params![order_id, p.as_str(), amount_cents, currency], |r| r.get(0))?;
    Ok(Payment {
        id: order_id,
        provider: p,
        status: "pending".into(),
        amount_cents,
        currency: currency.to_string(),
        captured_cents: 0,
        refunded_cents: 0,
        client_secret: None,
        instructions: if p.is_offline() { provider.config.instructions.clone() } else { None },
        failure_reason: None,
        provider_ref: None,
        updated_at: now.clone(),
        created_at: now,
    })
}

/// Records the provider's payment (a Stripe PaymentIntent) made for a payment.
pub fn set_intent(conn: &Connection, payment_id: i64, provider_ref: &str, client_secret: &str) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE payments SET provider_ref = ?2, client_secret = ?3, updated_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now')
         WHERE id = ?1 AND provider_ref IS NULL",
        params![payment_id, provider_ref, client_secret],
    )?;
    Ok(())
}

/// Where a payment stands by the provider (or by the admin, for offline providers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing {
    pub status: &'static str,
    pub captured_cents: i64,
    pub refunded_cents: i64,
    pub failure_reason: Option<String>,
}

/// Writes a payment's standing; answers its status before, so callers can act on the change.
pub fn set_standing(conn: &Connection, payment_id: i64, s: &Standing) -> rusqlite::Result<String> {
    let before: String = conn.query_row("SELECT status FROM payments WHERE id = ?1", [payment_id], |r| r.get(0))?;
    conn.execute(
        "UPDATE payments SET status = ?2, captured_cents = ?3, refunded_cents = ?4, failure_reason = ?5,
                updated_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now')
         WHERE id = ?1",
        params![payment_id, s.status, s.captured_cents, s.refunded_cents, s.failure_reason],
    )?;
    Ok(before)
}

/// The status a captured payment has after refunds.
pub fn refund_status(captured: i64, refunded: i64) -> &'static str {
    match refunded {
        0 => "captured",
        r if r >= captured => "refunded",
        _ => "partially_refunded",
    }
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Refund {
    pub id: i64,
    pub order_id: i64,
    pub amount_cents: i64,
    /// The order's items were put back in stock with this refund.
    pub restocked: bool,
    pub reason: Option<String>,
    pub provider_ref: Option<String>,
    pub created_at: String,
}

fn refund(r: &Row<'_>) -> rusqlite::Result<Refund> {
    Ok(Refund {
        id: r.get(0)?,
        order_id: r.get(1)?,
        amount_cents: r.get(2)?,
        restocked: r.get(3)?,
        reason: r.get(4)?,
        provider_ref: r.get(5)?,
        created_at: r.get(6)?,
    })
}

pub fn find_refund(conn: &Connection, id: i64) -> rusqlite::Result<Option<Refund>> {
    conn.prepare_cached(
        "SELECT id, order_id, amount_cents, restocked, reason, provider_ref, created_at FROM refunds WHERE id = ?1",
    )?
    .query_row([id], refund)
    .optional()
}

pub fn refunds_of(conn: &Connection, order_id: i64) -> rusqlite::Result<Vec<Refund>> {
    conn.prepare_cached(
        "SELECT id, order_id, amount_cents, restocked, reason, provider_ref, created_at FROM refunds
         WHERE order_id = ?1 ORDER BY id",
    )?
    .query_map([order_id], refund)?
    .collect()
}

pub fn insert_refund(
    conn: &Connection,
    payment_id: i64,
    order_id: i64,
    amount_cents: i64,
    restocked: bool,
    reason: Option<&str>,
    provider_ref: Option<&str>,
) -> rusqlite::Result<i64> {
    conn.execute(
        "INSERT INTO refunds (payment_id, order_id, amount_cents, restocked, reason, provider_ref)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![payment_id, order_id, amount_cents, restocked, reason, provider_ref],
    )?;
    Ok(conn.last_insert_rowid())
}

/// How long an `Idempotency-Key` is remembered.
pub const IDEMPOTENCY_HOURS: i64 = 24;

/// What an `Idempotency-Key` made before, if the same key came with the same request within 24 h;
/// 422 `idempotency_key_reused` when it came with another.
pub fn recall(conn: &Connection, scope: &str, key: &str, request_hash: &str) -> Result<Option<i64>, AppError> {
    conn.execute(
        &format!("DELETE FROM idempotency_keys WHERE scope = ?1 AND created_at < strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-{IDEMPOTENCY_HOURS} hours')"),
        [scope],
    )?;
    let found: Option<(String, i64)> = conn
        .prepare_cached("SELECT request_hash, result_id FROM idempotency_keys WHERE scope = ?1 AND key = ?2")?
        .query_row([scope, key], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    match found {
        Some((hash, id)) if hash == request_hash => Ok(Some(id)),
        Some(_) => Err(AppError::unprocessable(
            "idempotency_key_reused",
            "this Idempotency-Key was used with another request; use a new key for a new request",
        )),
        None => Ok(None),
    }
}

pub fn remember(conn: &Connection, scope: &str, key: &str, request_hash: &str, result_id: i64) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO idempotency_keys (scope, key, request_hash, result_id) VALUES (?1, ?2, ?3, ?4)",
        params![scope, key, request_hash, result_id],
    )?;
    Ok(())
}

/// Marks a provider event as handled; false when it already was (a replay).
pub fn first_sight(conn: &Connection, event_id: &str) -> rusqlite::Result<bool> {
    Ok(conn.execute("INSERT OR IGNORE INTO payment_events_seen (event_id) VALUES (?1)", [event_id])? == 1)
}
