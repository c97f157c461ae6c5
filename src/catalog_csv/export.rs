//! The catalogue as CSV.

use std::collections::HashMap;

use rusqlite::Connection;

use super::{COLUMNS, PATH_SEPARATOR};
use crate::catalog::variants;
use crate::error::AppError;

/// A cell a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab, carriage return) gets a
/// leading `'`; the import takes it off again.
pub fn guard(cell: &str) -> std::borrow::Cow<'_, str> {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}").into(),
        _ => cell.into(),
    }
}

fn category_paths(conn: &Connection) -> rusqlite::Result<HashMap<i64, String>> {
    let rows: Vec<(i64, String, Option<i64>)> = conn
        .prepare("SELECT id, name, parent_id FROM categories")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    let names: HashMap<i64, String> = rows.iter().map(|(id, n, _)| (*id, n.clone())).collect();
    Ok(rows
        .iter()
        .map(|(id, name, parent)| {
            let path = match parent.and_then(|p| names.get(&p)) {
                Some(p) => format!("{p}{PATH_SEPARATOR}{name}"),
                None => name.clone(),
            };
            (*id, path)
        })
        .collect())
}

/// Writes every product, one row per variant, products in id order. Runs in one read
/// transaction (the caller's), so the file is one consistent moment of the catalogue.
pub fn export(conn: &Connection, out: impl std::io::Write) -> Result<usize, AppError> {
    let internal = |e: csv::Error| AppError::Internal(anyhow::Error::new(e).context("writing the catalogue CSV"));
    let mut w = csv::Writer::from_writer(out);
    w.write_record(COLUMNS).map_err(internal)?;
    let categories = category_paths(conn)?;
    let mut images: HashMap<i64, Vec<i64>> = HashMap::new();
    let mut stmt = conn.prepare("SELECT product_id, id FROM images ORDER BY product_id, position, id")?;
    for row in stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))? {
        let (p, i) = row?;
        images.entry(p).or_default().push(i);
    }
    let mut stmt = conn.prepare(
        "SELECT p.id, p.slug, p.name, p.description, p.category_id, p.active, p.weight_grams, p.meta_title,
                p.meta_description, p.options, v.sku, v.price_cents, v.compare_at_price_cents, v.stock, v.active,
                v.weight_grams, v.options
         FROM products p JOIN variants v ON v.product_id = p.id ORDER BY p.id, v.position, v.id",
    )?;
    let mut rows = stmt.query([])?;
    let (mut written, mut last_product) = (0usize, 0i64);
    while let Some(r) = rows.next()? {
        let product_id: i64 = r.get(0)?;
        let first_of_product = product_id != last_product;
        last_product = product_id;
        let options = variants::parse_options(&r.get::<_, String>(9)?);
        let combination: variants::Combination = serde_json::from_str(&r.get::<_, String>(16)?).unwrap_or_default();
        let mut record: Vec<String> = vec![
            r.get(1)?,
            r.get(2)?,
            r.get(3)?,
            r.get::<_, Option<i64>>(4)?.and_then(|c| categories.get(&c).cloned()).unwrap_or_default(),
            r.get::<_, bool>(5)?.to_string(),
            r.get::<_, i64>(6)?.to_string(),
            r.get::<_, Option<String>>(7)?.unwrap_or_default(),
            r.get::<_, Option<String>>(8)?.unwrap_or_default(),
        ];
        for i in 0..3 {
            match options.get(i) {
                Some(o) => {
                    record.push(o.name.clone());
                    record.push(combination.get(&o.name).cloned().unwrap_or_default());
                }
                None => record.extend([String::new(), String::new()]),
            }
        }
        record.extend([
            r.get::<_, Option<String>>(10)?.unwrap_or_default(),
            r.get::<_, i64>(11)?.to_string(),
            r.get::<_, Option<i64>>(12)?.map(|c| c.to_string()).unwrap_or_default(),
            r.get::<_, i64>(13)?.to_string(),
            r.get::<_, bool>(14)?.to_string(),
            r.get::<_, Option<i64>>(15)?.map(|c| c.to_string()).unwrap_or_default(),
            if first_of_product {
                images
                    .get(&product_id)
                    .map(|ids| ids.iter().map(|i| crate::images::store::url(*i)).collect::<Vec<_>>().join(" "))
                    .unwrap_or_default()
            } else {
                String::new()
            },
        ]);
        w.write_record(record.iter().map(|c| guard(c).into_owned())).map_err(internal)?;
        written += 1;
    }
    w.flush().map_err(|e| AppError::Internal(anyhow::Error::new(e).context("writing the catalogue CSV")))?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    #[test]
    fn formulas_are_defused() {
        assert_eq!(super::guard("=SUM(A1)"), "'=SUM(A1)");
        assert_eq!(super::guard("@cmd"), "'@cmd");
        assert_eq!(super::guard("Kettle"), "Kettle");
    }
}
