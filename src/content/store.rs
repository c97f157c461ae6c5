//! Banner and page SQL, the same over main.db (global) and a shop file (the shop's own).

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::Serialize;

use crate::error::AppError;
use crate::pagination::Page;

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[schemars(example = serde_json::json!({"id": 1, "title": "Winter sale", "image_url": "https://cdn.example/sale.jpg",
    "link_url": "/sale", "position": 0, "active": true, "starts_at": "2026-12-01T00:00:00Z", "ends_at": null,
    "created_at": "2026-11-29T10:00:00Z", "updated_at": "2026-11-29T10:00:00Z"}))]
pub struct Banner {
    pub id: i64,
    pub title: String,
    pub image_url: Option<String>,
    pub link_url: Option<String>,
    /// Display order, lowest first.
    pub position: i64,
    pub active: bool,
    /// Shown from this time (null: at once) until `ends_at` (null: for good).
    pub starts_at: Option<String>,
    pub ends_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

const BANNER: &str = "id, title, image_url, link_url, position, active, starts_at, ends_at, created_at, updated_at";

fn banner(r: &Row<'_>) -> rusqlite::Result<Banner> {
    Ok(Banner {
        id: r.get(0)?,
        title: r.get(1)?,
        image_url: r.get(2)?,
        link_url: r.get(3)?,
        position: r.get(4)?,
        active: r.get(5)?,
        starts_at: r.get(6)?,
        ends_at: r.get(7)?,
        created_at: r.get(8)?,
        updated_at: r.get(9)?,
    })
}

/// Checked banner fields: `None` leaves a field alone; `Some(None)` clears a nullable one.
#[derive(Debug, Default)]
pub struct BannerFields {
    pub title: Option<String>,
    pub image_url: Option<Option<String>>,
    pub link_url: Option<Option<String>>,
    pub position: Option<i64>,
    pub active: Option<bool>,
    pub starts_at: Option<Option<String>>,
    pub ends_at: Option<Option<String>>,
}

pub fn banners(conn: &Connection, page: Page) -> rusqlite::Result<(Vec<Banner>, i64)> {
    let rows = conn
        .prepare_cached(&format!("SELECT {BANNER} FROM banners ORDER BY position, id LIMIT ?1 OFFSET ?2"))?
        .query_map(params![page.limit(), page.offset()], banner)?
        .collect::<rusqlite::Result<_>>()?;
    let total = conn.query_row("SELECT COUNT(*) FROM banners", [], |r| r.get(0))?;
    Ok((rows, total))
}

pub fn find_banner(conn: &Connection, id: i64) -> rusqlite::Result<Option<Banner>> {
    conn.prepare_cached(&format!("SELECT {BANNER} FROM banners WHERE id = ?1"))?.query_row([id], banner).optional()
}

/// Banners showing at `now` (RFC 3339, UTC), in display order.
pub fn showing(conn: &Connection, now: &str) -> rusqlite::Result<Vec<Banner>> {
    conn.prepare_cached(&format!(
        "SELECT {BANNER} FROM banners WHERE active = 1 AND (starts_at IS NULL OR starts_at <= ?1)
         AND (ends_at IS NULL OR ends_at > ?1) ORDER BY position, id LIMIT 100"
    ))?
    .query_map([now], banner)?
    .collect()
}

fn not_found(what: &str) -> AppError {
    AppError::not_found("not_found", format!("no such {what}"))
}

/// Checks that a banner would end after it starts, with `f` applied to `old`.
fn check_window(old: Option<&Banner>, f: &BannerFields) -> Result<(), AppError> {
    let starts = f.starts_at.clone().unwrap_or_else(|| old.and_then(|b| b.starts_at.clone()));
    let ends = f.ends_at.clone().unwrap_or_else(|| old.and_then(|b| b.ends_at.clone()));
    match (starts, ends) {
        (Some(s), Some(e)) if e <= s => Err(AppError::invalid_field("ends_at", "must be after starts_at")),
        _ => Ok(()),
    }
}

pub fn insert_banner(tx: &Connection, f: &BannerFields) -> Result<Banner, AppError> {
    check_window(None, f)?;
    tx.execute(
        "INSERT INTO banners (title, image_url, link_url, position, active, starts_at, ends_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            f.title.as_deref().unwrap_or_default(),
            f.image_url.clone().flatten(),
            f.link_url.clone().flatten(),
            f.position.unwrap_or(0),
            f.active.unwrap_or(true),
            f.starts_at.clone().flatten(),
            f.ends_at.clone().flatten(),
        ],
    )?;
    Ok(find_banner(tx, tx.last_insert_rowid())?.expect("just inserted"))
}

