//! Image rows and bytes over one shop's connection.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::Serialize;

use super::process::Processed;
use crate::error::AppError;

/// Images per product.
pub const MAX_PER_PRODUCT: i64 = 50;

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ImageRef {
    pub id: i64,
    /// Where the storefront fetches it (the shop is resolved as for any storefront request:
    /// the shop's host, `?client=` or `X-Client`).
    pub url: String,
    pub thumbnail_url: String,
    pub alt: String,
    /// 0-based display order within the product.
    pub position: i64,
    /// The variant this image shows, if it is one variant's.
    pub variant_id: Option<i64>,
    pub content_type: String,
    pub width: i64,
    pub height: i64,
}

const COLUMNS: &str = "id, alt, position, variant_id, content_type, width, height, product_id";

pub fn url(id: i64) -> String {
    format!("/api/shop/images/{id}")
}

fn image_ref(r: &Row<'_>) -> rusqlite::Result<ImageRef> {
    let id: i64 = r.get(0)?;
    Ok(ImageRef {
        id,
        url: url(id),
        thumbnail_url: format!("{}/thumbnail", url(id)),
        alt: r.get(1)?,
        position: r.get(2)?,
        variant_id: r.get(3)?,
        content_type: r.get(4)?,
        width: r.get(5)?,
        height: r.get(6)?,
    })
}

pub fn of_product(conn: &Connection, product_id: i64) -> rusqlite::Result<Vec<ImageRef>> {
    conn.prepare_cached(&format!("SELECT {COLUMNS} FROM images WHERE product_id = ?1 ORDER BY position, id"))?
        .query_map([product_id], image_ref)?
        .collect()
}

pub fn of_products(conn: &Connection, product_ids: &[i64]) -> rusqlite::Result<HashMap<i64, Vec<ImageRef>>> {
    let mut by_product: HashMap<i64, Vec<ImageRef>> = HashMap::new();
    if product_ids.is_empty() {
        return Ok(by_product);
    }
    let ids = serde_json::to_string(product_ids).expect("ids serialise");
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM images WHERE product_id IN (SELECT value FROM json_each(?1)) ORDER BY product_id, position, id"
    ))?;
    let mut rows = stmt.query([ids])?;
    while let Some(r) = rows.next()? {
        by_product.entry(r.get(7)?).or_default().push(image_ref(r)?);
    }
    Ok(by_product)
}

/// One image and the product it belongs to.
pub fn find(conn: &Connection, id: i64) -> rusqlite::Result<Option<(ImageRef, i64)>> {
    conn.prepare_cached(&format!("SELECT {COLUMNS} FROM images WHERE id = ?1"))?
        .query_row([id], |r| Ok((image_ref(r)?, r.get(7)?)))
        .optional()
}

fn check_variant(conn: &Connection, product_id: i64, variant_id: Option<i64>) -> Result<(), AppError> {
    if let Some(v) = variant_id {
        let ok: bool = conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM variants WHERE id = ?1 AND product_id = ?2)",
            params![v, product_id],
            |r| r.get(0),
        )?;
        if !ok {
            return Err(AppError::invalid_field("variant_id", "no such variant of this product"));
        }
    }
    Ok(())
}

pub fn product_exists(conn: &Connection, product_id: i64) -> rusqlite::Result<bool> {
    conn.query_row("SELECT EXISTS (SELECT 1 FROM products WHERE id = ?1)", [product_id], |r| r.get(0))
}

fn etag(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes).iter().take(12).map(|b| format!("{b:02x}")).collect()
}

/// Stores a processed upload as the product's last image.
pub fn insert(
    conn: &Connection,
    product_id: i64,
    variant_id: Option<i64>,
    alt: &str,
    p: &Processed,
) -> Result<ImageRef, AppError> {
    if !product_exists(conn, product_id)? {
        return Err(AppError::not_found("not_found", "no such product"));
    }
    check_variant(conn, product_id, variant_id)?;
    let count: i64 = conn.query_row("SELECT COUNT(*) FROM images WHERE product_id = ?1", [product_id], |r| r.get(0))?;
    if count >= MAX_PER_PRODUCT {
        return Err(AppError::unprocessable(
            "limit_reached",
            format!("a product has at most {MAX_PER_PRODUCT} images"),
        ));
    }
    conn.execute(
        "INSERT INTO images (product_id, variant_id, position, alt, content_type, width, height, size_bytes, etag)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            product_id,
            variant_id,
            count,
            alt,
            p.content_type,
            p.width,
            p.height,
            p.full.len() as i64,
            etag(&p.full)
        ],
    )?;
    let id = conn.last_insert_rowid();
    conn.execute(
        "INSERT INTO image_data (image_id, thumbnail, full) VALUES (?1, ?2, ?3)",
        params![id, p.thumbnail, p.full],
    )?;
    touch(conn, product_id)?;
    Ok(find(conn, id)?.expect("just inserted").0)
}

