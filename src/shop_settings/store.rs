//! The `shop_settings` row.

use rusqlite::{Connection, params};

use super::ShopSettings;
use crate::error::AppError;

const COLUMNS: &str = "currency, tax_rate_bp, shipping_flat_cents, free_shipping_over_cents, auto_cancel_unpaid_hours,
    low_stock_threshold, locale, mail_sender_name, updated_at, prices_include_tax";

pub fn get(conn: &Connection) -> rusqlite::Result<ShopSettings> {
    conn.prepare_cached(&format!("SELECT {COLUMNS} FROM shop_settings WHERE id = 1"))?.query_row([], |r| {
        Ok(ShopSettings {
            currency: r.get(0)?,
            tax_rate_bp: r.get(1)?,
            shipping_flat_cents: r.get(2)?,
            free_shipping_over_cents: r.get(3)?,
            auto_cancel_unpaid_hours: r.get(4)?,
            low_stock_threshold: r.get(5)?,
            locale: r.get(6)?,
            mail_sender_name: r.get(7)?,
            updated_at: r.get(8)?,
            prices_include_tax: r.get(9)?,
        })
    })
}

/// A checked change: `None` leaves a setting alone, `Some(None)` clears a nullable one.
#[derive(Debug, Default)]
pub struct Change {
    pub currency: Option<String>,
    pub tax_rate_bp: Option<i64>,
    pub shipping_flat_cents: Option<i64>,
    pub free_shipping_over_cents: Option<Option<i64>>,
    pub auto_cancel_unpaid_hours: Option<Option<i64>>,
    pub low_stock_threshold: Option<i64>,
    pub locale: Option<String>,
    pub mail_sender_name: Option<Option<String>>,
    pub prices_include_tax: Option<bool>,
}

/// Applies a checked change inside the caller's transaction and returns the settings now.
pub fn update(tx: &Connection, c: &Change) -> Result<ShopSettings, AppError> {
    let now = get(tx)?;
    tx.execute(
        "UPDATE shop_settings SET currency = ?1, tax_rate_bp = ?2, shipping_flat_cents = ?3,
            free_shipping_over_cents = ?4, auto_cancel_unpaid_hours = ?5, low_stock_threshold = ?6, locale = ?7,
            mail_sender_name = ?8, prices_include_tax = ?9, updated_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') WHERE id = 1",
        params![
            c.currency.as_ref().unwrap_or(&now.currency),
            c.tax_rate_bp.unwrap_or(now.tax_rate_bp),
            c.shipping_flat_cents.unwrap_or(now.shipping_flat_cents),
            c.free_shipping_over_cents.unwrap_or(now.free_shipping_over_cents),
            c.auto_cancel_unpaid_hours.unwrap_or(now.auto_cancel_unpaid_hours),
            c.low_stock_threshold.unwrap_or(now.low_stock_threshold),
            c.locale.as_ref().unwrap_or(&now.locale),
            c.mail_sender_name.clone().unwrap_or(now.mail_sender_name),
            c.prices_include_tax.unwrap_or(now.prices_include_tax),
        ],
    )?;
    Ok(get(tx)?)
}

/// The name customer mail comes from: the setting, or the shop's name.
pub fn sender_name(conn: &Connection, shop_name: &str) -> rusqlite::Result<String> {
    Ok(get(conn)?.mail_sender_name.unwrap_or_else(|| shop_name.to_string()))
}
