//! Catalog SQL over one shop's connection.

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::Serialize;
use serde_json::{Map, Value};

use super::variants::{self, ProductOption, Variant};
use crate::custom_fields::{self, Entity};
use crate::error::{AppError, is_unique_violation};
use crate::pagination::Page;

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Category {
    pub id: i64,
    pub name: String,
    pub slug: String,
    pub parent_id: Option<i64>,
    pub meta_title: Option<String>,
    pub meta_description: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

const CATEGORY_COLUMNS: &str = "id, name, slug, parent_id, created_at, updated_at, meta_title, meta_description";

fn category(r: &Row<'_>) -> rusqlite::Result<Category> {
    Ok(Category {
        id: r.get(0)?,
        name: r.get(1)?,
        slug: r.get(2)?,
        parent_id: r.get(3)?,
        meta_title: r.get(6)?,
        meta_description: r.get(7)?,
        created_at: r.get(4)?,
        updated_at: r.get(5)?,
    })
}

pub fn list_categories(conn: &Connection, page: Page) -> rusqlite::Result<(Vec<Category>, i64)> {
    let total = conn.query_row("SELECT COUNT(*) FROM categories", [], |r| r.get(0))?;
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {CATEGORY_COLUMNS} FROM categories ORDER BY COALESCE(parent_id, id), parent_id IS NOT NULL, name LIMIT ?1 OFFSET ?2"
    ))?;
    let rows = stmt.query_map([page.limit(), page.offset()], category)?.collect::<Result<_, _>>()?;
    Ok((rows, total))
}

pub fn find_category(conn: &Connection, id: i64) -> rusqlite::Result<Option<Category>> {
    conn.prepare_cached(&format!("SELECT {CATEGORY_COLUMNS} FROM categories WHERE id = ?1"))?
        .query_row([id], category)
        .optional()
}

/// Fields of a category to write; `None` keeps the current value.
#[derive(Debug, Default)]
pub struct CategoryFields {
    pub name: Option<String>,
    pub slug: Option<String>,
    pub parent_id: Option<Option<i64>>,
    pub meta_title: Option<Option<String>>,
    pub meta_description: Option<Option<String>>,
}

/// Categories nest one level: a parent must exist and be top-level, and a category with children
/// cannot itself get a parent.
fn check_parent(conn: &Connection, id: Option<i64>, parent_id: Option<i64>) -> Result<(), AppError> {
    let Some(parent_id) = parent_id else { return Ok(()) };
    if Some(parent_id) == id {
        return Err(AppError::invalid_field("parent_id", "a category cannot be its own parent"));
    }
    match find_category(conn, parent_id)? {
        None => return Err(AppError::invalid_field("parent_id", "no such category")),
        Some(p) if p.parent_id.is_some() => {
            return Err(AppError::invalid_field("parent_id", "categories nest one level: pick a top-level parent"));
        }
        Some(_) => {}
    }
    if let Some(id) = id {
        let has_children: bool =
            conn.query_row("SELECT EXISTS (SELECT 1 FROM categories WHERE parent_id = ?1)", [id], |r| r.get(0))?;
        if has_children {
            return Err(AppError::invalid_field("parent_id", "this category has children, so it must stay top-level"));
        }
    }
    Ok(())
}

fn slug_conflict(e: rusqlite::Error) -> AppError {
    if is_unique_violation(&e, "slug") {
        AppError::conflict("slug_taken", "another record already uses that slug")
    } else {
        e.into()
    }
}

pub fn insert_category(
    conn: &Connection,
    name: &str,
    slug: &str,
    parent_id: Option<i64>,
) -> Result<Category, AppError> {
    insert_category_with(
        conn,
        &CategoryFields {
            name: Some(name.into()),
            slug: Some(slug.into()),
            parent_id: Some(parent_id),
            ..Default::default()
        },
    )
}

