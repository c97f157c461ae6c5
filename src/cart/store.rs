//! Cart SQL over one shop's connection. Every query is scoped to the cart's owner: a signed-in
//! customer, or a guest's cart known by its token (`carts`).

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::Serialize;

use crate::error::AppError;

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct CartItem {
    pub id: i64,
    pub product_id: i64,
    pub variant_id: i64,
    pub sku: Option<String>,
    /// The variant's option values (`{}` for a product sold in one form).
    #[schemars(with = "std::collections::BTreeMap<String, String>")]
    pub options: crate::catalog::variants::Combination,
    pub name: String,
    pub quantity: i64,
    pub unit_price_cents: i64,
    pub line_total_cents: i64,
    /// False when the product or variant was deactivated or has too little stock for this quantity.
    pub available: bool,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Cart {
    pub items: Vec<CartItem>,
    pub subtotal_cents: i64,
}

const ITEM_SELECT: &str = "SELECT c.id, c.product_id, p.name, c.quantity, v.price_cents,
                                  p.active = 1 AND v.active = 1 AND v.stock >= c.quantity, c.variant_id, v.sku, v.options
                           FROM cart_items c JOIN variants v ON v.id = c.variant_id JOIN products p ON p.id = c.product_id";

fn item(r: &Row<'_>) -> rusqlite::Result<CartItem> {
    let quantity: i64 = r.get(3)?;
    let unit: i64 = r.get(4)?;
    Ok(CartItem {
        id: r.get(0)?,
        product_id: r.get(1)?,
        variant_id: r.get(6)?,
        sku: r.get(7)?,
        options: serde_json::from_str(&r.get::<_, String>(8)?).unwrap_or_default(),
        name: r.get(2)?,
        quantity,
        unit_price_cents: unit,
        line_total_cents: unit * quantity,
        available: r.get(5)?,
    })
}

/// Whose cart: a customer's (by account) or a guest's (by `carts` row).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    Customer(i64),
    Guest(i64),
}

impl Owner {
    /// The `cart_items` column naming this owner (SQL built from it, never from input).
    pub fn column(self) -> &'static str {
        match self {
            Owner::Customer(_) => "user_id",
            Owner::Guest(_) => "cart_id",
        }
    }
    pub fn id(self) -> i64 {
        match self {
            Owner::Customer(id) | Owner::Guest(id) => id,
        }
    }
}

pub fn cart(conn: &Connection, owner: Owner) -> rusqlite::Result<Cart> {
    let col = owner.column();
    let mut stmt = conn.prepare_cached(&format!("{ITEM_SELECT} WHERE c.{col} = ?1 ORDER BY c.id"))?;
    let items: Vec<CartItem> = stmt.query_map([owner.id()], item)?.collect::<Result<_, _>>()?;
    let subtotal_cents = items.iter().map(|i| i.line_total_cents).sum();
    Ok(Cart { items, subtotal_cents })
}

pub fn find_item(conn: &Connection, owner: Owner, id: i64) -> rusqlite::Result<Option<CartItem>> {
    let col = owner.column();
    conn.prepare_cached(&format!("{ITEM_SELECT} WHERE c.{col} = ?1 AND c.id = ?2"))?
        .query_row(params![owner.id(), id], item)
        .optional()
}

