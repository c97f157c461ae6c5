//! Catalogue CSV import. A file is stored in the shop's `catalog_imports` table and applied by a
//! job in chunks of about [`CHUNK_ROWS`] rows (never splitting a product's rows), each chunk one
//! `BEGIN IMMEDIATE` transaction that also records how many rows are done and the report so far:
//! a crash loses at most the chunk in flight, and the job resumes after the last committed one.
//! Rows are matched, not appended (products by handle, variants by SKU or option values), so a
//! file applied twice gives the same catalogue. A dry run applies each chunk inside a savepoint it
//! rolls back: the report is the one a real run would give, and the catalogue never changes.
//!
//! An empty cell leaves the current value (or takes the default for a new record). A bad row is
//! skipped and reported with its line number; the other rows are applied.

use std::collections::{HashMap, HashSet};

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::{COLUMNS, PATH_SEPARATOR};
use crate::catalog::store::{self as catalog, CategoryFields, ProductFields};
use crate::catalog::variants::{self, Combination, ProductOption, VariantFields};
use crate::error::AppError;
use crate::validate;

pub const CHUNK_ROWS: usize = 1000;
/// Row problems listed in a report (all are counted).
pub const MAX_LISTED: usize = 1000;

#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Report {
    pub products_created: u64,
    pub products_updated: u64,
    pub variants_created: u64,
    pub variants_updated: u64,
    pub categories_created: u64,
    pub rows_skipped: u64,
    /// The first [`MAX_LISTED`] skipped rows: `{line, reason}`.
    pub skipped: Vec<RowNote>,
    /// Rows applied with something left out (an image URL that is not one of the shop's own).
    pub warnings: Vec<RowNote>,
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RowNote {
    /// The line in the file (the header is line 1).
    pub line: u64,
    pub reason: String,
}

/// One import as the API shows it.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct CatalogImport {
    pub id: i64,
    /// `pending`, `running`, `done` or `failed`.
    pub status: String,
    pub dry_run: bool,
    pub rows_total: Option<i64>,
    pub rows_done: i64,
    pub report: Report,
    /// Why the whole file was refused (a bad header, not CSV), when failed.
    pub error: Option<String>,
    pub created_at: String,
    pub finished_at: Option<String>,
}

const IMPORT_COLUMNS: &str = "id, status, dry_run, rows_total, rows_done, report, error, created_at, finished_at";

fn catalog_import(r: &rusqlite::Row<'_>) -> rusqlite::Result<CatalogImport> {
    Ok(CatalogImport {
        id: r.get(0)?,
        status: r.get(1)?,
        dry_run: r.get(2)?,
        rows_total: r.get(3)?,
        rows_done: r.get(4)?,
        report: serde_json::from_str(&r.get::<_, String>(5)?).unwrap_or_default(),
        error: r.get(6)?,
        created_at: r.get(7)?,
        finished_at: r.get(8)?,
    })
}

pub fn create(conn: &Connection, csv: &[u8], dry_run: bool) -> rusqlite::Result<CatalogImport> {
    conn.execute("INSERT INTO catalog_imports (csv, dry_run) VALUES (?1, ?2)", params![csv, dry_run])?;
    Ok(find(conn, conn.last_insert_rowid())?.expect("just inserted"))
}

pub fn find(conn: &Connection, id: i64) -> rusqlite::Result<Option<CatalogImport>> {
    conn.prepare_cached(&format!("SELECT {IMPORT_COLUMNS} FROM catalog_imports WHERE id = ?1"))?
        .query_row([id], catalog_import)
        .optional()
}

pub fn list(conn: &Connection, page: crate::pagination::Page) -> rusqlite::Result<(Vec<CatalogImport>, i64)> {
    let total = conn.query_row("SELECT COUNT(*) FROM catalog_imports", [], |r| r.get(0))?;
    let rows = conn
        .prepare_cached(&format!("SELECT {IMPORT_COLUMNS} FROM catalog_imports ORDER BY id DESC LIMIT ?1 OFFSET ?2"))?
        .query_map([page.limit(), page.offset()], catalog_import)?
        .collect::<Result<_, _>>()?;
    Ok((rows, total))
}