pub fn insert_category_with(conn: &Connection, f: &CategoryFields) -> Result<Category, AppError> {
    let parent_id = f.parent_id.flatten();
    check_parent(conn, None, parent_id)?;
    conn.execute(
        "INSERT INTO categories (name, slug, parent_id, meta_title, meta_description) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![f.name, f.slug, parent_id, f.meta_title.clone().flatten(), f.meta_description.clone().flatten()],
    )
    .map_err(slug_conflict)?;
    Ok(find_category(conn, conn.last_insert_rowid())?.expect("just inserted"))
}

pub fn update_category(conn: &Connection, id: i64, f: &CategoryFields) -> Result<Category, AppError> {
    find_category(conn, id)?.ok_or_else(|| AppError::not_found("not_found", "no such category"))?;
    if let Some(parent) = f.parent_id {
        check_parent(conn, Some(id), parent)?;
    }
    conn.execute(
        "UPDATE categories SET name = COALESCE(?2, name), slug = COALESCE(?3, slug),
                parent_id = CASE WHEN ?4 THEN ?5 ELSE parent_id END,
                meta_title = CASE WHEN ?6 THEN ?7 ELSE meta_title END,
                meta_description = CASE WHEN ?8 THEN ?9 ELSE meta_description END,
                updated_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now')
         WHERE id = ?1",
        params![
            id,
            f.name,
            f.slug,
            f.parent_id.is_some(),
            f.parent_id.flatten(),
            f.meta_title.is_some(),
            f.meta_title.clone().flatten(),
            f.meta_description.is_some(),
            f.meta_description.clone().flatten()
        ],
    )
    .map_err(slug_conflict)?;
    Ok(find_category(conn, id)?.expect("exists"))
}

