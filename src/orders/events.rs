//! What an order causes besides itself: mail to the customer and the shop's admins, and (see
//! `webhooks`) deliveries to the shop's endpoints. Runs after the order's transaction committed;
//! writes only the outbox and queue rows in main.db, so a mail server that is down never slows or
//! fails the checkout.

use crate::customers::store::ShopUser;
use crate::error::AppError;
use crate::mail::templates::{self, Addressing, Line, OrderSummary};
use crate::state::AppState;
use crate::tenancy::registry::Client;

use super::store::Order;

fn summary<'a>(order: &'a Order, customer: &'a ShopUser) -> OrderSummary<'a> {
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
    }
}

/// An order was placed: mail the customer and every admin of the shop.
pub async fn placed(state: &AppState, client: &Client, order: &Order, customer: &ShopUser) -> Result<(), AppError> {
    let s = summary(order, customer);
    let mut mails =
        vec![templates::order_placed_customer(&Addressing { client_id: Some(client.id), sender: &client.name, to: &customer.email }, &s)];
    let client_id = client.id;
    let admins = state.main.run(move |c| Ok(crate::auth::users::admins_of(c, client_id)?)).await?;
    for admin in &admins {
        mails.push(templates::order_placed_admin(
            &Addressing { client_id: Some(client.id), sender: &client.name, to: &admin.email },
            &s,
        ));
    }
    queue_all(state, mails).await
}

/// The mail telling a customer their order moved from `from` to its current status.
pub fn status_changed_mail(client: &Client, order: &Order, customer: &ShopUser, from: &str) -> crate::mail::Outgoing {
    templates::order_status_changed(
        &Addressing { client_id: Some(client.id), sender: &client.name, to: &customer.email },
        &summary(order, customer),
        from,
    )
}

/// An order moved from `from` to its current status: mail the customer.
pub async fn status_changed(
    state: &AppState,
    client: &Client,
    order: &Order,
    customer: &ShopUser,
    from: &str,
) -> Result<(), AppError> {
    queue_all(state, vec![status_changed_mail(client, order, customer, from)]).await
}

/// A customer registered: mail them a welcome.
pub async fn customer_registered(state: &AppState, client: &Client, customer: &ShopUser) -> Result<(), AppError> {
    let mail = templates::customer_welcome(
        &Addressing { client_id: Some(client.id), sender: &client.name, to: &customer.email },
        &customer.name,
    );
    queue_all(state, vec![mail]).await
}

async fn queue_all(state: &AppState, mails: Vec<crate::mail::Outgoing>) -> Result<(), AppError> {
    state
        .main
        .run(move |c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            for m in &mails {
                crate::mail::queue_in(&tx, m)?;
            }
            tx.commit()?;
            Ok(())
        })
        .await
}

/// Whether checkouts and sign-ups queue their mail and webhooks: always, except in benchmark
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

/// Runs a follow-up of a committed change: its failure is logged, never turned into an error
/// for a request whose change already happened.
pub async fn after_commit(what: &str, f: impl std::future::Future<Output = Result<(), AppError>>) {
    if !enabled() {
        return;
    }
    if let Err(err) = f.await {
        tracing::error!(error = %err, follow_up = what, "could not queue the follow-up of a committed change");
    }
}

/// Products of `order` whose stock this checkout took to [`crate::webhooks::LOW_STOCK_AT`] or
/// below (they were above it before): the `product.low_stock` events' data. Runs inside the
/// checkout's transaction.
pub fn low_stock(conn: &rusqlite::Connection, order: &Order) -> Result<Vec<serde_json::Value>, AppError> {
    let mut low = Vec::new();
    let mut stmt = conn.prepare_cached("SELECT id, name, stock FROM products WHERE id = ?1")?;
    for item in &order.items {
        let Some(product_id) = item.product_id else { continue };
        let row: Option<(i64, String, i64)> =
            rusqlite::OptionalExtension::optional(stmt.query_row([product_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))))?;
        if let Some((id, name, stock)) = row
            && stock <= crate::webhooks::LOW_STOCK_AT
            && stock + item.quantity > crate::webhooks::LOW_STOCK_AT
        {
            low.push(serde_json::json!({
                "product": { "id": id, "name": name, "stock": stock },
                "threshold": crate::webhooks::LOW_STOCK_AT,
                "order_id": order.id,
            }));
        }
    }
    Ok(low)
}