/// A parsed file: the column index of each known column, and the records with their lines.
#[derive(Debug)]
pub struct Parsed {
    index: HashMap<&'static str, usize>,
    pub records: Vec<(u64, csv::StringRecord)>,
}

/// Reads the whole file (it is bounded by the upload limit). A file that is not CSV, lacks
/// `handle` or names an unknown column is refused as a whole.
pub fn parse(bytes: &[u8]) -> Result<Parsed, String> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut reader = csv::ReaderBuilder::new().flexible(false).from_reader(bytes);
    let headers = reader.headers().map_err(|e| format!("the header line could not be read: {e}"))?.clone();
    let mut index = HashMap::new();
    for (i, h) in headers.iter().enumerate() {
        let h = h.trim();
        let Some(known) = COLUMNS.iter().find(|c| c.eq_ignore_ascii_case(h)) else {
            return Err(format!("unknown column '{h}' (the columns are: {})", COLUMNS.join(", ")));
        };
        if index.insert(*known, i).is_some() {
            return Err(format!("column '{h}' appears twice"));
        }
    }
    if !index.contains_key("handle") {
        return Err("the file needs a 'handle' column (the product's slug)".into());
    }
    let mut records = Vec::new();
    for r in reader.records() {
        let r = r.map_err(|e| match e.position() {
            Some(p) => format!("line {}: {e}", p.line()),
            None => e.to_string(),
        })?;
        let line = r.position().map_or(0, |p| p.line());
        records.push((line, r));
    }
    Ok(Parsed { index, records })
}

impl Parsed {
    /// A cell, trimmed, with an export's formula guard (a leading `'` before `= + - @`) removed;
    /// `None` when the column is absent or the cell empty.
    fn cell<'a>(&self, r: &'a csv::StringRecord, column: &str) -> Option<&'a str> {
        let v = r.get(*self.index.get(column)?)?.trim();
        let v = match v.strip_prefix('\'') {
            Some(rest) if rest.starts_with(['=', '+', '-', '@', '\t', '\r']) => rest,
            _ => v,
        };
        (!v.is_empty()).then_some(v)
    }

    /// Where the chunk starting at `from` ends: about [`CHUNK_ROWS`] rows, extended to the end of
    /// the product the last row belongs to.
    pub fn chunk_end(&self, from: usize) -> usize {
        let mut end = (from + CHUNK_ROWS).min(self.records.len());
        while end < self.records.len()
            && end > from
            && self.cell(&self.records[end].1, "handle") == self.cell(&self.records[end - 1].1, "handle")
        {
            end += 1;
        }
        end
    }
}

fn int(v: Option<&str>, column: &str, min: i64, max: i64) -> Result<Option<i64>, String> {
    v.map(|v| match v.parse::<i64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(format!("{column}: '{v}' is not a whole number from {min} to {max}")),
    })
    .transpose()
}

fn boolean(v: Option<&str>, column: &str) -> Result<Option<bool>, String> {
    v.map(|v| match v.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "y" => Ok(true),
        "false" | "0" | "no" | "n" => Ok(false),
        _ => Err(format!("{column}: '{v}' is not true or false")),
    })
    .transpose()
}

/// What an import remembers between rows (products counted once, categories by path).
#[derive(Default)]
pub struct Context {
    /// The shop's product quota, if it has one.
    pub max_products: Option<i64>,
    created: HashSet<String>,
    updated: HashSet<String>,
    categories: HashMap<String, i64>,
}