pub fn delete_category(conn: &Connection, id: i64) -> Result<(), AppError> {
    let has_children: bool =
        conn.query_row("SELECT EXISTS (SELECT 1 FROM categories WHERE parent_id = ?1)", [id], |r| r.get(0))?;
    if has_children {
        return Err(AppError::conflict("category_has_children", "delete or move this category's children first"));
    }
    match conn.execute("DELETE FROM categories WHERE id = ?1", [id])? {
        0 => Err(AppError::not_found("not_found", "no such category")),
        _ => Ok(()),
    }
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[schemars(example = serde_json::json!({"id": 1, "name": "Red Kettle", "slug": "red-kettle", "description": "Boils water fast",
    "price_cents": 2999, "stock": 8, "category_id": 1, "active": true, "rating_avg": 4.5, "rating_count": 2,
    "created_at": "2026-11-28T10:00:00Z", "updated_at": "2026-11-28T12:30:00Z"}))]
pub struct Product {
    pub id: i64,
    pub name: String,
    pub slug: String,
    pub description: String,
    pub price_cents: i64,
    pub stock: i64,
    pub category_id: Option<i64>,
    pub active: bool,
    /// Mean of visible reviews, two decimals; null without reviews.
    pub rating_avg: Option<f64>,
    pub rating_count: i64,
    /// Values of the shop's product custom fields, by key (see `/api/admin/custom-fields`).
    #[schemars(with = "std::collections::BTreeMap<String, serde_json::Value>")]
    pub custom: Map<String, Value>,
    /// For weight-band shipping.
    pub weight_grams: i64,
    pub meta_title: Option<String>,
    pub meta_description: Option<String>,
    /// The product's options in display order; empty for a product sold in one form.
    pub options: Vec<ProductOption>,
    /// At least one; a product without options has exactly one (its default variant). The
    /// product's `price_cents` is the lowest active variant price, `stock` the active variants' sum.
    pub variants: Vec<Variant>,
    pub images: Vec<crate::images::store::ImageRef>,
    pub created_at: String,
    pub updated_at: String,
}

const PRODUCT_COLUMNS: &str = "p.id, p.name, p.slug, p.description, p.price_cents, p.stock, p.category_id, p.active, \
                               p.rating_sum, p.rating_count, p.created_at, p.updated_at, p.custom, p.weight_grams, \
                               p.options, p.meta_title, p.meta_description";

fn product(r: &Row<'_>) -> rusqlite::Result<Product> {
    let rating_sum: i64 = r.get(8)?;
    let rating_count: i64 = r.get(9)?;
    Ok(Product {
        id: r.get(0)?,
        name: r.get(1)?,
        slug: r.get(2)?,
        description: r.get(3)?,
        price_cents: r.get(4)?,
        stock: r.get(5)?,
        category_id: r.get(6)?,
        active: r.get(7)?,
        rating_avg: (rating_count > 0).then(|| (rating_sum as f64 / rating_count as f64 * 100.0).round() / 100.0),
        rating_count,
        custom: custom_fields::store::parse_stored(r.get(12)?),
        weight_grams: r.get(13)?,
        options: variants::parse_options(&r.get::<_, String>(14)?),
        meta_title: r.get(15)?,
        meta_description: r.get(16)?,
        variants: Vec::new(),
        images: Vec::new(),
        created_at: r.get(10)?,
        updated_at: r.get(11)?,
    })
}

pub fn find_product(conn: &Connection, id: i64, active_only: bool) -> rusqlite::Result<Option<Product>> {
    let Some(mut p) = conn
        .prepare_cached(&format!(
            "SELECT {PRODUCT_COLUMNS} FROM products p WHERE p.id = ?1 AND (p.active = 1 OR NOT ?2)"
        ))?
        .query_row(params![id, active_only], product)
        .optional()?
    else {
        return Ok(None);
    };
    p.variants = variants::of_product(conn, id)?;
    p.images = crate::images::store::of_product(conn, id)?;
    Ok(Some(p))
}

/// Fills in the variants and images of a page of products (two queries for the page).
fn attach(conn: &Connection, products: &mut [Product]) -> rusqlite::Result<()> {
    let ids: Vec<i64> = products.iter().map(|p| p.id).collect();
    let mut variants = variants::of_products(conn, &ids)?;
    let mut images = crate::images::store::of_products(conn, &ids)?;
    for p in products {
        p.variants = variants.remove(&p.id).unwrap_or_default();
        p.images = images.remove(&p.id).unwrap_or_default();
    }
    Ok(())
}

/// What a product list is narrowed by.
#[derive(Debug, Default, Clone)]
pub struct ProductFilter {
    /// Full-text query as the user typed it.
    pub q: Option<String>,
    /// A category; products of its sub-categories are included.
    pub category_id: Option<i64>,
    pub active_only: bool,
    /// Custom-field conditions, all required: (key, value typed by its field).
    pub custom: Vec<(String, rusqlite::types::Value)>,
}

/// Turns user input into a safe FTS5 query: every word quoted, prefix-matched, all required.
pub fn fts_query(q: &str) -> Option<String> {
    let words: Vec<String> = q
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(16)
        .map(|w| format!("\"{}\"*", w.to_lowercase()))
        .collect();
    (!words.is_empty()).then(|| words.join(" "))
}

pub fn search_products(conn: &Connection, filter: &ProductFilter, page: Page) -> rusqlite::Result<(Vec<Product>, i64)> {
    // ?1 active only, ?2 category, ?3 FTS query (NULL: no search).
    const WHERE: &str = "(p.active = 1 OR NOT ?1)
        AND (?2 IS NULL OR p.category_id IN (SELECT id FROM categories WHERE id = ?2 OR parent_id = ?2))";
    // A query that is exactly a variant's SKU finds that variant's product.
    let sku_product: Option<i64> = match filter.q.as_deref().map(str::trim).filter(|q| !q.is_empty() && q.len() <= 64) {
        Some(q) => conn
            .prepare_cached("SELECT product_id FROM variants WHERE sku = ?1")?
            .query_row([q], |r| r.get(0))
            .optional()?,
        None => None,
    };
    let query = if sku_product.is_some() { None } else { filter.q.as_deref().and_then(fts_query) };
    let (from, order) = match query {
        Some(_) => (
            "products_fts f JOIN products p ON p.id = f.rowid AND products_fts MATCH ?3",
            "bm25(products_fts, 10.0, 1.0), p.id",
        ),
        None => ("products p", "p.id"),
    };
    // Custom-field conditions follow as (path, value) pairs from ?4; keys are checked against the
    // shop's definitions (`[a-z][a-z0-9_]*`) before they get here. LIMIT and OFFSET come last.
    use rusqlite::types::Value as Sql;
    let mut custom_sql: String = (0..filter.custom.len())
        .map(|i| format!(" AND json_extract(p.custom, ?{}) = ?{}", 4 + 2 * i, 5 + 2 * i))
        .collect();
    if let Some(id) = sku_product {
        // An id read from the file, not user input.
        custom_sql.push_str(&format!(" AND p.id = {id}"));
    }
    let mut args: Vec<Sql> = vec![
        Sql::Integer(filter.active_only.into()),
        filter.category_id.map_or(Sql::Null, Sql::Integer),
        query.map_or(Sql::Null, Sql::Text),
    ];
    for (key, value) in &filter.custom {
        args.push(Sql::Text(format!("$.{key}")));
        args.push(value.clone());
    }
    let total = conn
        .prepare_cached(&format!("SELECT COUNT(*) FROM {from} WHERE {WHERE} AND (?3 IS NULL OR 1){custom_sql}"))?
        .query_row(rusqlite::params_from_iter(&args), |r| r.get(0))?;
    let (limit, offset) = (args.len() + 1, args.len() + 2);
    args.extend([Sql::Integer(page.limit()), Sql::Integer(page.offset())]);
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {PRODUCT_COLUMNS} FROM {from} WHERE {WHERE} AND (?3 IS NULL OR 1){custom_sql} ORDER BY {order} LIMIT ?{limit} OFFSET ?{offset}"
    ))?;
    let mut rows: Vec<Product> =
        stmt.query_map(rusqlite::params_from_iter(&args), product)?.collect::<Result<_, _>>()?;
    attach(conn, &mut rows)?;
    Ok((rows, total))
}