/// Adds a variant (or more of it) to the cart: the one named, or the product's only one. Product
/// and variant must be active; the total quantity must stay within bounds and the variant's stock.
pub fn add(
    conn: &Connection,
    owner: Owner,
    product_id: Option<i64>,
    variant_id: Option<i64>,
    quantity: i64,
) -> Result<CartItem, AppError> {
    let col = owner.column();
    let named_variant = variant_id.is_some();
    let variant_id = match (variant_id, product_id) {
        (Some(v), _) => v,
        (None, Some(p)) => crate::catalog::variants::sole_variant(conn, p)?,
        (None, None) => return Err(AppError::invalid_field("product_id", "is required")),
    };
    let found: Option<(i64, bool, i64)> = conn
        .prepare_cached(
            "SELECT v.product_id, p.active = 1 AND v.active = 1, v.stock FROM variants v JOIN products p ON p.id = v.product_id
             WHERE v.id = ?1",
        )?
        .query_row([variant_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    let (product_id, stock) = match found {
        Some((p, _, _)) if product_id.is_some_and(|want| want != p) => {
            return Err(AppError::invalid_field("variant_id", "no such variant of this product"));
        }
        Some((p, true, stock)) => (p, stock),
        Some(_) if named_variant => return Err(AppError::invalid_field("variant_id", "this variant is not sold")),
        None if named_variant => return Err(AppError::invalid_field("variant_id", "no such variant")),
        _ => return Err(AppError::invalid_field("product_id", "no such product")),
    };
    let current: i64 = conn
        .query_row(
            &format!("SELECT quantity FROM cart_items WHERE {col} = ?1 AND variant_id = ?2"),
            params![owner.id(), variant_id],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or(0);
    let wanted = current + quantity;
    check_quantity(wanted, stock)?;
    let id: i64 = conn.query_row(
        &format!(
            "INSERT INTO cart_items ({col}, product_id, variant_id, quantity) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT ({col}, variant_id) WHERE {col} IS NOT NULL DO UPDATE SET quantity = excluded.quantity,
                updated_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now')
             RETURNING id"
        ),
        params![owner.id(), product_id, variant_id, wanted],
        |r| r.get(0),
    )?;
    Ok(find_item(conn, owner, id)?.expect("just written"))
}

fn check_quantity(wanted: i64, stock: i64) -> Result<(), AppError> {
    crate::validate::quantity(wanted)
        .map_err(|e| AppError::invalid_field("quantity", format!("the cart's quantity {e}")))?;
    if wanted > stock {
        return Err(AppError::conflict("out_of_stock", format!("only {stock} left in stock")));
    }
    Ok(())
}

pub fn set_quantity(conn: &Connection, owner: Owner, id: i64, quantity: i64) -> Result<CartItem, AppError> {
    let Some(current) = find_item(conn, owner, id)? else {
        return Err(AppError::not_found("not_found", "no such cart item"));
    };
    let stock: i64 = conn.query_row("SELECT stock FROM variants WHERE id = ?1", [current.variant_id], |r| r.get(0))?;
    check_quantity(quantity, stock)?;
    conn.execute(
        &format!(
            "UPDATE cart_items SET quantity = ?3, updated_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') WHERE {} = ?1 AND id = ?2",
            owner.column()
        ),
        params![owner.id(), id, quantity],
    )?;
    Ok(find_item(conn, owner, id)?.expect("exists"))
}

pub fn remove(conn: &Connection, owner: Owner, id: i64) -> Result<(), AppError> {
    let sql = format!("DELETE FROM cart_items WHERE {} = ?1 AND id = ?2", owner.column());
    match conn.execute(&sql, params![owner.id(), id])? {
        0 => Err(AppError::not_found("not_found", "no such cart item")),
        _ => Ok(()),
    }
}

/// A cart's subtotal (cents) and weight (grams), as shipping prices them.
pub fn totals(conn: &Connection, owner: Owner) -> rusqlite::Result<(i64, i64)> {
    conn.prepare_cached(&format!(
        "SELECT COALESCE(SUM(v.price_cents * c.quantity), 0), COALESCE(SUM(COALESCE(v.weight_grams, p.weight_grams) * c.quantity), 0)
         FROM cart_items c JOIN variants v ON v.id = c.variant_id JOIN products p ON p.id = c.product_id WHERE c.{} = ?1",
        owner.column()
    ))?
    .query_row([owner.id()], |r| Ok((r.get(0)?, r.get(1)?)))
}

/// How long a guest cart lives after its last change.
pub const GUEST_CART_DAYS: i64 = 30;

fn token_hash(token: &str) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// A new guest cart: its id and the token (shown once; only its hash is kept).
pub fn new_guest_cart(conn: &Connection) -> rusqlite::Result<(i64, String)> {
    prune_guest_carts(conn)?;
    let mut bytes = [0u8; 24];
    rand::fill(&mut bytes);
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    conn.execute(
        &format!("INSERT INTO carts (token_hash, expires_at) VALUES (?1, strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '+{GUEST_CART_DAYS} days'))"),
        [token_hash(&token)],
    )?;
    Ok((conn.last_insert_rowid(), token))
}

/// The guest cart a token names, if it exists and has not expired.
pub fn guest_cart(conn: &Connection, token: &str) -> rusqlite::Result<Option<i64>> {
    conn.prepare_cached(
        "SELECT id FROM carts WHERE token_hash = ?1 AND expires_at > strftime('%Y-%m-%dT%H:%M:%SZ', 'now')",
    )?
    .query_row([token_hash(token)], |r| r.get(0))
    .optional()
}

/// Keeps a guest cart alive for another 30 days (on every change).
pub fn touch_guest_cart(conn: &Connection, cart_id: i64) -> rusqlite::Result<()> {
    conn.execute(
        &format!("UPDATE carts SET expires_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '+{GUEST_CART_DAYS} days') WHERE id = ?1"),
        [cart_id],
    )?;
    Ok(())
}

/// Moves a guest cart's lines into a customer's cart (quantities added, capped at what the
/// product's stock and the line limit allow) and removes the guest cart. Answers the lines moved.
pub fn merge_into(conn: &Connection, cart_id: i64, user_id: i64) -> rusqlite::Result<usize> {
    let moved = conn.execute(
        "INSERT INTO cart_items (user_id, product_id, variant_id, quantity)
         SELECT ?2, g.product_id, g.variant_id, MIN(g.quantity, 1000) FROM cart_items g WHERE g.cart_id = ?1 AND true
         ON CONFLICT (user_id, variant_id) WHERE user_id IS NOT NULL DO UPDATE SET
            quantity = MIN(cart_items.quantity + excluded.quantity, 1000),
            updated_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now')",
        params![cart_id, user_id],
    )?;
    conn.execute("DELETE FROM carts WHERE id = ?1", [cart_id])?;
    Ok(moved)
}

/// Drops expired guest carts (with their lines).
pub fn prune_guest_carts(conn: &Connection) -> rusqlite::Result<usize> {
    conn.execute("DELETE FROM carts WHERE expires_at <= strftime('%Y-%m-%dT%H:%M:%SZ', 'now')", [])
}
