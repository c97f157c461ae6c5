//! Options and variants over one shop's connection. Every product has at least one variant; a
//! product without options has exactly one, its default variant (options `{}`). A product's
//! `price_cents` and `stock` are kept by triggers as a summary of its variants.

use std::collections::{BTreeMap, HashMap};

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};

use crate::error::{AppError, is_unique_violation};

/// At most this many options per product, values per option and variants per product.
pub const MAX_OPTIONS: usize = 3;
pub const MAX_VALUES: usize = 50;
pub const MAX_VARIANTS: i64 = 100;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ProductOption {
    /// e.g. `size`; 1–40 characters, unique within the product.
    pub name: String,
    /// e.g. `["S", "M", "L"]`; 1–50 distinct values of 1–100 characters, in display order.
    pub values: Vec<String>,
}

/// A variant's option values by option name.
pub type Combination = BTreeMap<String, String>;

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Variant {
    pub id: i64,
    pub product_id: i64,
    pub sku: Option<String>,
    pub price_cents: i64,
    pub compare_at_price_cents: Option<i64>,
    pub stock: i64,
    /// Null: the product's weight applies.
    pub weight_grams: Option<i64>,
    /// Option name → value; `{}` for a product without options.
    #[schemars(with = "Combination")]
    pub options: StoredCombination,
    pub active: bool,
    pub position: i64,
}

/// A combination as stored (canonical JSON), answered as it is without being parsed: a product
/// answer lists every variant, so this is on the storefront's hottest read.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct StoredCombination(Box<serde_json::value::RawValue>);

impl StoredCombination {
    pub fn parse(&self) -> Combination {
        serde_json::from_str(self.0.get()).unwrap_or_default()
    }
}

const COLUMNS: &str =
    "id, product_id, sku, price_cents, compare_at_price_cents, stock, weight_grams, options, active, position";

fn variant(r: &Row<'_>) -> rusqlite::Result<Variant> {
    let options: String = r.get(7)?;
    let options = serde_json::value::RawValue::from_string(options)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(7, rusqlite::types::Type::Text, Box::new(e)))?;
    Ok(Variant {
        id: r.get(0)?,
        product_id: r.get(1)?,
        sku: r.get(2)?,
        price_cents: r.get(3)?,
        compare_at_price_cents: r.get(4)?,
        stock: r.get(5)?,
        weight_grams: r.get(6)?,
        options: StoredCombination(options),
        active: r.get(8)?,
        position: r.get(9)?,
    })
}

/// The stored form of a combination: keys sorted, so equal combinations are equal text.
pub fn stored(c: &Combination) -> String {
    serde_json::to_string(c).expect("a map of strings serialises")
}

pub fn parse_options(text: &str) -> Vec<ProductOption> {
    serde_json::from_str(text).unwrap_or_default()
}

pub fn find(conn: &Connection, id: i64) -> rusqlite::Result<Option<Variant>> {
    conn.prepare_cached(&format!("SELECT {COLUMNS} FROM variants WHERE id = ?1"))?.query_row([id], variant).optional()
}

pub fn of_product(conn: &Connection, product_id: i64) -> rusqlite::Result<Vec<Variant>> {
    conn.prepare_cached(&format!("SELECT {COLUMNS} FROM variants WHERE product_id = ?1 ORDER BY position, id"))?
        .query_map([product_id], variant)?
        .collect()
}

/// The variants of several products at once (a list page), by product.
pub fn of_products(conn: &Connection, product_ids: &[i64]) -> rusqlite::Result<HashMap<i64, Vec<Variant>>> {
    let mut by_product: HashMap<i64, Vec<Variant>> = HashMap::new();
    if product_ids.is_empty() {
        return Ok(by_product);
    }
    let ids = serde_json::to_string(product_ids).expect("ids serialise");
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM variants WHERE product_id IN (SELECT value FROM json_each(?1)) ORDER BY product_id, position, id"
    ))?;
    for v in stmt.query_map([ids], variant)? {
        let v = v?;
        by_product.entry(v.product_id).or_default().push(v);
    }
    Ok(by_product)
}

/// Fields of a variant to write; `None` keeps the current value.
#[derive(Debug, Default, Clone)]
pub struct VariantFields {
    pub sku: Option<Option<String>>,
    pub price_cents: Option<i64>,
    pub compare_at_price_cents: Option<Option<i64>>,
    pub stock: Option<i64>,
    pub weight_grams: Option<Option<i64>>,
    pub options: Option<Combination>,
    pub active: Option<bool>,
}

fn write_conflict(e: rusqlite::Error) -> AppError {
    if is_unique_violation(&e, "sku") {
        AppError::conflict("sku_taken", "another variant of this shop already uses that SKU")
    } else if is_unique_violation(&e, "options") {
        AppError::conflict("variant_exists", "this product already has a variant with these option values")
    } else {
        e.into()
    }
}

