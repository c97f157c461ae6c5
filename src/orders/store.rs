//! Order SQL: reading orders with their items, and moving them through their statuses.

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::Serialize;

use crate::error::AppError;
use crate::pagination::Page;

/// The statuses an order moves through.
pub const STATUSES: [&str; 5] = ["pending", "paid", "shipped", "delivered", "cancelled"];

/// Which status may follow which: forward one step, or cancelled before shipping.
pub fn may_move(from: &str, to: &str) -> bool {
    matches!(
        (from, to),
        ("pending", "paid")
            | ("paid", "shipped")
            | ("shipped", "delivered")
            | ("pending", "cancelled")
            | ("paid", "cancelled")
    )
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct OrderItem {
    pub id: i64,
    pub product_id: Option<i64>,
    /// The variant sold (null once it is deleted); `sku` and `options` are as they were then.
    #[serde(default)]
    pub variant_id: Option<i64>,
    #[serde(default)]
    pub sku: Option<String>,
    /// The variant's option values when it was sold; null for a product sold in one form.
    #[serde(default)]
    #[schemars(with = "Option<std::collections::BTreeMap<String, String>>")]
    pub options: Option<crate::catalog::variants::Combination>,
    pub name: String,
    pub unit_price_cents: i64,
    pub quantity: i64,
    pub line_total_cents: i64,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct ShippingAddress {
    pub name: String,
    pub line1: String,
    pub line2: Option<String>,
    pub city: String,
    pub region: Option<String>,
    pub postal_code: String,
    pub country: String,
    pub phone: Option<String>,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, schemars::JsonSchema)]
#[schemars(example = serde_json::json!({"id": 1, "number": "1001", "status": "pending", "user_id": 7, "customer_id": 3,
    "currency": "EUR", "subtotal_cents": 5998, "discount_cents": 600, "shipping_cents": 495, "tax_cents": 1120,
    "total_cents": 7013, "coupon_code": "TEA10",
    "shipping_address": {"name": "Ada Lovelace", "line1": "1 Main St", "line2": null, "city": "Springfield",
                         "region": null, "postal_code": "12345", "country": "US", "phone": null},
    "items": [{"id": 1, "product_id": 1, "name": "Red Kettle", "unit_price_cents": 2999, "quantity": 2, "line_total_cents": 5998}],
    "created_at": "2026-11-28T12:31:00Z", "updated_at": "2026-11-28T12:31:00Z"}))]
pub struct Order {
    pub id: i64,
    pub number: String,
    #[schemars(with = "OrderStatus")]
    pub status: String,
    pub user_id: Option<i64>,
    pub customer_id: Option<i64>,
    /// A guest's e-mail (orders placed without an account); null for customers' orders.
    #[serde(default)]
    pub email: Option<String>,
    /// ISO 4217 code of every amount (the shop's currency when the order was placed).
    #[serde(default = "default_currency")]
    pub currency: String,
    pub subtotal_cents: i64,
    pub discount_cents: i64,
    #[serde(default)]
    pub shipping_cents: i64,
    #[serde(default)]
    pub tax_cents: i64,
    /// Prices included the tax: `tax_cents` is the part of the total that is tax, not added to it.
    #[serde(default)]
    pub tax_included: bool,
    /// The shipping method's name (null: the shop's flat shipping setting).
    #[serde(default)]
    pub shipping_method: Option<String>,
    /// subtotal − discount + shipping + tax.
    pub total_cents: i64,
    /// What was refunded of the payment so far.
    #[serde(default)]
    pub refunded_cents: i64,
    pub coupon_code: Option<String>,
    pub shipping_address: ShippingAddress,
    pub items: Vec<OrderItem>,
    /// The order's payment (null for orders placed before payments existed).
    #[serde(default)]
    pub payment: Option<crate::payments::Payment>,
    /// Values of the shop's order custom fields, by key (see `/api/admin/custom-fields`).
    #[serde(default)]
    #[schemars(with = "std::collections::BTreeMap<String, serde_json::Value>")]
    pub custom: serde_json::Map<String, serde_json::Value>,
    pub created_at: String,
    pub updated_at: String,
}

fn default_currency() -> String {
    "USD".into()
}

const COLUMNS: &str = "id, number, status, user_id, customer_id, subtotal_cents, discount_cents, total_cents, coupon_code,
    ship_name, ship_line1, ship_line2, ship_city, ship_region, ship_postal_code, ship_country, ship_phone, created_at, updated_at,
    currency, shipping_cents, tax_cents, custom, refunded_cents, email, tax_included, shipping_method";

