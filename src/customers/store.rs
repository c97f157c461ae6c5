//! Customer accounts (`users` in the shop file) and their buying history (`customers`).

use crate::auth::Email;
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::Serialize;

use crate::error::{AppError, is_unique_violation};
use crate::pagination::Page;

/// A customer account as the API shows it.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ShopUser {
    pub id: i64,
    pub name: String,
    pub email: String,
    pub role: &'static str,
    pub created_at: String,
}

fn shop_user(r: &Row<'_>) -> rusqlite::Result<ShopUser> {
    Ok(ShopUser { id: r.get(0)?, name: r.get(1)?, email: r.get(2)?, role: "customer", created_at: r.get(3)? })
}

/// Creates the account and its (empty) customer record.
pub fn register(conn: &Connection, name: &str, email: &str, password_hash: &str) -> Result<ShopUser, AppError> {
    conn.execute(
        "INSERT INTO users (name, email, password_hash) VALUES (?1, ?2, ?3)",
        params![name, email, password_hash],
    )
    .map_err(|e| {
        if is_unique_violation(&e, "email") {
            AppError::conflict("email_taken", "an account with that e-mail already exists in this shop")
        } else {
            e.into()
        }
    })?;
    let id = conn.last_insert_rowid();
    conn.execute("INSERT INTO customers (user_id, name, email) VALUES (?1, ?2, ?3)", params![id, name, email])?;
    Ok(find_user(conn, id)?.expect("just inserted"))
}

pub fn find_user(conn: &Connection, id: i64) -> rusqlite::Result<Option<ShopUser>> {
    conn.prepare_cached("SELECT id, name, email, created_at FROM users WHERE id = ?1")?
        .query_row([id], shop_user)
        .optional()
}

/// The customer and their password hash, by the address as typed (see `users::find_for_login`).
pub fn find_for_login(conn: &Connection, email: &str) -> rusqlite::Result<Option<(ShopUser, String)>> {
    let (normal, legacy) = (Email::normalise(email), Email::legacy_form(email));
    conn.prepare_cached(
        "SELECT id, name, email, created_at, password_hash FROM users
         WHERE email IN (?1, ?2) ORDER BY email = ?1 DESC LIMIT 1",
    )?
    .query_row([normal, legacy], |r| Ok((shop_user(r)?, r.get(4)?)))
    .optional()
}

/// Sets the password of the customer with this address (as typed); returns their id, or None.
/// Replaces a customer's stored hash with a new hash of the same password (an imported bcrypt hash
/// upgraded at sign-in).
pub fn set_password_hash(conn: &Connection, user_id: i64, password_hash: &str) -> rusqlite::Result<()> {
    conn.execute("UPDATE users SET password_hash = ?2 WHERE id = ?1", params![user_id, password_hash])?;
    Ok(())
}

pub fn set_password(conn: &Connection, email: &str, password_hash: &str) -> Result<Option<i64>, AppError> {
    let Some((user, _)) = find_for_login(conn, email)? else { return Ok(None) };
    conn.execute("UPDATE users SET password_hash = ?2 WHERE id = ?1", params![user.id, password_hash])?;
    Ok(Some(user.id))
}

/// Adds one order's total to the customer's record, creating it if needed; returns its id.
pub fn record_order(conn: &Connection, user_id: i64, total_cents: i64) -> rusqlite::Result<i64> {
    conn.query_row(
        "INSERT INTO customers (user_id, name, email, orders_count, total_spent_cents, last_order_at)
         SELECT id, name, email, 1, ?2, strftime('%Y-%m-%dT%H:%M:%SZ', 'now') FROM users WHERE id = ?1
         ON CONFLICT (user_id) DO UPDATE SET
            orders_count = orders_count + 1,
            total_spent_cents = total_spent_cents + excluded.total_spent_cents,
            last_order_at = excluded.last_order_at,
            name = excluded.name, email = excluded.email,
            updated_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now')
         RETURNING id",
        params![user_id, total_cents],
        |r| r.get(0),
    )
}