fn product_options(conn: &Connection, product_id: i64) -> Result<Vec<ProductOption>, AppError> {
    let text: Option<String> = conn
        .prepare_cached("SELECT options FROM products WHERE id = ?1")?
        .query_row([product_id], |r| r.get(0))
        .optional()?;
    text.map(|t| parse_options(&t)).ok_or_else(|| AppError::not_found("not_found", "no such product"))
}

/// Checks a combination against the product's options: every option named once, with one of
/// its values.
fn check_combination(options: &[ProductOption], c: &Combination) -> Result<(), AppError> {
    for o in options {
        match c.get(&o.name) {
            None => return Err(AppError::invalid_field("options", format!("a value for '{}' is required", o.name))),
            Some(v) if !o.values.contains(v) => {
                return Err(AppError::invalid_field(
                    "options",
                    format!("'{v}' is not a value of '{}' (one of: {})", o.name, o.values.join(", ")),
                ));
            }
            Some(_) => {}
        }
    }
    if let Some(extra) = c.keys().find(|k| !options.iter().any(|o| &o.name == *k)) {
        return Err(AppError::invalid_field("options", format!("the product has no option '{extra}'")));
    }
    Ok(())
}

/// Adds a variant to a product that has options.
pub fn insert(conn: &Connection, product_id: i64, f: &VariantFields) -> Result<Variant, AppError> {
    let options = product_options(conn, product_id)?;
    if options.is_empty() {
        return Err(AppError::conflict(
            "no_options",
            "this product has no options, so it has one variant; give the product options first",
        ));
    }
    let combination = f.options.clone().unwrap_or_default();
    check_combination(&options, &combination)?;
    let count: i64 =
        conn.query_row("SELECT COUNT(*) FROM variants WHERE product_id = ?1", [product_id], |r| r.get(0))?;
    if count >= MAX_VARIANTS {
        return Err(AppError::unprocessable("limit_reached", format!("a product has at most {MAX_VARIANTS} variants")));
    }
    let Some(price_cents) = f.price_cents else {
        return Err(AppError::invalid_field("price_cents", "is required"));
    };
    conn.execute(
        "INSERT INTO variants (product_id, sku, price_cents, compare_at_price_cents, stock, weight_grams, options, active, position)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            product_id,
            f.sku.clone().flatten(),
            price_cents,
            f.compare_at_price_cents.flatten(),
            f.stock.unwrap_or(0),
            f.weight_grams.flatten(),
            stored(&combination),
            f.active.unwrap_or(true),
            count
        ],
    )
    .map_err(write_conflict)?;
    Ok(find(conn, conn.last_insert_rowid())?.expect("just inserted"))
}

pub fn update(conn: &Connection, id: i64, f: &VariantFields) -> Result<Variant, AppError> {
    let current = find(conn, id)?.ok_or_else(|| AppError::not_found("not_found", "no such variant"))?;
    if let Some(c) = &f.options {
        check_combination(&product_options(conn, current.product_id)?, c)?;
    }
    conn.execute(
        "UPDATE variants SET sku = CASE WHEN ?2 THEN ?3 ELSE sku END, price_cents = COALESCE(?4, price_cents),
                compare_at_price_cents = CASE WHEN ?5 THEN ?6 ELSE compare_at_price_cents END,
                stock = COALESCE(?7, stock), weight_grams = CASE WHEN ?8 THEN ?9 ELSE weight_grams END,
                options = COALESCE(?10, options), active = COALESCE(?11, active),
                updated_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now')
         WHERE id = ?1",
        params![
            id,
            f.sku.is_some(),
            f.sku.clone().flatten(),
            f.price_cents,
            f.compare_at_price_cents.is_some(),
            f.compare_at_price_cents.flatten(),
            f.stock,
            f.weight_grams.is_some(),
            f.weight_grams.flatten(),
            f.options.as_ref().map(stored),
            f.active
        ],
    )
    .map_err(write_conflict)?;
    touch_product(conn, current.product_id)?;
    Ok(find(conn, id)?.expect("exists"))
}

/// Removes a variant; a product keeps at least one. Cart lines holding it go with it; order items
/// keep their copy of what was sold.
pub fn delete(conn: &Connection, id: i64) -> Result<(), AppError> {
    let current = find(conn, id)?.ok_or_else(|| AppError::not_found("not_found", "no such variant"))?;
    let count: i64 =
        conn.query_row("SELECT COUNT(*) FROM variants WHERE product_id = ?1", [current.product_id], |r| r.get(0))?;
    if count <= 1 {
        return Err(AppError::conflict(
            "last_variant",
            "a product keeps at least one variant; delete the product instead",
        ));
    }
    conn.execute("DELETE FROM variants WHERE id = ?1", [id])?;
    touch_product(conn, current.product_id)?;
    Ok(())
}

fn touch_product(conn: &Connection, product_id: i64) -> rusqlite::Result<()> {
    conn.execute("UPDATE products SET updated_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') WHERE id = ?1", [product_id])?;
    Ok(())
}