pub fn update_banner(tx: &Connection, id: i64, f: &BannerFields) -> Result<Banner, AppError> {
    let old = find_banner(tx, id)?.ok_or_else(|| not_found("banner"))?;
    check_window(Some(&old), f)?;
    tx.execute(
        "UPDATE banners SET title = ?2, image_url = ?3, link_url = ?4, position = ?5, active = ?6, starts_at = ?7,
            ends_at = ?8, updated_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') WHERE id = ?1",
        params![
            id,
            f.title.as_ref().unwrap_or(&old.title),
            f.image_url.clone().unwrap_or(old.image_url),
            f.link_url.clone().unwrap_or(old.link_url),
            f.position.unwrap_or(old.position),
            f.active.unwrap_or(old.active),
            f.starts_at.clone().unwrap_or(old.starts_at),
            f.ends_at.clone().unwrap_or(old.ends_at),
        ],
    )?;
    Ok(find_banner(tx, id)?.expect("just updated"))
}

pub fn delete_banner(tx: &Connection, id: i64) -> Result<(), AppError> {
    if tx.execute("DELETE FROM banners WHERE id = ?1", [id])? == 0 {
        return Err(not_found("banner"));
    }
    Ok(())
}

/// A page as stored (the admin views add the rendered HTML).
#[derive(Debug, Clone)]
pub struct StoredPage {
    pub id: i64,
    pub slug: String,
    pub title: String,
    pub body: String,
    pub published: bool,
    pub created_at: String,
    pub updated_at: String,
}

const PAGE: &str = "id, slug, title, body, published, created_at, updated_at";

fn page(r: &Row<'_>) -> rusqlite::Result<StoredPage> {
    Ok(StoredPage {
        id: r.get(0)?,
        slug: r.get(1)?,
        title: r.get(2)?,
        body: r.get(3)?,
        published: r.get(4)?,
        created_at: r.get(5)?,
        updated_at: r.get(6)?,
    })
}

#[derive(Debug, Default)]
pub struct PageFields {
    pub slug: Option<String>,
    pub title: Option<String>,
    pub body: Option<String>,
    pub published: Option<bool>,
}

pub fn pages(conn: &Connection, page_of: Page) -> rusqlite::Result<(Vec<StoredPage>, i64)> {
    let rows = conn
        .prepare_cached(&format!("SELECT {PAGE} FROM pages ORDER BY slug LIMIT ?1 OFFSET ?2"))?
        .query_map(params![page_of.limit(), page_of.offset()], page)?
        .collect::<rusqlite::Result<_>>()?;
    let total = conn.query_row("SELECT COUNT(*) FROM pages", [], |r| r.get(0))?;
    Ok((rows, total))
}

pub fn find_page(conn: &Connection, id: i64) -> rusqlite::Result<Option<StoredPage>> {
    conn.prepare_cached(&format!("SELECT {PAGE} FROM pages WHERE id = ?1"))?.query_row([id], page).optional()
}

/// The published page with this slug.
pub fn published(conn: &Connection, slug: &str) -> rusqlite::Result<Option<StoredPage>> {
    conn.prepare_cached(&format!("SELECT {PAGE} FROM pages WHERE slug = ?1 AND published = 1"))?
        .query_row([slug], page)
        .optional()
}

fn map_slug(e: rusqlite::Error) -> AppError {
    if crate::error::is_unique_violation(&e, "pages.slug") {
        AppError::conflict("slug_taken", "a page with that slug already exists")
    } else {
        e.into()
    }
}

pub fn insert_page(tx: &Connection, f: &PageFields) -> Result<StoredPage, AppError> {
    tx.execute(
        "INSERT INTO pages (slug, title, body, published) VALUES (?1, ?2, ?3, ?4)",
        params![
            f.slug.as_deref().unwrap_or_default(),
            f.title.as_deref().unwrap_or_default(),
            f.body.as_deref().unwrap_or_default(),
            f.published.unwrap_or(false)
        ],
    )
    .map_err(map_slug)?;
    Ok(find_page(tx, tx.last_insert_rowid())?.expect("just inserted"))
}

pub fn update_page(tx: &Connection, id: i64, f: &PageFields) -> Result<StoredPage, AppError> {
    let old = find_page(tx, id)?.ok_or_else(|| not_found("page"))?;
    tx.execute(
        "UPDATE pages SET slug = ?2, title = ?3, body = ?4, published = ?5,
            updated_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') WHERE id = ?1",
        params![
            id,
            f.slug.as_ref().unwrap_or(&old.slug),
            f.title.as_ref().unwrap_or(&old.title),
            f.body.as_ref().unwrap_or(&old.body),
            f.published.unwrap_or(old.published)
        ],
    )
    .map_err(map_slug)?;
    Ok(find_page(tx, id)?.expect("just updated"))
}

pub fn delete_page(tx: &Connection, id: i64) -> Result<(), AppError> {
    if tx.execute("DELETE FROM pages WHERE id = ?1", [id])? == 0 {
        return Err(not_found("page"));
    }
    Ok(())
}