/// The category a path names, created (with its parent) when missing.
fn category(conn: &Connection, path: &str, ctx: &mut Context, report: &mut Report) -> Result<i64, String> {
    if let Some(id) = ctx.categories.get(path) {
        return Ok(*id);
    }
    let parts: Vec<&str> = path.split(PATH_SEPARATOR.trim()).map(str::trim).collect();
    if parts.len() > 2 || parts.iter().any(|p| p.is_empty()) {
        return Err(format!("category: '{path}' is not 'Name' or 'Parent > Name' (categories nest one level)"));
    }
    let mut parent: Option<i64> = None;
    for name in parts {
        let found: Option<i64> = conn
            .prepare_cached("SELECT id FROM categories WHERE name = ?1 AND parent_id IS ?2 ORDER BY id LIMIT 1")
            .and_then(|mut s| s.query_row(params![name, parent], |r| r.get(0)).optional())
            .map_err(|e| e.to_string())?;
        parent = Some(match found {
            Some(id) => id,
            None => {
                let name = validate::name(name).map_err(|e| format!("category: {e}"))?;
                let base = validate::slugify(&name);
                let mut slug = base.clone();
                let mut n = 1;
                while conn
                    .query_row("SELECT EXISTS (SELECT 1 FROM categories WHERE slug = ?1)", [&slug], |r| {
                        r.get::<_, bool>(0)
                    })
                    .map_err(|e| e.to_string())?
                {
                    n += 1;
                    slug = format!("{base}-{n}");
                }
                let fields = CategoryFields {
                    name: Some(name),
                    slug: Some(slug),
                    parent_id: Some(parent),
                    ..Default::default()
                };
                report.categories_created += 1;
                catalog::insert_category_with(conn, &fields).map_err(|e| e.to_string())?.id
            }
        });
    }
    let id = parent.expect("at least one part");
    ctx.categories.insert(path.to_string(), id);
    Ok(id)
}

