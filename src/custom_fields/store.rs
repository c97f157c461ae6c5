//! Field definitions (`custom_fields`) and the values they govern (the `custom` JSON column of
//! `products`, `customers` and `orders`), over one shop's connection.

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde_json::{Map, Value};

use super::{CustomField, Entity, FieldType, MAX_FIELDS_PER_ENTITY, MAX_TEXT_CHARS};
use crate::error::{AppError, FieldErrors, is_unique_violation};

const COLUMNS: &str = "id, entity, key, label, type, options, required, position, created_at, updated_at";

fn field(r: &Row<'_>) -> rusqlite::Result<CustomField> {
    let entity: String = r.get(1)?;
    let kind: String = r.get(4)?;
    let options: Option<String> = r.get(5)?;
    Ok(CustomField {
        id: r.get(0)?,
        entity: Entity::parse(&entity).unwrap_or(Entity::Product),
        key: r.get(2)?,
        label: r.get(3)?,
        kind: FieldType::parse(&kind).unwrap_or(FieldType::Text),
        options: options.and_then(|o| serde_json::from_str(&o).ok()),
        required: r.get(6)?,
        position: r.get(7)?,
        created_at: r.get(8)?,
        updated_at: r.get(9)?,
    })
}

/// The definitions of one entity (or all), in display order.
pub fn list(conn: &Connection, entity: Option<Entity>) -> rusqlite::Result<Vec<CustomField>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM custom_fields WHERE ?1 IS NULL OR entity = ?1 ORDER BY entity, position, id"
    ))?;
    stmt.query_map([entity.map(Entity::as_str)], field)?.collect()
}

pub fn find(conn: &Connection, id: i64) -> rusqlite::Result<Option<CustomField>> {
    conn.prepare_cached(&format!("SELECT {COLUMNS} FROM custom_fields WHERE id = ?1"))?
        .query_row([id], field)
        .optional()
}

/// What a new definition holds (validated by the caller).
#[derive(Debug)]
pub struct NewField {
    pub entity: Entity,
    pub key: String,
    pub label: String,
    pub kind: FieldType,
    pub options: Option<Vec<String>>,
    pub required: bool,
    pub position: i64,
}

pub fn insert(conn: &Connection, f: &NewField) -> Result<CustomField, AppError> {
    let have: i64 =
        conn.query_row("SELECT COUNT(*) FROM custom_fields WHERE entity = ?1", [f.entity.as_str()], |r| r.get(0))?;
    if have >= MAX_FIELDS_PER_ENTITY {
        return Err(AppError::unprocessable(
            "limit_reached",
            format!("a shop may define at most {MAX_FIELDS_PER_ENTITY} fields per entity"),
        ));
    }
    let options = f.options.as_ref().map(|o| serde_json::to_string(o).unwrap_or_default());
    conn.execute(
        "INSERT INTO custom_fields (entity, key, label, type, options, required, position)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![f.entity.as_str(), f.key, f.label, f.kind.as_str(), options, f.required, f.position],
    )
    .map_err(|e| {
        if is_unique_violation(&e, "key") {
            AppError::conflict(
                "key_taken",
                format!("this shop already has a {} field with that key", f.entity.as_str()),
            )
        } else {
            e.into()
        }
    })?;
    Ok(find(conn, conn.last_insert_rowid())?.expect("just inserted"))
}

/// What may change in a definition; key, entity and type stay (remove and re-create to change them).
#[derive(Debug, Default)]
pub struct FieldChanges {
    pub label: Option<String>,
    pub options: Option<Vec<String>>,
    pub required: Option<bool>,
    pub position: Option<i64>,
}