fn touch(conn: &Connection, product_id: i64) -> rusqlite::Result<()> {
    conn.execute("UPDATE products SET updated_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') WHERE id = ?1", [product_id])?;
    Ok(())
}

/// Renumbers a product's images 0.. in their order, `moved` landing at `to`.
fn reorder(conn: &Connection, product_id: i64, moved: Option<(i64, i64)>) -> rusqlite::Result<()> {
    let mut ids: Vec<i64> = conn
        .prepare_cached("SELECT id FROM images WHERE product_id = ?1 ORDER BY position, id")?
        .query_map([product_id], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    if let Some((id, to)) = moved {
        ids.retain(|i| *i != id);
        ids.insert((to.max(0) as usize).min(ids.len()), id);
    }
    let mut set = conn.prepare_cached("UPDATE images SET position = ?2 WHERE id = ?1")?;
    for (pos, id) in ids.iter().enumerate() {
        set.execute(params![id, pos as i64])?;
    }
    Ok(())
}

/// Changes an image's alt text, position (the others shift) or variant.
pub fn update(
    conn: &Connection,
    id: i64,
    alt: Option<&str>,
    position: Option<i64>,
    variant_id: Option<Option<i64>>,
) -> Result<ImageRef, AppError> {
    let (_, product_id) = find(conn, id)?.ok_or_else(|| AppError::not_found("not_found", "no such image"))?;
    if let Some(v) = variant_id {
        check_variant(conn, product_id, v)?;
    }
    conn.execute(
        "UPDATE images SET alt = COALESCE(?2, alt), variant_id = CASE WHEN ?3 THEN ?4 ELSE variant_id END WHERE id = ?1",
        params![id, alt, variant_id.is_some(), variant_id.flatten()],
    )?;
    if let Some(to) = position {
        reorder(conn, product_id, Some((id, to)))?;
    }
    touch(conn, product_id)?;
    Ok(find(conn, id)?.expect("exists").0)
}

pub fn delete(conn: &Connection, id: i64) -> Result<(), AppError> {
    let (_, product_id) = find(conn, id)?.ok_or_else(|| AppError::not_found("not_found", "no such image"))?;
    conn.execute("DELETE FROM images WHERE id = ?1", [id])?;
    reorder(conn, product_id, None)?;
    touch(conn, product_id)?;
    Ok(())
}

/// An image's bytes as served: content type, ETag and the bytes (the thumbnail or the full
/// image). The storefront sees only images of active products.
pub fn bytes(
    conn: &Connection,
    id: i64,
    thumbnail: bool,
    active_only: bool,
) -> rusqlite::Result<Option<(String, String, Vec<u8>)>> {
    let column = if thumbnail { "d.thumbnail" } else { "d.full" };
    conn.prepare_cached(&format!(
        "SELECT i.content_type, i.etag, {column} FROM images i JOIN image_data d ON d.image_id = i.id
         JOIN products p ON p.id = i.product_id WHERE i.id = ?1 AND (p.active = 1 OR NOT ?2)"
    ))?
    .query_row(params![id, active_only], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
    .optional()
}

/// Gives `product_id` a copy of one of the shop's images (a CSV row naming an image of another
/// product); an image the product already has is left alone. Answers whether the image exists.
pub fn attach_copy(conn: &Connection, image_id: i64, product_id: i64) -> Result<bool, AppError> {
    let Some((_, owner)) = find(conn, image_id)? else { return Ok(false) };
    if owner == product_id {
        return Ok(true);
    }
    let count: i64 = conn.query_row("SELECT COUNT(*) FROM images WHERE product_id = ?1", [product_id], |r| r.get(0))?;
    if count >= MAX_PER_PRODUCT {
        return Ok(true);
    }
    conn.execute(
        "INSERT INTO images (product_id, position, alt, content_type, width, height, size_bytes, etag)
         SELECT ?2, ?3, alt, content_type, width, height, size_bytes, etag FROM images WHERE id = ?1",
        params![image_id, product_id, count],
    )?;
    let copy = conn.last_insert_rowid();
    conn.execute(
        "INSERT INTO image_data (image_id, thumbnail, full) SELECT ?2, thumbnail, full FROM image_data WHERE image_id = ?1",
        params![image_id, copy],
    )?;
    Ok(true)
}

/// The product an image belongs to (the console's redirects), if the image exists.
pub async fn find_product_of(db: &crate::tenancy::pools::ClientDb, id: i64) -> Option<i64> {
    db.run(move |c| Ok(find(c, id)?)).await.ok().flatten().map(|(_, product)| product)
}
