//! Address SQL, always scoped to the customer. At most one address is the default.

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::Serialize;

use crate::error::AppError;

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Address {
    pub id: i64,
    pub name: String,
    pub line1: String,
    pub line2: Option<String>,
    pub city: String,
    pub region: Option<String>,
    pub postal_code: String,
    pub country: String,
    pub phone: Option<String>,
    pub is_default: bool,
    pub created_at: String,
    pub updated_at: String,
}

/// Validated fields; `None` keeps the current value on update (all required ones on create).
#[derive(Debug, Default, Clone)]
pub struct AddressFields {
    pub name: Option<String>,
    pub line1: Option<String>,
    pub line2: Option<Option<String>>,
    pub city: Option<String>,
    pub region: Option<Option<String>>,
    pub postal_code: Option<String>,
    pub country: Option<String>,
    pub phone: Option<Option<String>>,
    pub is_default: Option<bool>,
}

const COLUMNS: &str =
    "id, name, line1, line2, city, region, postal_code, country, phone, is_default, created_at, updated_at";

fn address(r: &Row<'_>) -> rusqlite::Result<Address> {
    Ok(Address {
        id: r.get(0)?,
        name: r.get(1)?,
        line1: r.get(2)?,
        line2: r.get(3)?,
        city: r.get(4)?,
        region: r.get(5)?,
        postal_code: r.get(6)?,
        country: r.get(7)?,
        phone: r.get(8)?,
        is_default: r.get(9)?,
        created_at: r.get(10)?,
        updated_at: r.get(11)?,
    })
}

pub fn list(conn: &Connection, user_id: i64) -> rusqlite::Result<Vec<Address>> {
    let mut stmt = conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM addresses WHERE user_id = ?1 ORDER BY is_default DESC, id"))?;
    stmt.query_map([user_id], address)?.collect()
}

pub fn find(conn: &Connection, user_id: i64, id: i64) -> rusqlite::Result<Option<Address>> {
    conn.prepare_cached(&format!("SELECT {COLUMNS} FROM addresses WHERE user_id = ?1 AND id = ?2"))?
        .query_row(params![user_id, id], address)
        .optional()
}

/// Keeps one default: the newly chosen one, or the first address a customer saves.
fn settle_default(conn: &Connection, user_id: i64, id: i64, chosen: bool) -> rusqlite::Result<()> {
    let has_default: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM addresses WHERE user_id = ?1 AND is_default = 1 AND id <> ?2)",
        params![user_id, id],
        |r| r.get(0),
    )?;
    if chosen || !has_default {
        conn.execute("UPDATE addresses SET is_default = (id = ?2) WHERE user_id = ?1", params![user_id, id])?;
    }
    Ok(())
}

pub fn insert(conn: &Connection, user_id: i64, f: &AddressFields) -> Result<Address, AppError> {
    let count: i64 = conn.query_row("SELECT COUNT(*) FROM addresses WHERE user_id = ?1", [user_id], |r| r.get(0))?;
    if count >= 50 {
        return Err(AppError::unprocessable("too_many_addresses", "a customer may keep at most 50 addresses"));
    }
    conn.execute(
        "INSERT INTO addresses (user_id, name, line1, line2, city, region, postal_code, country, phone)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            user_id,
            f.name,
            f.line1,
            f.line2.clone().flatten(),
            f.city,
            f.region.clone().flatten(),
            f.postal_code,
            f.country,
            f.phone.clone().flatten()
        ],
    )?;
    let id = conn.last_insert_rowid();
    settle_default(conn, user_id, id, f.is_default.unwrap_or(false))?;
    Ok(find(conn, user_id, id)?.expect("just inserted"))
}

pub fn update(conn: &Connection, user_id: i64, id: i64, f: &AddressFields) -> Result<Address, AppError> {
    find(conn, user_id, id)?.ok_or_else(|| AppError::not_found("not_found", "no such address"))?;
    conn.execute(
        "UPDATE addresses SET name = COALESCE(?3, name), line1 = COALESCE(?4, line1),
                line2 = CASE WHEN ?5 THEN ?6 ELSE line2 END, city = COALESCE(?7, city),
                region = CASE WHEN ?8 THEN ?9 ELSE region END, postal_code = COALESCE(?10, postal_code),
                country = COALESCE(?11, country), phone = CASE WHEN ?12 THEN ?13 ELSE phone END,
                updated_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now')
         WHERE user_id = ?1 AND id = ?2",
        params![
            user_id,
            id,
            f.name,
            f.line1,
            f.line2.is_some(),
            f.line2.clone().flatten(),
            f.city,
            f.region.is_some(),
            f.region.clone().flatten(),
            f.postal_code,
            f.country,
            f.phone.is_some(),
            f.phone.clone().flatten()
        ],
    )?;
    if f.is_default == Some(true) {
        settle_default(conn, user_id, id, true)?;
    }
    Ok(find(conn, user_id, id)?.expect("exists"))
}

pub fn delete(conn: &Connection, user_id: i64, id: i64) -> Result<(), AppError> {
    let Some(gone) = find(conn, user_id, id)? else {
        return Err(AppError::not_found("not_found", "no such address"));
    };
    conn.execute("DELETE FROM addresses WHERE user_id = ?1 AND id = ?2", params![user_id, id])?;
    if gone.is_default
        && let Some(next) = list(conn, user_id)?.first()
    {
        settle_default(conn, user_id, next.id, true)?;
    }
    Ok(())
}