/// Changes a definition. Options of a `select` may only shrink when no record holds a dropped one
/// (409 `option_in_use`), so no stored value ever falls outside its field's options.
pub fn update(conn: &Connection, id: i64, c: &FieldChanges) -> Result<CustomField, AppError> {
    let current = find(conn, id)?.ok_or_else(|| AppError::not_found("not_found", "no such custom field"))?;
    if let Some(options) = &c.options {
        if current.kind != FieldType::Select {
            return Err(AppError::invalid_field("options", "only select fields have options"));
        }
        let table = current.entity.table();
        let in_use: Option<String> = conn
            .query_row(
                &format!(
                    "SELECT json_extract(custom, '$.' || ?1) AS v FROM {table}
                     WHERE custom IS NOT NULL AND v IS NOT NULL AND v NOT IN (SELECT value FROM json_each(?2)) LIMIT 1"
                ),
                params![current.key, serde_json::to_string(options).unwrap_or_default()],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(value) = in_use {
            return Err(AppError::conflict(
                "option_in_use",
                format!(
                    "a {} still holds {value:?}; change those records before dropping the option",
                    current.entity.as_str()
                ),
            ));
        }
    }
    conn.execute(
        "UPDATE custom_fields SET label = COALESCE(?2, label), options = COALESCE(?3, options),
                required = COALESCE(?4, required), position = COALESCE(?5, position),
                updated_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now')
         WHERE id = ?1",
        params![
            id,
            c.label,
            c.options.as_ref().map(|o| serde_json::to_string(o).unwrap_or_default()),
            c.required,
            c.position
        ],
    )?;
    Ok(find(conn, id)?.expect("exists"))
}

/// Removes a definition and every value of it, in one transaction (the caller's).
pub fn delete(conn: &Connection, id: i64) -> Result<u64, AppError> {
    let current = find(conn, id)?.ok_or_else(|| AppError::not_found("not_found", "no such custom field"))?;
    let table = current.entity.table();
    let cleared = conn.execute(
        &format!(
            "UPDATE {table} SET custom = NULLIF(json_remove(custom, '$.' || ?1), '{{}}')
             WHERE custom IS NOT NULL AND json_type(custom, '$.' || ?1) IS NOT NULL"
        ),
        [&current.key],
    )?;
    conn.execute("DELETE FROM custom_fields WHERE id = ?1", [id])?;
    Ok(cleared as u64)
}

/// Parses a stored `custom` column: an empty object when NULL (or, defensively, not an object).
pub fn parse_stored(raw: Option<String>) -> Map<String, Value> {
    match raw.as_deref().map(serde_json::from_str::<Value>) {
        Some(Ok(Value::Object(map))) => map,
        _ => Map::new(),
    }
}

/// The stored form of a values object: NULL when empty.
pub fn to_stored(values: &Map<String, Value>) -> Option<String> {
    (!values.is_empty()).then(|| Value::Object(values.clone()).to_string())
}

/// Checks `input` against the entity's definitions and merges it over `current` (null removes a
/// value). Creating also demands every required field. Errors name `custom.<key>`.
pub fn merge(
    conn: &Connection,
    entity: Entity,
    current: Map<String, Value>,
    input: Option<&Map<String, Value>>,
    creating: bool,
) -> Result<Map<String, Value>, AppError> {
    let defs = list(conn, Some(entity))?;
    if defs.is_empty() && input.is_none_or(Map::is_empty) {
        return Ok(current);
    }
    let mut merged = current;
    let mut errors = FieldErrors::default();
    for (key, value) in input.into_iter().flatten() {
        let name = format!("custom.{key}");
        let Some(def) = defs.iter().find(|d| &d.key == key) else {
            errors.add(&name, format!("no such {} field", entity.as_str()));
            continue;
        };
        if value.is_null() {
            if def.required {
                errors.add(&name, "is required");
            } else {
                merged.remove(key);
            }
            continue;
        }
        match check_value(def, value) {
            Ok(v) => {
                merged.insert(key.clone(), v);
            }
            Err(problem) => errors.add(&name, problem),
        }
    }
    if creating {
        for def in defs.iter().filter(|d| d.required && !merged.contains_key(&d.key)) {
            errors.add(&format!("custom.{}", def.key), "is required");
        }
    }
    errors.into_result()?;
    Ok(merged)
}

/// One value against its definition; answers the value as stored.
pub fn check_value(def: &CustomField, value: &Value) -> Result<Value, String> {
    match def.kind {
        FieldType::Text => match value.as_str() {
            Some(s) if s.chars().count() <= MAX_TEXT_CHARS => Ok(Value::String(s.to_string())),
            Some(_) => Err(format!("must be at most {MAX_TEXT_CHARS} characters")),
            None => Err("must be a string".into()),
        },
        FieldType::Number => match value.as_f64() {
            Some(n) if n.is_finite() && n.abs() <= 1e15 => Ok(value.clone()),
            _ => Err("must be a number (at most 10^15 in size)".into()),
        },
        FieldType::Boolean => value.as_bool().map(Value::Bool).ok_or_else(|| "must be true or false".into()),
        FieldType::Date => match value.as_str() {
            Some(s) if valid_date(s) => Ok(Value::String(s.to_string())),
            _ => Err("must be a date like 2027-01-31".into()),
        },
        FieldType::Select => {
            let options = def.options.as_deref().unwrap_or_default();
            match value.as_str() {
                Some(s) if options.iter().any(|o| o == s) => Ok(Value::String(s.to_string())),
                _ => Err(format!("must be one of {}", options.join(", "))),
            }
        }
    }
}

/// `YYYY-MM-DD` naming a real day.
pub fn valid_date(s: &str) -> bool {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    s.len() == 10 && time::Date::parse(s, &format).is_ok()
}

/// The SQL value a query-string filter compares with, by the field's type (see `search`).
pub fn filter_value(def: &CustomField, raw: &str) -> Result<rusqlite::types::Value, String> {
    use rusqlite::types::Value as Sql;
    let parsed = match def.kind {
        FieldType::Number => {
            let n: f64 = raw.trim().parse().map_err(|_| "must be a number".to_string())?;
            check_value(def, &serde_json::json!(n))?;
            return Ok(Sql::Real(n));
        }
        FieldType::Boolean => match raw {
            "true" | "1" => return Ok(Sql::Integer(1)),
            "false" | "0" => return Ok(Sql::Integer(0)),
            _ => return Err("must be true or false".into()),
        },
        _ => check_value(def, &Value::String(raw.to_string()))?,
    };
    Ok(Sql::Text(parsed.as_str().unwrap_or_default().to_string()))
}

/// Turns `custom.<key>=<value>` query parameters into (key, value) conditions on `entity`,
/// checked against its definitions (422 naming the parameter).
pub fn filters(
    conn: &Connection,
    entity: Entity,
    wanted: &[(String, String)],
) -> Result<Vec<(String, rusqlite::types::Value)>, AppError> {
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let defs = list(conn, Some(entity))?;
    let mut errors = FieldErrors::default();
    let mut out = Vec::new();
    for (key, raw) in wanted {
        let name = format!("custom.{key}");
        match defs.iter().find(|d| &d.key == key) {
            None => errors.add(&name, format!("no such {} field", entity.as_str())),
            Some(def) => {
                if let Some(v) = errors.take(&name, filter_value(def, raw)) {
                    out.push((key.clone(), v));
                }
            }
        }
    }
    errors.into_result()?;
    Ok(out)
}

/// Merges `input` into the values of one record (`merge`) and writes them if they changed;
/// answers the record's values.
pub fn apply(
    conn: &Connection,
    entity: Entity,
    id: i64,
    current: Map<String, Value>,
    input: Option<&Map<String, Value>>,
    creating: bool,
) -> Result<Map<String, Value>, AppError> {
    let merged = merge(conn, entity, current.clone(), input, creating)?;
    if merged != current {
        let table = entity.table();
        conn.execute(&format!("UPDATE {table} SET custom = ?2 WHERE id = ?1"), params![id, to_stored(&merged)])?;
    }
    Ok(merged)
}
