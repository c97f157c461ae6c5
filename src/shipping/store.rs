//! Shipping methods and tax rates over one shop's connection, and what checkout charges.

use std::collections::BTreeMap;

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{Band, Kind, ShippingMethod};
use crate::error::AppError;
use crate::shop_settings::{ShopSettings, tax_of};

const COLUMNS: &str =
    "id, name, kind, price_cents, free_over_cents, bands, countries, active, position, created_at, updated_at";

fn method(r: &Row<'_>) -> rusqlite::Result<ShippingMethod> {
    let kind: String = r.get(2)?;
    let bands: Option<String> = r.get(5)?;
    let countries: Option<String> = r.get(6)?;
    Ok(ShippingMethod {
        id: r.get(0)?,
        name: r.get(1)?,
        kind: Kind::parse(&kind).unwrap_or(Kind::Flat),
        price_cents: r.get(3)?,
        free_over_cents: r.get(4)?,
        bands: bands.and_then(|b| serde_json::from_str(&b).ok()),
        countries: countries.and_then(|c| serde_json::from_str(&c).ok()),
        active: r.get(7)?,
        position: r.get(8)?,
        created_at: r.get(9)?,
        updated_at: r.get(10)?,
    })
}

pub fn list(conn: &Connection) -> rusqlite::Result<Vec<ShippingMethod>> {
    conn.prepare_cached(&format!("SELECT {COLUMNS} FROM shipping_methods ORDER BY position, id"))?
        .query_map([], method)?
        .collect()
}

pub fn find(conn: &Connection, id: i64) -> rusqlite::Result<Option<ShippingMethod>> {
    conn.prepare_cached(&format!("SELECT {COLUMNS} FROM shipping_methods WHERE id = ?1"))?
        .query_row([id], method)
        .optional()
}

/// A method's fields to write; on update `None` keeps a value.
#[derive(Debug, Default, Clone)]
pub struct Fields {
    pub name: Option<String>,
    pub kind: Option<Kind>,
    pub price_cents: Option<i64>,
    pub free_over_cents: Option<Option<i64>>,
    pub bands: Option<Option<Vec<Band>>>,
    pub countries: Option<Option<Vec<String>>>,
    pub active: Option<bool>,
    pub position: Option<i64>,
}

fn json<T: serde::Serialize>(v: &Option<T>) -> Option<String> {
    v.as_ref().map(|v| serde_json::to_string(v).unwrap_or_default())
}

/// A method's rules must make sense together: a weight method has bands, a free_over one its line.
fn check(m: &ShippingMethod) -> Result<(), AppError> {
    match m.kind {
        Kind::Weight if m.bands.as_ref().is_none_or(Vec::is_empty) => {
            Err(AppError::invalid_field("bands", "a weight method needs at least one band"))
        }
        Kind::FreeOver if m.free_over_cents.is_none() => {
            Err(AppError::invalid_field("free_over_cents", "a free_over method needs its line"))
        }
        _ => Ok(()),
    }
}

pub fn insert(conn: &Connection, f: &Fields) -> Result<ShippingMethod, AppError> {
    conn.execute(
        "INSERT INTO shipping_methods (name, kind, price_cents, free_over_cents, bands, countries, active, position)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            f.name,
            f.kind.unwrap_or(Kind::Flat).as_str(),
            f.price_cents.unwrap_or(0),
            f.free_over_cents.flatten(),
            json(&f.bands.clone().flatten()),
            json(&f.countries.clone().flatten()),
            f.active.unwrap_or(true),
            f.position.unwrap_or(0)
        ],
    )?;
    let made = find(conn, conn.last_insert_rowid())?.expect("just inserted");
    check(&made)?;
    Ok(made)
}

pub fn update(conn: &Connection, id: i64, f: &Fields) -> Result<ShippingMethod, AppError> {
    find(conn, id)?.ok_or_else(|| AppError::not_found("not_found", "no such shipping method"))?;
    conn.execute(
        "UPDATE shipping_methods SET name = COALESCE(?2, name), kind = COALESCE(?3, kind),
                price_cents = COALESCE(?4, price_cents),
                free_over_cents = CASE WHEN ?5 THEN ?6 ELSE free_over_cents END,
                bands = CASE WHEN ?7 THEN ?8 ELSE bands END,
                countries = CASE WHEN ?9 THEN ?10 ELSE countries END,
                active = COALESCE(?11, active), position = COALESCE(?12, position),
                updated_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now')
         WHERE id = ?1",
        params![
            id,
            f.name,
            f.kind.map(Kind::as_str),
            f.price_cents,
            f.free_over_cents.is_some(),
            f.free_over_cents.flatten(),
            f.bands.is_some(),
            json(&f.bands.clone().flatten()),
            f.countries.is_some(),
            json(&f.countries.clone().flatten()),
            f.active,
            f.position
        ],
    )?;
    let changed = find(conn, id)?.expect("exists");
    check(&changed)?;
    Ok(changed)
}

