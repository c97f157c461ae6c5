//! Cart SQL over one shop's connection. Every query is scoped to the customer.

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::Serialize;

use crate::error::AppError;

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct CartItem {
    pub id: i64,
    pub product_id: i64,
    pub name: String,
    pub quantity: i64,
    pub unit_price_cents: i64,
    pub line_total_cents: i64,
    /// False when the product was deactivated or has too little stock for this quantity.
    pub available: bool,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Cart {
    pub items: Vec<CartItem>,
    pub subtotal_cents: i64,
}

const ITEM_SELECT: &str =
    "SELECT c.id, c.product_id, p.name, c.quantity, p.price_cents, p.active = 1 AND p.stock >= c.quantity
                           FROM cart_items c JOIN products p ON p.id = c.product_id";

fn item(r: &Row<'_>) -> rusqlite::Result<CartItem> {
    let quantity: i64 = r.get(3)?;
    let unit: i64 = r.get(4)?;
    Ok(CartItem {
        id: r.get(0)?,
        product_id: r.get(1)?,
        name: r.get(2)?,
        quantity,
        unit_price_cents: unit,
        line_total_cents: unit * quantity,
        available: r.get(5)?,
    })
}

pub fn cart(conn: &Connection, user_id: i64) -> rusqlite::Result<Cart> {
    let mut stmt = conn.prepare_cached(&format!("{ITEM_SELECT} WHERE c.user_id = ?1 ORDER BY c.id"))?;
    let items: Vec<CartItem> = stmt.query_map([user_id], item)?.collect::<Result<_, _>>()?;
    let subtotal_cents = items.iter().map(|i| i.line_total_cents).sum();
    Ok(Cart { items, subtotal_cents })
}

pub fn find_item(conn: &Connection, user_id: i64, id: i64) -> rusqlite::Result<Option<CartItem>> {
    conn.prepare_cached(&format!("{ITEM_SELECT} WHERE c.user_id = ?1 AND c.id = ?2"))?
        .query_row(params![user_id, id], item)
        .optional()
}

/// Adds a product (or more of it) to the cart. The product must be active; the total quantity
/// must stay within bounds and within stock.
pub fn add(conn: &Connection, user_id: i64, product_id: i64, quantity: i64) -> Result<CartItem, AppError> {
    let product: Option<(bool, i64)> = conn
        .query_row("SELECT active, stock FROM products WHERE id = ?1", [product_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((true, stock)) = product else {
        return Err(AppError::invalid_field("product_id", "no such product"));
    };
    let current: i64 = conn
        .query_row(
            "SELECT quantity FROM cart_items WHERE user_id = ?1 AND product_id = ?2",
            params![user_id, product_id],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or(0);
    let wanted = current + quantity;
    check_quantity(wanted, stock)?;
    let id: i64 = conn.query_row(
        "INSERT INTO cart_items (user_id, product_id, quantity) VALUES (?1, ?2, ?3)
         ON CONFLICT (user_id, product_id) DO UPDATE SET quantity = excluded.quantity,
            updated_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now')
         RETURNING id",
        params![user_id, product_id, wanted],
        |r| r.get(0),
    )?;
    Ok(find_item(conn, user_id, id)?.expect("just written"))
}

fn check_quantity(wanted: i64, stock: i64) -> Result<(), AppError> {
    crate::validate::quantity(wanted)
        .map_err(|e| AppError::invalid_field("quantity", format!("the cart's quantity {e}")))?;
    if wanted > stock {
        return Err(AppError::conflict("out_of_stock", format!("only {stock} left in stock")));
    }
    Ok(())
}

pub fn set_quantity(conn: &Connection, user_id: i64, id: i64, quantity: i64) -> Result<CartItem, AppError> {
    let Some(current) = find_item(conn, user_id, id)? else {
        return Err(AppError::not_found("not_found", "no such cart item"));
    };
    let stock: i64 = conn.query_row("SELECT stock FROM products WHERE id = ?1", [current.product_id], |r| r.get(0))?;
    check_quantity(quantity, stock)?;
    conn.execute(
        "UPDATE cart_items SET quantity = ?3, updated_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') WHERE user_id = ?1 AND id = ?2",
        params![user_id, id, quantity],
    )?;
    Ok(find_item(conn, user_id, id)?.expect("exists"))
}

pub fn remove(conn: &Connection, user_id: i64, id: i64) -> Result<(), AppError> {
    match conn.execute("DELETE FROM cart_items WHERE user_id = ?1 AND id = ?2", params![user_id, id])? {
        0 => Err(AppError::not_found("not_found", "no such cart item")),
        _ => Ok(()),
    }
}