/// Applies one row; `Err` is the reason it was skipped (its writes are rolled back by the caller).
fn apply_row(
    conn: &Connection,
    p: &Parsed,
    line: u64,
    r: &csv::StringRecord,
    ctx: &mut Context,
    report: &mut Report,
) -> Result<(), String> {
    let cell = |c: &str| p.cell(r, c);
    let handle = validate::slug(cell("handle").ok_or("handle: is required")?).map_err(|e| format!("handle: {e}"))?;
    let text = |c: &str, max: usize| -> Result<Option<String>, String> {
        cell(c).map(|v| validate::text(v, 0, max).map_err(|e| format!("{c}: {e}"))).transpose()
    };
    let name = cell("name").map(|n| validate::name(n).map_err(|e| format!("name: {e}"))).transpose()?;
    let description = text("description", 20_000)?;
    let meta_title = text("meta_title", 200)?;
    let meta_description = text("meta_description", 500)?;
    let active = boolean(cell("active"), "active")?;
    let weight = int(cell("weight_grams"), "weight_grams", 0, 100_000_000)?;
    let price = int(cell("price_cents"), "price_cents", 0, validate::MAX_PRICE_CENTS)?;
    let compare_at = int(cell("compare_at_price_cents"), "compare_at_price_cents", 0, validate::MAX_PRICE_CENTS)?;
    let stock = int(cell("stock"), "stock", 0, validate::MAX_STOCK)?;
    let variant_active = boolean(cell("variant_active"), "variant_active")?;
    let variant_weight = int(cell("variant_weight_grams"), "variant_weight_grams", 0, 100_000_000)?;
    let sku =
        cell("sku").map(|s| crate::catalog::routes::validate_sku(s).map_err(|e| format!("sku: {e}"))).transpose()?;
    let mut names: Vec<(String, String)> = Vec::new();
    for i in 1..=3 {
        match (cell(&format!("option{i}_name")), cell(&format!("option{i}_value"))) {
            (Some(n), Some(v)) => names.push((n.to_string(), v.to_string())),
            (None, None) => {}
            _ => return Err(format!("option{i}_name and option{i}_value go together")),
        }
    }
    let category_id = cell("category").map(|c| category(conn, c, ctx, report)).transpose()?;
    let err = |e: AppError| e.to_string();

    // The product, by handle.
    // The product as it is, to write only what the row changes (a product's later rows usually
    // repeat its fields).
    type Current = (i64, String, String, Option<i64>, bool, i64, Option<String>, Option<String>);
    let current: Option<Current> = conn
        .prepare_cached(
            "SELECT id, name, description, category_id, active, weight_grams, meta_title, meta_description
             FROM products WHERE slug = ?1",
        )
        .and_then(|mut s| {
            s.query_row([&handle], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?))
            })
            .optional()
        })
        .map_err(|e| e.to_string())?;
    let existing = current.as_ref().map(|c| c.0);
    let mut fields = ProductFields {
        name: name.clone(),
        description,
        category_id: category_id.map(Some),
        active,
        weight_grams: weight,
        meta_title: meta_title.map(Some),
        meta_description: meta_description.map(Some),
        ..Default::default()
    };
    let product_id = match current {
        Some((id, cur_name, cur_description, cur_category, cur_active, cur_weight, cur_title, cur_meta)) => {
            fn changed<T: PartialEq>(new: &mut Option<T>, current: T) -> bool {
                if new.as_ref() == Some(&current) {
                    *new = None;
                }
                new.is_some()
            }
            let changes = [
                changed(&mut fields.name, cur_name),
                changed(&mut fields.description, cur_description),
                changed(&mut fields.category_id, cur_category),
                changed(&mut fields.active, cur_active),
                changed(&mut fields.weight_grams, cur_weight),
                changed(&mut fields.meta_title, cur_title),
                changed(&mut fields.meta_description, cur_meta),
            ];
            if changes.contains(&true) {
                catalog::update_product(conn, id, &fields).map_err(err)?;
            }
            if !ctx.created.contains(&handle) && ctx.updated.insert(handle.clone()) {
                report.products_updated += 1;
            }
            id
        }
        None => {
            if name.is_none() {
                return Err("name: is required for a new product".into());
            }
            let Some(price) = price else { return Err("price_cents: is required for a new product".into()) };
            if let Some(max) = ctx.max_products {
                let have: i64 =
                    conn.query_row("SELECT COUNT(*) FROM products", [], |r| r.get(0)).map_err(|e| e.to_string())?;
                if have >= max {
                    return Err(format!("this shop may have at most {max} products (its quota)"));
                }
            }
            fields.slug = Some(handle.clone());
            fields.price_cents = Some(price);
            fields.stock = Some(stock.unwrap_or(0));
            fields.options = (!names.is_empty()).then(|| {
                names.iter().map(|(n, v)| ProductOption { name: n.clone(), values: vec![v.clone()] }).collect()
            });
            let created = catalog::insert_product(conn, &fields).map_err(err)?;
            if ctx.created.insert(handle.clone()) {
                report.products_created += 1;
            }
            created.id
        }
    };

    // The product's options must take this row's values.
    let options = variants::parse_options(
        &conn
            .query_row("SELECT options FROM products WHERE id = ?1", [product_id], |r| r.get::<_, String>(0))
            .map_err(|e| e.to_string())?,
    );
    let row_names: Vec<&str> = names.iter().map(|(n, _)| n.as_str()).collect();
    let product_names: Vec<&str> = options.iter().map(|o| o.name.as_str()).collect();
    if row_names != product_names
        && (!product_names.is_empty() || variants::of_product(conn, product_id).map_err(|e| e.to_string())?.len() > 1)
    {
        return Err(format!(
            "the row's options ({}) are not the product's ({})",
            if row_names.is_empty() { "none".into() } else { row_names.join(", ") },
            if product_names.is_empty() { "none".into() } else { product_names.join(", ") }
        ));
    }
    let mut wanted = if product_names.is_empty() {
        names.iter().map(|(n, v)| ProductOption { name: n.clone(), values: vec![v.clone()] }).collect()
    } else {
        options.clone()
    };
    for (o, (_, v)) in wanted.iter_mut().zip(&names) {
        if !o.values.contains(v) {
            o.values.push(v.clone());
        }
    }
    if wanted != options {
        variants::set_options(conn, product_id, &wanted).map_err(err)?;
    }
    let combination: Combination = names.into_iter().collect();

    // The variant: by SKU, else by its option values, else new.
    let by_sku = match &sku {
        Some(s) => conn
            .query_row("SELECT id, product_id FROM variants WHERE sku = ?1", [s], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
            })
            .optional()
            .map_err(|e| e.to_string())?,
        None => None,
    };
    if let Some((_, other)) = by_sku
        && other != product_id
    {
        return Err(format!("sku: '{}' belongs to another product", sku.unwrap_or_default()));
    }
    let by_options: Option<i64> = conn
        .query_row(
            "SELECT id FROM variants WHERE product_id = ?1 AND options = ?2",
            params![product_id, variants::stored(&combination)],
            |r| r.get(0),
        )
        .optional()
        .map_err(|e| e.to_string())?;
    let vf = VariantFields {
        sku: sku.clone().map(Some),
        price_cents: price,
        compare_at_price_cents: compare_at.map(Some),
        stock,
        weight_grams: variant_weight.map(Some),
        options: Some(combination.clone()),
        active: variant_active,
    };
    match by_sku.map(|(id, _)| id).or(by_options) {
        Some(id) => {
            variants::update(conn, id, &vf).map_err(err)?;
            // The default variant made with a new product by this row counts as created.
            if existing.is_none() {
                report.variants_created += 1;
            } else {
                report.variants_updated += 1;
            }
        }
        None => {
            if price.is_none() {
                return Err("price_cents: is required for a new variant".into());
            }
            variants::insert(conn, product_id, &vf).map_err(err)?;
            report.variants_created += 1;
        }
    }

    // Images: only the shop's own uploads, by their URL (nothing is fetched).
    if let Some(urls) = cell("images") {
        for url in urls.split_whitespace() {
            let id = own_image_id(url);
            let attached = match id {
                Some(id) => crate::images::store::attach_copy(conn, id, product_id).map_err(err)?,
                None => false,
            };
            if !attached && report.warnings.len() < MAX_LISTED {
                report.warnings.push(RowNote {
                    line,
                    reason: format!("image '{url}' is not one of this shop's uploads; left out"),
                });
            }
        }
    }
    Ok(())
}

