//! Checkout: the cart becomes an order in one `BEGIN IMMEDIATE` transaction, or nothing changes.

use rusqlite::{Connection, params};

use super::store::{self, Order};
use crate::addresses;
use crate::coupons;
use crate::customers;
use crate::error::AppError;

/// Who buys: a signed-in customer with one of their addresses, or a guest with their cart, e-mail
/// and the address typed at checkout.
#[derive(Debug, Clone)]
pub enum Buyer {
    Customer { user_id: i64, address_id: i64 },
    Guest { cart_id: i64, email: String, address: Box<store::ShippingAddress> },
}

/// Places the customer's order (see [`place`]).
pub fn place_order(
    conn: &Connection,
    user_id: i64,
    address_id: i64,
    coupon_code: Option<&str>,
) -> Result<Order, AppError> {
    place(conn, &Buyer::Customer { user_id, address_id }, coupon_code, None)
}

/// Places a buyer's order. Must run inside an immediate transaction: prices and stock are
/// re-read under the write lock, so no two checkouts can sell the same unit.
pub fn place(
    conn: &Connection,
    buyer: &Buyer,
    coupon_code: Option<&str>,
    shipping_method_id: Option<i64>,
) -> Result<Order, AppError> {
    let (owner, address) = match buyer {
        Buyer::Customer { user_id, address_id } => {
            let a = addresses::store::find(conn, *user_id, *address_id)?
                .ok_or_else(|| AppError::invalid_field("address_id", "no such address"))?;
            let address = store::ShippingAddress {
                name: a.name,
                line1: a.line1,
                line2: a.line2,
                city: a.city,
                region: a.region,
                postal_code: a.postal_code,
                country: a.country,
                phone: a.phone,
            };
            (crate::cart::store::Owner::Customer(*user_id), address)
        }
        Buyer::Guest { cart_id, address, .. } => (crate::cart::store::Owner::Guest(*cart_id), (**address).clone()),
    };
    let (user_id, email) = match buyer {
        Buyer::Customer { user_id, .. } => (Some(*user_id), None),
        Buyer::Guest { email, .. } => (None, Some(email.as_str())),
    };

    struct Line {
        product_id: i64,
        variant_id: i64,
        sku: Option<String>,
        options: String,
        name: String,
        unit: i64,
        quantity: i64,
        active: bool,
        stock: i64,
        weight: i64,
    }
    let lines: Vec<Line> = conn
        .prepare_cached(&format!(
            "SELECT p.id, p.name, v.price_cents, c.quantity, p.active = 1 AND v.active = 1, v.stock,
                    COALESCE(v.weight_grams, p.weight_grams), v.id, v.sku, v.options
             FROM cart_items c JOIN variants v ON v.id = c.variant_id JOIN products p ON p.id = c.product_id
             WHERE c.{} = ?1 ORDER BY c.id",
            owner.column()
        ))?
        .query_map([owner.id()], |r| {
            Ok(Line {
                product_id: r.get(0)?,
                name: r.get(1)?,
                unit: r.get(2)?,
                quantity: r.get(3)?,
                active: r.get(4)?,
                stock: r.get(5)?,
                weight: r.get(6)?,
                variant_id: r.get(7)?,
                sku: r.get(8)?,
                options: r.get(9)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    if lines.is_empty() {
        return Err(AppError::unprocessable("empty_cart", "the cart is empty"));
    }
    for l in &lines {
        if !l.active {
            return Err(AppError::conflict(
                "product_unavailable",
                format!("'{}' is no longer sold; remove it from the cart", l.name),
            ));
        }
        if l.stock < l.quantity {
            return Err(AppError::conflict(
                "out_of_stock",
                format!("'{}' has {} left; the cart wants {}", l.name, l.stock, l.quantity),
            ));
        }
    }
    let subtotal: i64 = lines.iter().map(|l| l.unit * l.quantity).sum();

    let now = crate::db::now_rfc3339(conn)?;
    let (coupon, discount) = match coupon_code {
        None => (None, 0),
        Some(code) => {
            let coupon = coupons::store::find_by_code(conn, code)?
                .ok_or_else(|| AppError::unprocessable("invalid_coupon", "no coupon with that code"))?;
            let discount =
                coupon.discount_for(subtotal, &now).map_err(|why| AppError::unprocessable("invalid_coupon", why))?;
            if !coupons::store::count_use(conn, coupon.id)? {
                return Err(AppError::unprocessable("invalid_coupon", "this coupon has been used up"));
            }
            (Some(coupon), discount)
        }
    };
    let settings = crate::shop_settings::store::get(conn)?;
    let weight: i64 = lines.iter().map(|l| l.weight * l.quantity).sum();
    let charges = crate::shipping::store::quote(
        conn,
        &settings,
        &address.country,
        subtotal - discount,
        weight,
        shipping_method_id,
    )?;
    let total = subtotal - discount + charges.shipping_cents + if charges.tax_included { 0 } else { charges.tax_cents };
    let customer_id = match (user_id, email) {
        (Some(user_id), _) => customers::store::record_order(conn, user_id, total)?,
        (None, email) => customers::store::record_guest_order(conn, &address.name, email.unwrap_or_default(), total)?,
    };

    // Short, sequential and unique by construction: the number is derived from the row id, chosen
    // here under the write lock. Orders are never deleted, so ids (and numbers) never repeat.
    let order_id: i64 = conn.query_row("SELECT COALESCE(MAX(id), 0) + 1 FROM orders", [], |r| r.get(0))?;
    let number = order_number(order_id);
    conn.execute(
        "INSERT INTO orders (id, number, user_id, customer_id, status, subtotal_cents, discount_cents, total_cents,
                             coupon_id, coupon_code, ship_name, ship_line1, ship_line2, ship_city, ship_region,
                             ship_postal_code, ship_country, ship_phone, currency, shipping_cents, tax_cents, email,
                             tax_included, shipping_method)
         VALUES (?17, ?1, ?2, ?3, 'pending', ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?18, ?19, ?20, ?21, ?22, ?23)",
        params![
            number,
            user_id,
            customer_id,
            subtotal,
            discount,
            total,
            coupon.as_ref().map(|c| c.id),
            coupon.as_ref().map(|c| c.code.clone()),
            address.name,
            address.line1,
            address.line2,
            address.city,
            address.region,
            address.postal_code,
            address.country,
            address.phone,
            order_id,
            settings.currency,
            charges.shipping_cents,
            charges.tax_cents,
            email,
            charges.tax_included,
            charges.method
        ],
    )?;
    let mut insert_item = conn.prepare_cached(
        "INSERT INTO order_items (order_id, product_id, name, unit_price_cents, quantity, line_total_cents,
                                  variant_id, sku, variant_options)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?;
    let mut take_stock = conn.prepare_cached(
        "UPDATE variants SET stock = stock - ?2, updated_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') WHERE id = ?1 AND stock >= ?2",
    )?;
    for l in &lines {
        let options = (l.options != "{}").then_some(l.options.as_str());
        insert_item.execute(params![
            order_id,
            l.product_id,
            l.name,
            l.unit,
            l.quantity,
            l.unit * l.quantity,
            l.variant_id,
            l.sku,
            options
        ])?;
        if take_stock.execute(params![l.variant_id, l.quantity])? != 1 {
            return Err(AppError::conflict("out_of_stock", format!("'{}' sold out", l.name)));
        }
    }
    conn.execute(&format!("DELETE FROM cart_items WHERE {} = ?1", owner.column()), [owner.id()])?;
    Ok(store::find(conn, order_id, None)?.expect("just placed"))
}

/// The number a merchant and a customer see: `1001`, `1002`, … per shop. Orders placed before
/// numbers were sequential keep their `VF-…` numbers, which no sequential number can equal.
pub fn order_number(order_id: i64) -> String {
    (1000 + order_id).to_string()
}