/// Validates a product's options as written by an admin or a CSV file.
pub fn check_options(options: &[ProductOption]) -> Result<(), AppError> {
    let bad = |m: String| Err(AppError::invalid_field("options", m));
    if options.len() > MAX_OPTIONS {
        return bad(format!("a product has at most {MAX_OPTIONS} options"));
    }
    for (i, o) in options.iter().enumerate() {
        let name = o.name.trim();
        if name.is_empty() || name.chars().count() > 40 || name != o.name {
            return bad(format!("option names are 1–40 characters without surrounding spaces ('{}')", o.name));
        }
        if options[..i].iter().any(|p| p.name == o.name) {
            return bad(format!("option '{}' is named twice", o.name));
        }
        if o.values.is_empty() || o.values.len() > MAX_VALUES {
            return bad(format!("option '{}' needs 1 to {MAX_VALUES} values", o.name));
        }
        for (j, v) in o.values.iter().enumerate() {
            if v.trim().is_empty() || v.chars().count() > 100 || v.trim() != v {
                return bad(format!("values are 1–100 characters without surrounding spaces ('{v}')"));
            }
            if o.values[..j].contains(v) {
                return bad(format!("'{v}' is a value of '{}' twice", o.name));
            }
        }
    }
    Ok(())
}

/// Gives a product new options and carries its variants over: a value the options still have is
/// kept, a new option takes its first value, and a dropped option is dropped from every
/// variant. Refused when a variant holds a value the new options drop, or when two variants would
/// end up with the same values.
pub fn set_options(conn: &Connection, product_id: i64, new: &[ProductOption]) -> Result<(), AppError> {
    check_options(new)?;
    let variants = of_product(conn, product_id)?;
    let mut seen = std::collections::HashSet::new();
    let mut remapped = Vec::with_capacity(variants.len());
    for v in &variants {
        let mut c = Combination::new();
        let current = v.options.parse();
        for o in new {
            let value = match current.get(&o.name) {
                Some(value) if o.values.contains(value) => value.clone(),
                Some(value) => {
                    return Err(AppError::conflict(
                        "option_in_use",
                        format!("variant {} has {}={value}, which the new options drop", v.id, o.name),
                    ));
                }
                None => o.values[0].clone(),
            };
            c.insert(o.name.clone(), value);
        }
        if !seen.insert(stored(&c)) {
            return Err(AppError::conflict(
                "variant_exists",
                "with these options two variants would have the same values; delete one first",
            ));
        }
        remapped.push((v.id, c));
    }
    // Two passes, so values swapped between variants never collide on the unique index.
    conn.execute("UPDATE variants SET options = json_object('#', id) WHERE product_id = ?1", [product_id])?;
    let mut write = conn.prepare_cached("UPDATE variants SET options = ?2 WHERE id = ?1")?;
    for (id, c) in &remapped {
        write.execute(params![id, stored(c)])?;
    }
    conn.execute(
        "UPDATE products SET options = ?2, updated_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') WHERE id = ?1",
        params![product_id, serde_json::to_string(new).expect("options serialise")],
    )?;
    Ok(())
}

/// Puts sold units back (a cancelled order, a restocking refund): into the variant when it still
/// exists, never past the stock bound the API enforces.
pub fn restock(conn: &Connection, variant_id: Option<i64>, quantity: i64) -> rusqlite::Result<()> {
    if let Some(id) = variant_id {
        conn.prepare_cached(
            "UPDATE variants SET stock = MIN(?2, stock + ?3), updated_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') WHERE id = ?1",
        )?
        .execute(params![id, crate::validate::MAX_STOCK, quantity])?;
    }
    Ok(())
}

/// The variant a cart line without a `variant_id` means: the product's only variant.
pub fn sole_variant(conn: &Connection, product_id: i64) -> Result<i64, AppError> {
    let ids: Vec<i64> = conn
        .prepare_cached("SELECT id FROM variants WHERE product_id = ?1 AND active = 1 LIMIT 2")?
        .query_map([product_id], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    match ids.as_slice() {
        [id] => Ok(*id),
        [] => Err(AppError::invalid_field("product_id", "no such product")),
        _ => Err(AppError::invalid_field("variant_id", "this product comes in variants: name the one to buy")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_checked() {
        let ok = vec![ProductOption { name: "size".into(), values: vec!["S".into(), "M".into()] }];
        assert!(check_options(&ok).is_ok());
        let twice = vec![ProductOption { name: "size".into(), values: vec!["S".into(), "S".into()] }];
        assert!(check_options(&twice).is_err());
        let mut c = Combination::new();
        c.insert("size".into(), "XL".into());
        assert!(check_combination(&ok, &c).is_err());
        c.insert("size".into(), "M".into());
        assert!(check_combination(&ok, &c).is_ok());
        c.insert("colour".into(), "red".into());
        assert!(check_combination(&ok, &c).is_err());
    }
}