/// Fields of a product to write; `None` keeps the current value (all are required on create).
#[derive(Debug, Default)]
pub struct ProductFields {
    pub name: Option<String>,
    pub slug: Option<String>,
    pub description: Option<String>,
    pub price_cents: Option<i64>,
    pub stock: Option<i64>,
    pub category_id: Option<Option<i64>>,
    pub active: Option<bool>,
    /// Custom-field values to set (null removes one); checked against the definitions on write.
    pub custom: Option<Map<String, Value>>,
    pub weight_grams: Option<i64>,
    pub meta_title: Option<Option<String>>,
    pub meta_description: Option<Option<String>>,
    /// Replaces the product's options (variants carried over, see [`variants::set_options`]).
    pub options: Option<Vec<ProductOption>>,
}

fn check_category(conn: &Connection, category_id: Option<Option<i64>>) -> Result<(), AppError> {
    if let Some(Some(id)) = category_id
        && find_category(conn, id)?.is_none()
    {
        return Err(AppError::invalid_field("category_id", "no such category"));
    }
    Ok(())
}

/// A new product with its default variant (made by a trigger, carrying the price and stock), then its options if
/// any (the default variant takes each option's first value).
pub fn insert_product(conn: &Connection, f: &ProductFields) -> Result<Product, AppError> {
    check_category(conn, f.category_id)?;
    let custom = custom_fields::store::merge(conn, Entity::Product, Map::new(), f.custom.as_ref(), true)?;
    conn.execute(
        "INSERT INTO products (name, slug, description, price_cents, stock, category_id, active, custom, weight_grams,
                               meta_title, meta_description)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![
            f.name,
            f.slug,
            f.description.as_deref().unwrap_or(""),
            f.price_cents,
            f.stock.unwrap_or(0),
            f.category_id.flatten(),
            f.active.unwrap_or(true),
            custom_fields::store::to_stored(&custom),
            f.weight_grams.unwrap_or(0),
            f.meta_title.clone().flatten(),
            f.meta_description.clone().flatten()
        ],
    )
    .map_err(slug_conflict)?;
    // The insert trigger gave it its default variant with this price and stock.
    let id = conn.last_insert_rowid();
    if let Some(options) = &f.options {
        variants::set_options(conn, id, options)?;
    }
    Ok(find_product(conn, id, false)?.expect("just inserted"))
}