fn order(r: &Row<'_>) -> rusqlite::Result<Order> {
    Ok(Order {
        id: r.get(0)?,
        number: r.get(1)?,
        status: r.get(2)?,
        user_id: r.get(3)?,
        customer_id: r.get(4)?,
        currency: r.get(19)?,
        subtotal_cents: r.get(5)?,
        discount_cents: r.get(6)?,
        shipping_cents: r.get(20)?,
        tax_cents: r.get(21)?,
        total_cents: r.get(7)?,
        refunded_cents: r.get(23)?,
        email: r.get(24)?,
        tax_included: r.get(25)?,
        shipping_method: r.get(26)?,
        payment: None,
        coupon_code: r.get(8)?,
        shipping_address: ShippingAddress {
            name: r.get(9)?,
            line1: r.get(10)?,
            line2: r.get(11)?,
            city: r.get(12)?,
            region: r.get(13)?,
            postal_code: r.get(14)?,
            country: r.get(15)?,
            phone: r.get(16)?,
        },
        items: Vec::new(),
        custom: crate::custom_fields::store::parse_stored(r.get(22)?),
        created_at: r.get(17)?,
        updated_at: r.get(18)?,
    })
}

fn with_items(conn: &Connection, mut orders: Vec<Order>) -> rusqlite::Result<Vec<Order>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, product_id, name, unit_price_cents, quantity, line_total_cents, variant_id, sku, variant_options
         FROM order_items WHERE order_id = ?1 ORDER BY id",
    )?;
    for o in &mut orders {
        o.payment = crate::payments::store::payment_of(conn, o.id)?;
        o.items = stmt
            .query_map([o.id], |r| {
                Ok(OrderItem {
                    id: r.get(0)?,
                    product_id: r.get(1)?,
                    name: r.get(2)?,
                    unit_price_cents: r.get(3)?,
                    quantity: r.get(4)?,
                    line_total_cents: r.get(5)?,
                    variant_id: r.get(6)?,
                    sku: r.get(7)?,
                    options: r.get::<_, Option<String>>(8)?.and_then(|o| serde_json::from_str(&o).ok()),
                })
            })?
            .collect::<Result<_, _>>()?;
    }
    Ok(orders)
}

/// One order; `user_id` restricts it to that customer's orders.
pub fn find(conn: &Connection, id: i64, user_id: Option<i64>) -> rusqlite::Result<Option<Order>> {
    let found = conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM orders WHERE id = ?1 AND (?2 IS NULL OR user_id = ?2)"))?
        .query_row(params![id, user_id], order)
        .optional()?;
    Ok(with_items(conn, found.into_iter().collect())?.pop())
}

/// Newest first; narrowed to one customer and/or one status.
pub fn list(
    conn: &Connection,
    user_id: Option<i64>,
    status: Option<&str>,
    page: Page,
) -> rusqlite::Result<(Vec<Order>, i64)> {
    const WHERE: &str = "(?1 IS NULL OR user_id = ?1) AND (?2 IS NULL OR status = ?2)";
    let total =
        conn.query_row(&format!("SELECT COUNT(*) FROM orders WHERE {WHERE}"), params![user_id, status], |r| r.get(0))?;
    let mut stmt = conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM orders WHERE {WHERE} ORDER BY id DESC LIMIT ?3 OFFSET ?4"))?;
    let rows =
        stmt.query_map(params![user_id, status, page.limit(), page.offset()], order)?.collect::<Result<_, _>>()?;
    Ok((with_items(conn, rows)?, total))
}

/// Moves an order to `to`. Cancelling puts the stock back, returns the coupon use and takes the
/// order out of the customer's totals. Run inside an immediate transaction.
pub fn change_status(conn: &Connection, id: i64, to: &str) -> Result<Order, AppError> {
    let current = find(conn, id, None)?.ok_or_else(|| AppError::not_found("not_found", "no such order"))?;
    if !may_move(&current.status, to) {
        return Err(AppError::conflict(
            "invalid_status_transition",
            format!("an order that is {} cannot become {to}", current.status),
        ));
    }
    conn.execute(
        "UPDATE orders SET status = ?2, updated_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') WHERE id = ?1",
        params![id, to],
    )?;
    if to == "cancelled" {
        for item in &current.items {
            crate::catalog::variants::restock(conn, item.variant_id, item.quantity)?;
        }
        if let Some(coupon_id) =
            conn.query_row("SELECT coupon_id FROM orders WHERE id = ?1", [id], |r| r.get::<_, Option<i64>>(0))?
        {
            crate::coupons::store::release_use(conn, coupon_id)?;
        }
        if let Some(customer_id) = current.customer_id {
            crate::customers::store::forget_order(conn, customer_id, current.total_cents)?;
        }
    }
    Ok(find(conn, id, None)?.expect("exists"))
}

/// The statuses an order moves through, as the API document lists them (stored as text).
#[derive(schemars::JsonSchema)]
#[schemars(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum OrderStatus {
    Pending,
    Paid,
    Shipped,
    Delivered,
    Cancelled,
}