/// The image id in a URL of the shop's own uploads (`/api/shop/images/{id}`, with or without a
/// scheme and host, or the thumbnail's URL).
fn own_image_id(url: &str) -> Option<i64> {
    let path = match url.find("://") {
        Some(i) => &url[url[i + 3..].find('/').map(|j| i + 3 + j)?..],
        None => url,
    };
    let path = path.split(['?', '#']).next()?;
    let rest = path.strip_prefix("/api/shop/images/")?;
    let id = rest.strip_suffix("/thumbnail").unwrap_or(rest);
    id.parse().ok().filter(|n| *n > 0)
}

/// Applies rows `from..to` in the caller's transaction, each in its own savepoint.
pub fn apply_rows(
    conn: &Connection,
    parsed: &Parsed,
    from: usize,
    to: usize,
    ctx: &mut Context,
    report: &mut Report,
) -> rusqlite::Result<()> {
    let savepoint = |sql: &str| conn.prepare_cached(sql).and_then(|mut s| s.execute([])).map(|_| ());
    for (line, record) in &parsed.records[from..to] {
        savepoint("SAVEPOINT catalog_row")?;
        // What a skipped row must not leave behind in the counts and the memory.
        let counts = (
            report.products_created,
            report.products_updated,
            report.variants_created,
            report.variants_updated,
            report.categories_created,
            report.warnings.len(),
        );
        let handle = parsed.cell(record, "handle").unwrap_or_default().to_string();
        let known = (ctx.created.contains(&handle), ctx.updated.contains(&handle));
        match apply_row(conn, parsed, *line, record, ctx, report) {
            Ok(()) => savepoint("RELEASE catalog_row")?,
            Err(reason) => {
                savepoint("ROLLBACK TO catalog_row")?;
                savepoint("RELEASE catalog_row")?;
                (
                    report.products_created,
                    report.products_updated,
                    report.variants_created,
                    report.variants_updated,
                    report.categories_created,
                ) = (counts.0, counts.1, counts.2, counts.3, counts.4);
                report.warnings.truncate(counts.5);
                if !known.0 {
                    ctx.created.remove(&handle);
                }
                if !known.1 {
                    ctx.updated.remove(&handle);
                }
                // A category this row made is gone with it.
                ctx.categories.clear();
                report.rows_skipped += 1;
                if report.skipped.len() < MAX_LISTED {
                    report.skipped.push(RowNote { line: *line, reason });
                }
            }
        }
    }
    Ok(())
}