pub fn update_product(conn: &Connection, id: i64, f: &ProductFields) -> Result<Product, AppError> {
    let current = find_product(conn, id, false)?.ok_or_else(|| AppError::not_found("not_found", "no such product"))?;
    check_category(conn, f.category_id)?;
    let custom = match &f.custom {
        None => None,
        Some(input) => Some(custom_fields::store::merge(conn, Entity::Product, current.custom, Some(input), false)?),
    };
    if let Some(options) = &f.options {
        variants::set_options(conn, id, options)?;
    }
    // Price and stock belong to the variants: on a product sold in one form they write its only
    // variant (the triggers update the product's summary).
    if f.price_cents.is_some() || f.stock.is_some() {
        match current.variants.as_slice() {
            [only] => {
                conn.execute(
                    "UPDATE variants SET price_cents = COALESCE(?2, price_cents), stock = COALESCE(?3, stock),
                            updated_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') WHERE id = ?1",
                    params![only.id, f.price_cents, f.stock],
                )?;
            }
            _ => {
                let field = if f.price_cents.is_some() { "price_cents" } else { "stock" };
                return Err(AppError::invalid_field(
                    field,
                    "this product has variants: set the price and stock of each one (/api/admin/variants/{id})",
                ));
            }
        }
    }
    conn.execute(
        "UPDATE products SET name = COALESCE(?2, name), slug = COALESCE(?3, slug),
                description = COALESCE(?4, description), category_id = CASE WHEN ?7 THEN ?8 ELSE category_id END,
                active = COALESCE(?9, active), custom = CASE WHEN ?10 THEN ?11 ELSE custom END,
                weight_grams = COALESCE(?12, weight_grams),
                meta_title = CASE WHEN ?5 THEN ?6 ELSE meta_title END,
                meta_description = CASE WHEN ?13 THEN ?14 ELSE meta_description END,
                updated_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now')
         WHERE id = ?1",
        params![
            id,
            f.name,
            f.slug,
            f.description,
            f.meta_title.is_some(),
            f.meta_title.clone().flatten(),
            f.category_id.is_some(),
            f.category_id.flatten(),
            f.active,
            custom.is_some(),
            custom.as_ref().and_then(custom_fields::store::to_stored),
            f.weight_grams,
            f.meta_description.is_some(),
            f.meta_description.clone().flatten()
        ],
    )
    .map_err(slug_conflict)?;
    Ok(find_product(conn, id, false)?.expect("exists"))
}

pub fn delete_product(conn: &Connection, id: i64) -> Result<(), AppError> {
    match conn.execute("DELETE FROM products WHERE id = ?1", [id])? {
        0 => Err(AppError::not_found("not_found", "no such product")),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fts_queries_are_quoted() {
        assert_eq!(fts_query("Blue shirt").unwrap(), "\"blue\"* \"shirt\"*");
        assert_eq!(fts_query("\"OR NEAR(a b)* -x").unwrap(), "\"or\"* \"near\"* \"a\"* \"b\"* \"x\"*");
        assert!(fts_query("  --  ").is_none());
    }
}