/// Adds a guest's order to the guest customer record with that e-mail (made on the first one;
/// registering later does not join them); returns its id.
pub fn record_guest_order(conn: &Connection, name: &str, email: &str, total_cents: i64) -> rusqlite::Result<i64> {
    let found: Option<i64> = conn
        .query_row("SELECT id FROM customers WHERE user_id IS NULL AND email = ?1 ORDER BY id LIMIT 1", [email], |r| {
            r.get(0)
        })
        .optional()?;
    match found {
        Some(id) => {
            conn.execute(
                "UPDATE customers SET orders_count = orders_count + 1, total_spent_cents = total_spent_cents + ?2,
                        last_order_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), name = ?3,
                        updated_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now')
                 WHERE id = ?1",
                params![id, total_cents, name],
            )?;
            Ok(id)
        }
        None => {
            conn.execute(
                "INSERT INTO customers (user_id, name, email, orders_count, total_spent_cents, last_order_at)
                 VALUES (NULL, ?1, ?2, 1, ?3, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))",
                params![name, email, total_cents],
            )?;
            Ok(conn.last_insert_rowid())
        }
    }
}

/// Takes a cancelled order back out of the customer's totals.
pub fn forget_order(conn: &Connection, customer_id: i64, total_cents: i64) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE customers SET orders_count = MAX(orders_count - 1, 0),
                total_spent_cents = MAX(total_spent_cents - ?2, 0),
                updated_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now')
         WHERE id = ?1",
        params![customer_id, total_cents],
    )?;
    Ok(())
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Customer {
    pub id: i64,
    pub user_id: Option<i64>,
    pub name: String,
    pub email: String,
    pub orders_count: i64,
    pub total_spent_cents: i64,
    pub last_order_at: Option<String>,
    /// Values of the shop's customer custom fields, by key (see `/api/admin/custom-fields`).
    #[schemars(with = "std::collections::BTreeMap<String, serde_json::Value>")]
    pub custom: serde_json::Map<String, serde_json::Value>,
    pub created_at: String,
}

const CUSTOMER_COLUMNS: &str =
    "id, user_id, name, email, orders_count, total_spent_cents, last_order_at, created_at, custom";

fn customer(r: &Row<'_>) -> rusqlite::Result<Customer> {
    Ok(Customer {
        id: r.get(0)?,
        user_id: r.get(1)?,
        name: r.get(2)?,
        email: r.get(3)?,
        orders_count: r.get(4)?,
        total_spent_cents: r.get(5)?,
        last_order_at: r.get(6)?,
        created_at: r.get(7)?,
        custom: crate::custom_fields::store::parse_stored(r.get(8)?),
    })
}

pub fn list_customers(conn: &Connection, page: Page) -> rusqlite::Result<(Vec<Customer>, i64)> {
    let total = conn.query_row("SELECT COUNT(*) FROM customers", [], |r| r.get(0))?;
    let mut stmt =
        conn.prepare_cached(&format!("SELECT {CUSTOMER_COLUMNS} FROM customers ORDER BY id LIMIT ?1 OFFSET ?2"))?;
    let rows = stmt.query_map([page.limit(), page.offset()], customer)?.collect::<Result<_, _>>()?;
    Ok((rows, total))
}

pub fn find_customer(conn: &Connection, id: i64) -> rusqlite::Result<Option<Customer>> {
    conn.prepare_cached(&format!("SELECT {CUSTOMER_COLUMNS} FROM customers WHERE id = ?1"))?
        .query_row([id], customer)
        .optional()
}

/// The customer record of an account (made at registration).
pub fn customer_of_user(conn: &Connection, user_id: i64) -> rusqlite::Result<Option<Customer>> {
    conn.prepare_cached(&format!("SELECT {CUSTOMER_COLUMNS} FROM customers WHERE user_id = ?1"))?
        .query_row([user_id], customer)
        .optional()
}