/// Runs import `id` of one shop to its end, from where it stopped: the job's work, also the
/// CLI's. `progress` hears `{total, done}` after each chunk.
pub fn run(
    db: &crate::tenancy::pools::ClientDb,
    id: i64,
    max_products: Option<i64>,
    progress: &mut dyn FnMut(&serde_json::Value),
) -> Result<CatalogImport, AppError> {
    let mut conn = db.get()?;
    let (csv, dry_run, status, mut done, mut report): (Vec<u8>, bool, String, i64, String) = conn
        .query_row("SELECT csv, dry_run, status, rows_done, report FROM catalog_imports WHERE id = ?1", [id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .optional()?
        .ok_or_else(|| AppError::not_found("not_found", "no such catalogue import"))?;
    if status == "done" || status == "failed" {
        return Ok(find(&conn, id)?.expect("exists"));
    }
    let parsed = match parse(&csv) {
        Ok(p) => p,
        Err(why) => {
            conn.execute(
                "UPDATE catalog_imports SET status = 'failed', error = ?2, csv = x'',
                        finished_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') WHERE id = ?1",
                params![id, why],
            )?;
            return Ok(find(&conn, id)?.expect("exists"));
        }
    };
    drop(csv);
    // A dry run interrupted starts over: its counts were never written anywhere but the report.
    if dry_run && done > 0 {
        done = 0;
        report = "{}".into();
    }
    let mut report: Report = serde_json::from_str(&report).unwrap_or_default();
    let total = parsed.records.len();
    conn.execute(
        "UPDATE catalog_imports SET status = 'running', rows_total = ?2 WHERE id = ?1",
        params![id, total as i64],
    )?;
    let mut ctx = Context { max_products, ..Context::default() };
    let mut from = (done.max(0) as usize).min(total);
    loop {
        let to = parsed.chunk_end(from);
        let last = to >= total;
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        if dry_run {
            tx.execute_batch("SAVEPOINT dry_run")?;
        }
        apply_rows(&tx, &parsed, from, to, &mut ctx, &mut report)?;
        if dry_run {
            tx.execute_batch("ROLLBACK TO dry_run; RELEASE dry_run")?;
            // Categories made by a rolled-back chunk are gone again.
            ctx.categories.clear();
        }
        tx.execute(
            "UPDATE catalog_imports SET rows_done = ?2, report = ?3,
                    status = CASE WHEN ?4 THEN 'done' ELSE 'running' END,
                    csv = CASE WHEN ?4 THEN x'' ELSE csv END,
                    finished_at = CASE WHEN ?4 THEN strftime('%Y-%m-%dT%H:%M:%SZ', 'now') END
             WHERE id = ?1",
            params![id, to as i64, serde_json::to_string(&report).expect("a report serialises"), last],
        )?;
        tx.commit()?;
        progress(&serde_json::json!({ "total": total, "done": to }));
        if last {
            break;
        }
        from = to;
    }
    Ok(find(&conn, id)?.expect("exists"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_own_image_urls_are_taken() {
        assert_eq!(own_image_id("/api/shop/images/12"), Some(12));
        assert_eq!(own_image_id("https://shop.example/api/shop/images/7/thumbnail"), Some(7));
        assert_eq!(own_image_id("https://evil.example/x.jpg"), None);
        assert_eq!(own_image_id("/api/shop/images/abc"), None);
    }

    #[test]
    fn files_with_unknown_columns_are_refused() {
        assert!(parse(b"handle,colour\nkettle,red\n").unwrap_err().contains("unknown column"));
        assert!(parse(b"name\nKettle\n").unwrap_err().contains("handle"));
        let p = parse(b"\xEF\xBB\xBFhandle,name\nkettle,Kettle\nkettle,Kettle\ncup,Cup\n").unwrap();
        assert_eq!(p.records.len(), 3);
        assert_eq!(p.records[0].0, 2);
        assert_eq!(p.chunk_end(0), 3);
    }
}
