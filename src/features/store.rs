//! Feature defaults (`settings.features`) and a shop's overrides (`clients.features`).

use rusqlite::{Connection, OptionalExtension};
use serde_json::{Map, Value};

use super::{Feature, Features};
use crate::error::{AppError, FieldErrors};

/// The stored defaults, `{"name": bool}` (absent names are on).
pub fn defaults(conn: &Connection) -> rusqlite::Result<Features> {
    let raw: Option<String> =
        conn.query_row("SELECT value FROM settings WHERE key = 'features'", [], |r| r.get(0)).optional()?;
    Ok(Features::merged(raw.as_deref(), None))
}

/// Checks a change: every key a known flag, every value a boolean (or null where `null_ok`: back to
/// the default). Errors name the key.
pub fn check_change(body: &Map<String, Value>, null_ok: bool) -> Result<Vec<(Feature, Option<bool>)>, AppError> {
    let mut errors = FieldErrors::default();
    let mut changes = Vec::new();
    for (name, value) in body {
        let Some(feature) = Feature::from_name(name) else {
            let known: Vec<&str> = super::KNOWN.iter().map(|k| k.1).collect();
            errors.add(name, format!("is not a feature; the features are {}", known.join(", ")));
            continue;
        };
        match value {
            Value::Bool(on) => changes.push((feature, Some(*on))),
            Value::Null if null_ok => changes.push((feature, None)),
            _ if null_ok => errors.add(name, "must be true, false, or null (back to the default)"),
            _ => errors.add(name, "must be true or false"),
        }
    }
    errors.into_result()?;
    Ok(changes)
}

fn merge(raw: Option<String>, changes: &[(Feature, Option<bool>)]) -> String {
    let mut map: Map<String, Value> = raw.and_then(|r| serde_json::from_str(&r).ok()).unwrap_or_default();
    for (feature, on) in changes {
        match on {
            Some(on) => map.insert(feature.name().to_string(), Value::Bool(*on)),
            None => map.remove(feature.name()),
        };
    }
    Value::Object(map).to_string()
}

/// Changes the defaults, inside the caller's transaction.
pub fn set_defaults(tx: &Connection, changes: &[(Feature, Option<bool>)]) -> Result<Features, AppError> {
    let raw: Option<String> =
        tx.query_row("SELECT value FROM settings WHERE key = 'features'", [], |r| r.get(0)).optional()?;
    let merged = merge(raw, changes);
    tx.execute(
        "INSERT INTO settings (key, value) VALUES ('features', ?1)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now')",
        [&merged],
    )?;
    Ok(defaults(tx)?)
}

/// Changes a shop's overrides (null: back to the default), inside the caller's transaction.
/// `None` when there is no such shop.
pub fn set_overrides(
    tx: &Connection,
    client_id: i64,
    changes: &[(Feature, Option<bool>)],
) -> Result<Option<()>, AppError> {
    let raw: Option<String> =
        tx.query_row("SELECT features FROM clients WHERE id = ?1", [client_id], |r| r.get(0)).optional()?;
    let Some(raw) = raw else { return Ok(None) };
    let merged = merge(Some(raw), changes);
    tx.execute(
        "UPDATE clients SET features = ?2, updated_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') WHERE id = ?1",
        rusqlite::params![client_id, merged],
    )?;
    Ok(Some(()))
}
