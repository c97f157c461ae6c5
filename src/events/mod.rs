//! What a checkout, an order's status change and a sign-up cause besides themselves: mail to the
//! customer and the shop's admins, and deliveries to the shop's webhooks.
//!
//! The change writes a [`Notice`] into its shop's `event_outbox` inside its own transaction
//! ([`record`]), so a committed order always has its notice, even across a kill -9. The
//! [`relay`] moves outbox rows into main.db as `notify` jobs (many shops' rows per write, exactly
//! once: its position per shop commits with the jobs); the message lane expands each into outbox
//! mail, webhook deliveries and their jobs inside the transaction that marks the `notify` job done.
//! A request never writes main.db for this, never renders mail or looks up endpoints, and a mail
//! server or receiver that is down never slows or fails it.

use serde::{Deserialize, Serialize};

use crate::customers::store::ShopUser;
use crate::error::AppError;
use crate::mail::templates::{self, Addressing, Line, OrderSummary};
use crate::orders::store::Order;

pub mod relay;

/// Who a customer's mail goes to.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Recipient {
    pub name: String,
    pub email: String,
    /// Where a guest follows their order (a signed link); none for customers with an account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
}

impl From<&ShopUser> for Recipient {
    fn from(u: &ShopUser) -> Self {
        Recipient { name: u.name.clone(), email: u.email.clone(), link: None }
    }
}

/// What happened, as a `notify` job carries it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Notice {
    OrderPlaced {
        shop: String,
        order: Box<Order>,
        customer: Option<Recipient>,
        #[serde(default)]
        low_stock: Vec<serde_json::Value>,
    },
    OrderStatusChanged {
        shop: String,
        order: Box<Order>,
        customer: Option<Recipient>,
        from: String,
        #[serde(default)]
        reason: Option<String>,
    },
    CustomerRegistered {
        shop: String,
        customer: Recipient,
    },
}

fn summary<'a>(order: &'a Order, customer: &'a Recipient) -> OrderSummary<'a> {
    OrderSummary {
        number: &order.number,
        status: &order.status,
        total_cents: order.total_cents,
        lines: order
            .items
            .iter()
            .map(|i| Line { name: &i.name, quantity: i.quantity, line_cents: i.line_total_cents })
            .collect(),
        customer_name: &customer.name,
        customer_email: &customer.email,
        link: customer.link.as_deref(),
    }
}

/// Expands a notice into outbox messages, webhook deliveries and their jobs, inside the caller's
/// transaction (the one settling the `notify` job). A shop deleted meanwhile gets nothing.
pub fn expand(tx: &rusqlite::Connection, client_id: i64, notice: &Notice) -> Result<(), AppError> {
    let Some(client) = crate::tenancy::registry::find(tx, client_id)? else {
        return Ok(());
    };
    // A shop with webhooks turned off delivers none (its endpoints stay, for when it is back on).
    let hooks =
        client.features.is_on(crate::features::Feature::Webhooks) && crate::webhooks::store::any_active(tx, client_id)?;
    match notice {
        Notice::OrderPlaced { shop, order, customer, low_stock } => {
            if let Some(customer) = customer {
                let s = summary(order, customer);
                let to = Addressing { client_id: Some(client_id), sender: shop, to: &customer.email };
                crate::mail::queue_in(tx, &templates::order_placed_customer(&to, &s))?;
                for admin in crate::auth::users::admins_of(tx, client_id)? {
                    let to = Addressing { client_id: Some(client_id), sender: shop, to: &admin.email };
                    crate::mail::queue_in(tx, &templates::order_placed_admin(&to, &s))?;
                }
            }
            if hooks {
                crate::webhooks::emit_in(tx, client_id, "order.created", &serde_json::json!({ "order": order }))?;
                for product in low_stock {
                    crate::webhooks::emit_in(tx, client_id, "product.low_stock", product)?;
                }
            }
        }
        Notice::OrderStatusChanged { shop, order, customer, from, reason } => {
            if let Some(customer) = customer {
                let to = Addressing { client_id: Some(client_id), sender: shop, to: &customer.email };
                crate::mail::queue_in(tx, &templates::order_status_changed(&to, &summary(order, customer), from))?;
            }
            if hooks {
                let mut data = serde_json::json!({ "order": order, "from": from });
                if let Some(reason) = reason {
                    data["reason"] = serde_json::Value::from(reason.as_str());
                }
                crate::webhooks::emit_in(tx, client_id, "order.status_changed", &data)?;
            }
        }
        Notice::CustomerRegistered { shop, customer } => {
            let to = Addressing { client_id: Some(client_id), sender: shop, to: &customer.email };
            crate::mail::queue_in(tx, &templates::customer_welcome(&to, &customer.name))?;
        }
    }
    Ok(())
}

/// Writes `notice` into the shop's event outbox, inside the transaction of the change that caused
/// it: the change and its notice commit together or not at all. Call [`relay::Relay::hint`] after
/// the commit so the relay moves it at once (without the hint it is found at the next start).
pub fn record(tx: &rusqlite::Connection, notice: &Notice) -> Result<(), AppError> {
    if !enabled() {
        return Ok(());
    }
    let payload = serde_json::to_string(notice).map_err(anyhow::Error::from)?;
    tx.prepare_cached("INSERT INTO event_outbox (payload) VALUES (?1)")?.execute([payload])?;
    Ok(())
}

/// Whether checkouts and sign-ups record their mail and webhooks: always, except in benchmark
/// builds started with `VERGEFLOW_BENCH_NO_ORDER_EVENTS=1`, which the benchmark uses to price them.
#[cfg(not(feature = "bench-hooks"))]
pub fn enabled() -> bool {
    true
}

#[cfg(feature = "bench-hooks")]
pub fn enabled() -> bool {
    static OFF: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    !*OFF.get_or_init(|| std::env::var("VERGEFLOW_BENCH_NO_ORDER_EVENTS").is_ok_and(|v| v == "1"))
}

/// Products of `order` whose stock this checkout took to the shop's `low_stock_threshold` or
/// below (they were above it before): the `product.low_stock` events' data. Runs inside the
/// checkout's transaction.
pub fn low_stock(conn: &rusqlite::Connection, order: &Order) -> Result<Vec<serde_json::Value>, AppError> {
    let threshold = crate::shop_settings::store::get(conn)?.low_stock_threshold;
    let mut low = Vec::new();
    let mut stmt = conn.prepare_cached("SELECT id, name, stock FROM products WHERE id = ?1")?;
    for item in &order.items {
        let Some(product_id) = item.product_id else { continue };
        let row: Option<(i64, String, i64)> = rusqlite::OptionalExtension::optional(
            stmt.query_row([product_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))),
        )?;
        if let Some((id, name, stock)) = row
            && stock <= threshold
            && stock + item.quantity > threshold
        {
            low.push(serde_json::json!({
                "product": { "id": id, "name": name, "stock": stock },
                "threshold": threshold,
                "order_id": order.id,
            }));
        }
    }
    Ok(low)
}
