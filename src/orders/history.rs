//! An order's history: its placing (read from the order row itself, so a checkout writes nothing
//! more for it), then `order_events` — payment changes, status changes, refunds and notes — oldest
//! first. Notes may be shown to the customer; so are the main steps.

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[schemars(example = serde_json::json!({"id": 3, "kind": "status_changed", "note": null, "visible_to_customer": true,
    "data": {"from": "paid", "to": "shipped", "tracking_number": "1Z999"}, "actor": "user:2", "created_at": "2026-11-29T10:00:00Z"}))]
pub struct OrderEvent {
    pub id: i64,
    /// `placed`, `payment_authorized`, `paid`, `payment_failed`, `status_changed`, `refunded`,
    /// `note`.
    pub kind: String,
    pub note: Option<String>,
    pub visible_to_customer: bool,
    #[schemars(with = "Option<std::collections::BTreeMap<String, serde_json::Value>>")]
    pub data: Option<serde_json::Value>,
    /// Who: `customer:N`, `user:N`, `provider:stripe`, `system`.
    pub actor: Option<String>,
    pub created_at: String,
}

/// Kinds a customer sees besides notes marked visible.
const CUSTOMER_KINDS: &str = "'placed', 'paid', 'status_changed', 'refunded'";

pub fn record(
    conn: &Connection,
    order_id: i64,
    kind: &str,
    note: Option<&str>,
    visible_to_customer: bool,
    data: Option<serde_json::Value>,
    actor: &str,
) -> rusqlite::Result<i64> {
    conn.prepare_cached(
        "INSERT INTO order_events (order_id, kind, note, visible_to_customer, data, actor) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![order_id, kind, note, visible_to_customer, data.map(|d| d.to_string()), actor])?;
    Ok(conn.last_insert_rowid())
}

/// The history of an order; `for_customer` leaves out internal notes and payment details.
pub fn list(conn: &Connection, order_id: i64, for_customer: bool) -> rusqlite::Result<Vec<OrderEvent>> {
    let placed = conn
        .prepare_cached(
            "SELECT o.created_at, o.total_cents, o.user_id, o.email IS NOT NULL, p.provider
             FROM orders o LEFT JOIN payments p ON p.id = o.id WHERE o.id = ?1",
        )?
        .query_row([order_id], |r| {
            let user_id: Option<i64> = r.get(2)?;
            let guest: bool = r.get(3)?;
            let provider: Option<String> = r.get(4)?;
            Ok(OrderEvent {
                id: 0,
                kind: "placed".into(),
                note: None,
                visible_to_customer: true,
                data: Some(serde_json::json!({ "total_cents": r.get::<_, i64>(1)?, "payment_method": provider })),
                actor: if for_customer {
                    None
                } else {
                    Some(match (user_id, guest) {
                        (Some(id), _) => format!("customer:{id}"),
                        (None, true) => "guest".into(),
                        (None, false) => "system".into(),
                    })
                },
                created_at: r.get(0)?,
            })
        })
        .optional()?;
    let mut events: Vec<OrderEvent> = placed.into_iter().collect();
    events.extend(stored(conn, order_id, for_customer)?);
    Ok(events)
}

fn stored(conn: &Connection, order_id: i64, for_customer: bool) -> rusqlite::Result<Vec<OrderEvent>> {
    let filter = if for_customer {
        format!("AND (visible_to_customer OR (kind IN ({CUSTOMER_KINDS}) AND kind <> 'note'))")
    } else {
        String::new()
    };
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT id, kind, note, visible_to_customer, data, actor, created_at FROM order_events
         WHERE order_id = ?1 {filter} ORDER BY id"
    ))?;
    stmt.query_map([order_id], |r| {
        let data: Option<String> = r.get(4)?;
        Ok(OrderEvent {
            id: r.get(0)?,
            kind: r.get(1)?,
            note: r.get(2)?,
            visible_to_customer: r.get(3)?,
            data: data.and_then(|d| serde_json::from_str(&d).ok()),
            actor: if for_customer { None } else { r.get(5)? },
            created_at: r.get(6)?,
        })
    })?
    .collect()
}