pub fn delete(conn: &Connection, id: i64) -> Result<(), AppError> {
    match conn.execute("DELETE FROM shipping_methods WHERE id = ?1", [id])? {
        0 => Err(AppError::not_found("not_found", "no such shipping method")),
        _ => Ok(()),
    }
}

/// Tax rates by country (`*` for the rest), in basis points.
pub fn tax_rates(conn: &Connection) -> rusqlite::Result<BTreeMap<String, i64>> {
    conn.prepare_cached("SELECT country, rate_bp FROM tax_rates ORDER BY country")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect()
}

/// Replaces every tax rate.
pub fn set_tax_rates(conn: &Connection, rates: &BTreeMap<String, i64>) -> rusqlite::Result<()> {
    conn.execute("DELETE FROM tax_rates", [])?;
    let mut insert = conn.prepare_cached("INSERT INTO tax_rates (country, rate_bp) VALUES (?1, ?2)")?;
    for (country, rate) in rates {
        insert.execute(params![country, rate])?;
    }
    Ok(())
}

/// The tax rate for a destination: its country's row, else `*`, else the settings' rate.
pub fn rate_for(conn: &Connection, settings: &ShopSettings, country: &str) -> rusqlite::Result<i64> {
    let found: Option<i64> = conn
        .prepare_cached("SELECT rate_bp FROM tax_rates WHERE country IN (?1, '*') ORDER BY country = '*' LIMIT 1")?
        .query_row([country], |r| r.get(0))
        .optional()?;
    Ok(found.unwrap_or(settings.tax_rate_bp))
}

/// What an order costs beyond its lines, and how it ships.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quote {
    pub shipping_cents: i64,
    pub tax_cents: i64,
    pub tax_included: bool,
    /// The chosen method's name; `None` when the shop has no methods (its settings' flat rate).
    pub method: Option<String>,
}

/// Prices an order going to `country`: goods after discount, the cart's weight, the method asked
/// for (required when more than one fits). 422 naming `shipping_method_id` when the choice does not
/// fit, `no_shipping_method` when nothing ships there.
pub fn quote(
    conn: &Connection,
    settings: &ShopSettings,
    country: &str,
    goods_cents: i64,
    weight_grams: i64,
    wanted: Option<i64>,
) -> Result<Quote, AppError> {
    let methods = list(conn)?;
    let (shipping_cents, method) = if methods.is_empty() {
        (settings.flat_shipping(goods_cents), None)
    } else {
        let fitting: Vec<(&ShippingMethod, i64)> =
            methods.iter().filter_map(|m| m.price(country, goods_cents, weight_grams).map(|p| (m, p))).collect();
        let chosen = match wanted {
            Some(id) => fitting.iter().find(|(m, _)| m.id == id).copied().ok_or_else(|| {
                AppError::invalid_field(
                    "shipping_method_id",
                    format!("that method does not ship this order to {country}"),
                )
            })?,
            None if fitting.len() == 1 => fitting[0],
            None if fitting.is_empty() => {
                return Err(AppError::unprocessable(
                    "no_shipping_method",
                    format!("this shop does not ship this order to {country}"),
                ));
            }
            None => {
                let ids: Vec<String> = fitting.iter().map(|(m, _)| format!("{} ({})", m.id, m.name)).collect();
                return Err(AppError::invalid_field(
                    "shipping_method_id",
                    format!("is required: one of {}", ids.join(", ")),
                ));
            }
        };
        (chosen.1, Some(chosen.0.name.clone()))
    };
    let rate = rate_for(conn, settings, country)?;
    let included = settings.prices_include_tax;
    Ok(Quote {
        shipping_cents,
        tax_cents: tax_of(goods_cents + shipping_cents, rate, included),
        tax_included: included,
        method,
    })
}
