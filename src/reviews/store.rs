//! Review SQL. Rating totals on `products` are kept by triggers (client migration V2).

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::Serialize;

use crate::error::{AppError, is_unique_violation};
use crate::pagination::Page;

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Review {
    pub id: i64,
    pub product_id: i64,
    pub user_id: i64,
    pub author_name: String,
    pub rating: i64,
    pub title: Option<String>,
    pub body: Option<String>,
    pub hidden: bool,
    pub created_at: String,
    pub updated_at: String,
}

const SELECT: &str =
    "SELECT r.id, r.product_id, r.user_id, u.name, r.rating, r.title, r.body, r.hidden, r.created_at, r.updated_at
                      FROM product_reviews r JOIN users u ON u.id = r.user_id";

fn review(r: &Row<'_>) -> rusqlite::Result<Review> {
    Ok(Review {
        id: r.get(0)?,
        product_id: r.get(1)?,
        user_id: r.get(2)?,
        author_name: r.get(3)?,
        rating: r.get(4)?,
        title: r.get(5)?,
        body: r.get(6)?,
        hidden: r.get(7)?,
        created_at: r.get(8)?,
        updated_at: r.get(9)?,
    })
}

pub fn find(conn: &Connection, id: i64) -> rusqlite::Result<Option<Review>> {
    conn.prepare_cached(&format!("{SELECT} WHERE r.id = ?1"))?.query_row([id], review).optional()
}

/// Newest first. `visible_only` for the storefront; the admin may narrow by product and `hidden`.
pub fn list(
    conn: &Connection,
    product_id: Option<i64>,
    hidden: Option<bool>,
    page: Page,
) -> rusqlite::Result<(Vec<Review>, i64)> {
    const WHERE: &str = "(?1 IS NULL OR r.product_id = ?1) AND (?2 IS NULL OR r.hidden = ?2)";
    let total = conn.query_row(
        &format!("SELECT COUNT(*) FROM product_reviews r WHERE {WHERE}"),
        params![product_id, hidden],
        |r| r.get(0),
    )?;
    let mut stmt = conn.prepare_cached(&format!("{SELECT} WHERE {WHERE} ORDER BY r.id DESC LIMIT ?3 OFFSET ?4"))?;
    let rows =
        stmt.query_map(params![product_id, hidden, page.limit(), page.offset()], review)?.collect::<Result<_, _>>()?;
    Ok((rows, total))
}

pub fn insert(
    conn: &Connection,
    product_id: i64,
    user_id: i64,
    rating: i64,
    title: Option<&str>,
    body: Option<&str>,
) -> Result<Review, AppError> {
    conn.execute(
        "INSERT INTO product_reviews (product_id, user_id, rating, title, body) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![product_id, user_id, rating, title, body],
    )
    .map_err(|e| {
        if is_unique_violation(&e, "product_reviews") {
            AppError::conflict("already_reviewed", "you have already reviewed this product")
        } else {
            e.into()
        }
    })?;
    Ok(find(conn, conn.last_insert_rowid())?.expect("just inserted"))
}

pub fn set_hidden(conn: &Connection, id: i64, hidden: bool) -> Result<Review, AppError> {
    // `hidden <> ?2` keeps the rating triggers from counting a no-op change.
    conn.execute(
        "UPDATE product_reviews SET hidden = ?2, updated_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') WHERE id = ?1 AND hidden <> ?2",
        params![id, hidden],
    )?;
    find(conn, id)?.ok_or_else(|| AppError::not_found("not_found", "no such review"))
}

pub fn delete(conn: &Connection, id: i64) -> Result<(), AppError> {
    match conn.execute("DELETE FROM product_reviews WHERE id = ?1", [id])? {
        0 => Err(AppError::not_found("not_found", "no such review")),
        _ => Ok(()),
    }
}
