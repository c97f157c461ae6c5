//! Moving an order to another status with everything that goes with it: the stock and totals
//! (`store::change_status`), the customer's mail and webhooks (a notice in the shop's outbox) and
//! the order's history. One function for the admin, the auto-cancel schedule and payments.

use rusqlite::Connection;

use super::history;
use super::store::{self, Order};
use crate::error::AppError;
use crate::events::{self, Notice, Recipient};

/// Moves order `id` to `to`; answers the order and whether its status changed. Run inside an
/// immediate transaction.
pub fn change(
    tx: &Connection,
    id: i64,
    to: &str,
    shop_name: &str,
    reason: Option<&str>,
    actor: &str,
) -> Result<(Order, bool), AppError> {
    let from = store::find(tx, id, None)?.ok_or_else(|| AppError::not_found("not_found", "no such order"))?.status;
    let order = store::change_status(tx, id, to)?;
    let changed = from != order.status;
    if changed {
        let customer = match order.user_id {
            Some(user_id) => crate::customers::store::find_user(tx, user_id)?,
            None => None,
        };
        let notice = Notice::OrderStatusChanged {
            shop: crate::shop_settings::store::sender_name(tx, shop_name)?,
            order: Box::new(order.clone()),
            customer: customer.as_ref().map(Recipient::from),
            from: from.clone(),
            reason: reason.map(str::to_string),
        };
        events::record(tx, &notice)?;
        let data = serde_json::json!({ "from": from, "to": order.status, "reason": reason });
        history::record(tx, id, "status_changed", None, true, Some(data), actor)?;
    }
    Ok((order, changed))
}
