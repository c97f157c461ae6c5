//! One legacy client into one shop file (and its admins into `main.db`), and the source's global
//! part. Every table is read whole for the client, checked row by row against our rules, and
//! written with its ids; see `docs/legacy-import.md` for each rule.

use std::collections::{HashMap, HashSet};

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::source::{self, Rows, cents, flag, int, time};
use super::{ClientReport, TableReport, Tables, status_of};
use crate::auth::Email;
use crate::db::migrations;
use crate::error::AppError;
use crate::tenancy::names::{Domain, Subdomain};
use crate::tenancy::{Tenancy, files, registry};
use crate::validate;

/// Why a client is not imported (reported; the run goes on), or what stopped the run.
pub enum ImportError {
    Refused(String),
    Failed(AppError),
}

impl<E: Into<AppError>> From<E> for ImportError {
    fn from(e: E) -> Self {
        ImportError::Failed(e.into())
    }
}

fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .map(|s| format!("{}Z", &s[..19]))
        .unwrap_or_default()
}

/// A row's slug, or one made from its name (reported as fixed) when it is not a slug.
fn slug_or_from_name(slug: Option<&str>, name: &str, id: i64, report: &mut TableReport) -> String {
    let given = slug.unwrap_or_default();
    validate::slug(given).unwrap_or_else(|_| {
        let made = validate::slugify(name);
        report.fix(Some(id), format!("slug '{given}' is not a slug: '{made}'"));
        made
    })
}

/// A legacy timestamp, or now when it has none.
fn at(v: Option<&str>) -> String {
    time(v).unwrap_or_else(now)
}

/// Text of 1..=max characters (trimmed), or why not.
fn text(v: Option<&str>, column: &str, max: usize) -> Result<String, String> {
    let v = v.map(str::trim).unwrap_or_default();
    if v.is_empty() || v.chars().count() > max {
        return Err(format!("{column}: must be 1 to {max} characters"));
    }
    Ok(v.to_string())
}

fn optional(v: Option<&str>, column: &str, max: usize) -> Result<Option<String>, String> {
    match v.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) if s.chars().count() > max => Err(format!("{column}: longer than {max} characters")),
        Some(s) => Ok(Some(s.to_string())),
    }
}

/// Money that must be zero or more, in cents.
fn money(v: Option<&str>, column: &str) -> Result<i64, String> {
    let c = cents(v.unwrap_or("0")).map_err(|e| format!("{column}: {e}"))?;
    if c < 0 {
        return Err(format!("{column}: negative ({})", v.unwrap_or_default()));
    }
    Ok(c)
}

/// The source's users of `role` that can become main users here: (name, e-mail, hash) of each, an
/// e-mail already here (or twice in the source) skipped. Counted as written: the caller writes them.
fn main_users(
    main: &Connection,
    users: &Rows,
    role: &str,
    report: &mut TableReport,
) -> Result<Vec<(String, String, String)>, AppError> {
    let mut accepted = Vec::new();
    let mut seen = HashSet::new();
    for u in &users.rows {
        if users.get(u, "role") != Some(role) {
            continue;
        }
        report.read += 1;
        let id = int(users.get(u, "id"));
        let (Ok(name), Ok(email)) =
            (text(users.get(u, "name"), "name", 200), Email::parse(users.get(u, "email").unwrap_or("")))
        else {
            report.skip(id, "name or e-mail invalid");
            continue;
        };
        if crate::auth::users::email_taken(main, email.as_str())? || !seen.insert(email.as_str().to_string()) {
            report.skip(id, format!("{} is already a user here", email.as_str()));
            continue;
        }
        accepted.push((name, email.as_str().to_string(), users.get(u, "password").unwrap_or_default().to_string()));
        report.written += 1;
    }
    Ok(accepted)
}

/// The source's global part: super admins, settings, global banners and pages, into `main.db`.
pub fn import_global(main: &Connection, src: &mut mysql::Conn, tables: &mut Tables) -> Result<(), AppError> {
    let users = source::rows(src, "users", None)?;
    for (name, email, hash) in main_users(main, &users, "super_admin", tables.entry("super_admins").or_default())? {
        main.execute(
            "INSERT INTO users (name, email, password_hash, role) VALUES (?1, ?2, ?3, 'super_admin')",
            params![name, email, hash],
        )?;
    }
    let settings = source::rows(src, "settings", None)?;
    let report = tables.entry("settings").or_default();
    for row in &settings.rows {
        report.read += 1;
        let id = int(settings.get(row, "id"));
        let key = settings.get(row, "key").unwrap_or_default();
        let valid = !key.is_empty()
            && key.len() <= 100
            && key.as_bytes()[0].is_ascii_lowercase()
            && key.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.')
            && !["features", "session_key"].contains(&key);
        if !valid {
            report.skip(id, format!("key '{key}' is not [a-z][a-z0-9_.]* or is the server's own"));
            continue;
        }
        let n = main.execute(
            "INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO NOTHING",
            params![key, settings.get(row, "value").unwrap_or_default()],
        )?;
        if n == 1 {
            report.written += 1;
        } else {
            report.skip(id, format!("'{key}' is already set here"));
        }
    }
    content(main, src, None, tables)?;
    Ok(())
}

/// Banners and pages: the global ones (`client_id` NULL) into `main.db`, a client's into its file.
fn content(conn: &Connection, src: &mut mysql::Conn, client: Option<i64>, tables: &mut Tables) -> Result<(), AppError> {
    let banners = source::rows(src, "banners", client)?;
    let report = tables.entry("banners").or_default();
    for row in &banners.rows {
        if client.is_none() && banners.get(row, "client_id").is_some() {
            continue;
        }
        report.read += 1;
        let id = int(banners.get(row, "id"));
        let title = match text(banners.get(row, "title"), "title", 200) {
            Ok(t) => t,
            Err(e) => {
                report.skip(id, e);
                continue;
            }
        };
        conn.execute(
            "INSERT INTO banners (title, image_url, link_url, position, active, starts_at, ends_at, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, COALESCE(?8, strftime('%Y-%m-%dT%H:%M:%SZ', 'now')), COALESCE(?9, ?8, strftime('%Y-%m-%dT%H:%M:%SZ', 'now')))",
            params![
                title,
                banners.get(row, "image_url"),
                banners.get(row, "link_url"),
                int(banners.get(row, "position")).unwrap_or(0),
                flag(banners.get(row, "active")).unwrap_or(true),
                time(banners.get(row, "starts_at")),
                time(banners.get(row, "ends_at")),
                time(banners.get(row, "created_at")),
                time(banners.get(row, "updated_at"))
            ],
        )?;
        report.written += 1;
    }
    let pages = source::rows(src, "pages", client)?;
    let report = tables.entry("pages").or_default();
    for row in &pages.rows {
        if client.is_none() && pages.get(row, "client_id").is_some() {
            continue;
        }
        report.read += 1;
        let id = int(pages.get(row, "id"));
        let (slug, title) = match (
            validate::slug(pages.get(row, "slug").unwrap_or_default()),
            text(pages.get(row, "title"), "title", 200),
        ) {
            (Ok(s), Ok(t)) if s.len() <= 100 => (s, t),
            _ => {
                report.skip(id, "slug or title invalid");
                continue;
            }
        };
        let n = conn.execute(
            "INSERT INTO pages (slug, title, body, published, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, COALESCE(?5, strftime('%Y-%m-%dT%H:%M:%SZ', 'now')), COALESCE(?6, ?5, strftime('%Y-%m-%dT%H:%M:%SZ', 'now')))
             ON CONFLICT (slug) DO NOTHING",
            params![
                slug,
                title,
                pages.get(row, "body").unwrap_or_default(),
                flag(pages.get(row, "published")).unwrap_or(false),
                time(pages.get(row, "created_at")),
                time(pages.get(row, "updated_at"))
            ],
        )?;
        if n == 1 {
            report.written += 1;
        } else {
            report.skip(id, format!("a page '{slug}' exists already"));
        }
    }
    Ok(())
}

/// One client: checked, then (unless a dry run) provisioned, filled and made active.
#[allow(clippy::too_many_arguments)]
pub fn import_client(
    tenancy: &Tenancy,
    main: &mut Connection,
    src: &mut mysql::Conn,
    source_key: &str,
    clients: &Rows,
    row: &[Option<String>],
    dry_run: bool,
    report: &mut ClientReport,
) -> Result<(), ImportError> {
    let legacy_id = report.legacy_id;
    let clients_report = report.tables.entry("clients").or_default();
    clients_report.read += 1;
    let refuse = |why: String| ImportError::Refused(why);
    let name =
        validate::name(clients.get(row, "name").unwrap_or_default()).map_err(|e| refuse(format!("name: {e}")))?;
    let subdomain = Subdomain::parse(clients.get(row, "subdomain").unwrap_or_default())
        .map_err(|e| refuse(format!("subdomain: {e}")))?
        .as_str()
        .to_string();
    if registry::find_by_subdomain(main, &subdomain)?.is_some() {
        return Err(refuse(format!("the subdomain '{subdomain}' is taken here")));
    }
    let mut domain = None;
    if let Some(d) = clients.get(row, "domain").map(str::trim).filter(|d| !d.is_empty()) {
        match Domain::parse(d, &tenancy.base_domain) {
            Ok(d) if registry::find_by_domain(main, d.as_str())?.is_none() => domain = Some(d.as_str().to_string()),
            Ok(_) => {
                clients_report.fix(Some(legacy_id), format!("the domain {d} belongs to another shop here: left out"))
            }
            Err(e) => clients_report.fix(Some(legacy_id), format!("domain {d}: {e}; left out")),
        }
    }
    let status = status_of(clients.get(row, "status"));
    let users = source::rows(src, "users", Some(legacy_id))?;

    // Admins: main users of the new shop.
    let admins = main_users(main, &users, "admin", report.tables.entry("admins").or_default())?;

    if dry_run {
        let mut conn = Connection::open_in_memory()?;
        migrations::migrate_client(&mut conn)
            .map_err(|e| AppError::Internal(e.context("an in-memory shop for a dry run")))?;
        let tx = conn.transaction()?;
        fill(&tx, src, legacy_id, &users, &mut report.tables)?;
        report.tables.entry("clients").or_default().written += 1;
        report.outcome = "checked";
        return Ok(());
    }

    // 1. The registry row (provisioning: never served), its admins and the `importing` mark.
    let tx = main.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let id = registry::insert_provisioning(&tx, &name, &subdomain, domain.as_deref(), None)?;
    for (name, email, hash) in &admins {
        crate::auth::users::insert_admin(&tx, id, name, email, hash)?;
    }
    tx.execute(
        "INSERT INTO legacy_imports (source, legacy_id, client_id, status) VALUES (?1, ?2, ?3, 'importing')",
        params![source_key, legacy_id, id],
    )?;
    tx.commit()?;
    tenancy.regions.place(id, None).map_err(AppError::Internal)?;
    report.client_id = Some(id);

    // 2. The file, filled in one transaction.
    let dir = tenancy.regions.dir_of(id);
    let version = tenancy.template.build_file(&dir, id).map_err(AppError::Internal)?;
    {
        let path = files::client_path(&dir, id);
        let mut conn = crate::db::open_shop_file(&path, tenancy.locking, 4096, crate::db::BUSY_TIMEOUT)
            .map_err(|e| AppError::Internal(anyhow::Error::new(e).context(format!("opening {}", path.display()))))?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        fill(&tx, src, legacy_id, &users, &mut report.tables)?;
        tx.commit()?;
    }
    report.tables.entry("clients").or_default().written += 1;
    report.outcome = "imported";

    // 3. Active (or suspended, as it was) and done, in one transaction: the switch.
    let tx = main.transaction_with_behavior(TransactionBehavior::Immediate)?;
    registry::set_schema_version(&tx, id, version)?;
    tx.execute(
        "UPDATE clients SET status = ?2, updated_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') WHERE id = ?1 AND status = 'provisioning'",
        params![id, status.as_str()],
    )?;
    tx.execute(
        "UPDATE legacy_imports SET status = 'done', report = ?3, finished_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now')
         WHERE source = ?1 AND legacy_id = ?2",
        params![source_key, legacy_id, serde_json::to_string(&report.tables).expect("a report serialises")],
    )?;
    tx.commit()?;
    tenancy.directory.invalidate(id);
    crate::audit::lifecycle(
        main,
        id,
        "shop.imported",
        serde_json::json!({ "subdomain": subdomain, "legacy_id": legacy_id }),
    );
    Ok(())
}

/// The source's sum over the written rows against the sum `sql` reads back from the shop file.
fn money_check(
    conn: &Connection,
    sql: &str,
    column: &'static str,
    source_cents: i64,
) -> rusqlite::Result<super::MoneyCheck> {
    let result_cents: i64 = conn.query_row(sql, [], |r| r.get::<_, Option<i64>>(0))?.unwrap_or(0);
    Ok(super::MoneyCheck { column, source_cents, result_cents, matches: source_cents == result_cents })
}

/// Fills a shop file (the caller's transaction) with one client's rows, table by table.
fn fill(
    conn: &Connection,
    src: &mut mysql::Conn,
    legacy: i64,
    users: &Rows,
    tables: &mut Tables,
) -> Result<(), AppError> {
    let mut ids = Ids::default();
    customers(conn, users, &mut ids, tables.entry("customers").or_default())?;
    let rows = source::rows(src, "categories", Some(legacy))?;
    categories(conn, &rows, &mut ids, tables.entry("categories").or_default())?;
    let rows = source::rows(src, "products", Some(legacy))?;
    products(conn, &rows, &mut ids, tables.entry("products").or_default())?;
    let rows = source::rows(src, "coupons", Some(legacy))?;
    coupons(conn, &rows, &mut ids, tables.entry("coupons").or_default())?;
    let rows = source::rows(src, "addresses", Some(legacy))?;
    addresses(conn, &rows, &mut ids, tables.entry("addresses").or_default())?;
    let rows = source::rows(src, "orders", Some(legacy))?;
    orders(conn, &rows, &mut ids, tables.entry("orders").or_default())?;
    let rows = source::rows(src, "order_items", Some(legacy))?;
    order_items(conn, &rows, &mut ids, tables.entry("order_items").or_default())?;
    // The customers' buying history, as checkouts keep it (cancelled orders do not count).
    conn.execute_batch(
        "INSERT INTO customers (user_id, name, email, orders_count, total_spent_cents, last_order_at)
         SELECT u.id, u.name, u.email, COUNT(o.id), SUM(o.total_cents), MAX(o.created_at)
         FROM users u JOIN orders o ON o.user_id = u.id AND o.status <> 'cancelled' GROUP BY u.id;
         UPDATE orders SET customer_id = (SELECT c.id FROM customers c WHERE c.user_id = orders.user_id)
         WHERE user_id IS NOT NULL;",
    )?;

    let rows = source::rows(src, "cart_items", Some(legacy))?;
    cart_items(conn, &rows, &mut ids, tables.entry("cart_items").or_default())?;
    let rows = source::rows(src, "product_reviews", Some(legacy))?;
    product_reviews(conn, &rows, &mut ids, tables.entry("product_reviews").or_default())?;
    let rows = source::rows(src, "recently_viewed", Some(legacy))?;
    recently_viewed(conn, &rows, &mut ids, tables.entry("recently_viewed").or_default())?;
    content(conn, src, Some(legacy), tables)?;
    // The search index, from the imported rows (the triggers kept it, this makes sure).
    conn.execute_batch("INSERT INTO products_fts (products_fts) VALUES ('rebuild');")?;
    let _ = conn.query_row("SELECT 1", [], |r| r.get::<_, i64>(0)).optional()?;
    Ok(())
}

/// What the tables imported so far hold, for the ones that refer to them.
#[derive(Default)]
struct Ids {
    customers: HashSet<i64>,
    categories: HashSet<i64>,
    /// Product → its default variant.
    products: HashMap<i64, i64>,
    /// Coupon code, lowercased → id.
    coupons: HashMap<String, i64>,
    orders: HashSet<i64>,
}

/// Customers: the shop's users, one per e-mail (the first kept).
fn customers(conn: &Connection, users: &Rows, ids: &mut Ids, report: &mut TableReport) -> Result<(), AppError> {
    let mut emails = HashSet::new();
    {
        let mut insert = conn.prepare(
            "INSERT INTO users (id, name, email, password_hash, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        for u in &users.rows {
            let role = users.get(u, "role").unwrap_or("customer");
            if role == "admin" || role == "super_admin" {
                continue;
            }
            report.read += 1;
            let Some(id) = int(users.get(u, "id")) else { continue };
            let name = match text(users.get(u, "name"), "name", 200) {
                Ok(n) => n,
                Err(e) => {
                    report.skip(Some(id), e);
                    continue;
                }
            };
            let email = match Email::parse(users.get(u, "email").unwrap_or("")) {
                Ok(e) => e.as_str().to_string(),
                Err(e) => {
                    report.skip(Some(id), format!("email: {e}"));
                    continue;
                }
            };
            if !emails.insert(email.clone()) {
                report.skip(Some(id), format!("{email} belongs to an earlier customer (e-mails equal but for case)"));
                continue;
            }
            let created = at(users.get(u, "created_at"));
            insert.execute(params![
                id,
                name,
                email,
                users.get(u, "password").unwrap_or_default(),
                created,
                time(users.get(u, "updated_at")).unwrap_or(created.clone())
            ])?;
            ids.customers.insert(id);
            report.written += 1;
        }
    }
    Ok(())
}

/// Categories, parents first; one level of nesting.
fn categories(conn: &Connection, rows: &Rows, ids: &mut Ids, report: &mut TableReport) -> Result<(), AppError> {
    let parent_of: HashMap<i64, Option<i64>> =
        rows.rows.iter().filter_map(|r| Some((int(rows.get(r, "id"))?, int(rows.get(r, "parent_id"))))).collect();
    let mut slugs = HashSet::new();
    let mut order: Vec<&Vec<Option<String>>> = rows.rows.iter().collect();
    order.sort_by_key(|r| (rows.get(r, "parent_id").is_some(), int(rows.get(r, "id"))));
    for r in order {
        report.read += 1;
        let Some(id) = int(rows.get(r, "id")) else { continue };
        let name = match text(rows.get(r, "name"), "name", 200) {
            Ok(n) => n,
            Err(e) => {
                report.skip(Some(id), e);
                continue;
            }
        };
        let slug = slug_or_from_name(rows.get(r, "slug"), &name, id, report);
        if !slugs.insert(slug.clone()) {
            report.skip(Some(id), format!("the slug '{slug}' is taken by an earlier category"));
            continue;
        }
        let mut parent = int(rows.get(r, "parent_id"));
        if let Some(p) = parent
            && (!ids.categories.contains(&p) || parent_of.get(&p).copied().flatten().is_some())
        {
            report.fix(Some(id), format!("parent {p} is missing or not top-level: made top-level"));
            parent = None;
        }
        conn.execute(
            "INSERT INTO categories (id, name, slug, parent_id, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
            params![id, name, slug, parent, at(rows.get(r, "created_at"))],
        )?;
        ids.categories.insert(id);
        report.written += 1;
    }
    Ok(())
}

/// Products (each gets its default variant from the insert trigger).
fn products(conn: &Connection, rows: &Rows, ids: &mut Ids, report: &mut TableReport) -> Result<(), AppError> {
    let mut slugs = HashSet::new();
    let mut price_sum = 0i64;
    {
        let mut insert = conn.prepare(
            "INSERT INTO products (id, category_id, name, slug, description, price_cents, stock, active, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )?;
        let mut variant = conn.prepare("SELECT id FROM variants WHERE product_id = ?1")?;
        for r in &rows.rows {
            report.read += 1;
            let Some(id) = int(rows.get(r, "id")) else { continue };
            let checked = (|| -> Result<_, String> {
                let name = text(rows.get(r, "name"), "name", 200)?;
                let price = money(rows.get(r, "price"), "price")?;
                if price > validate::MAX_PRICE_CENTS {
                    return Err(format!("price: above {}", validate::MAX_PRICE_CENTS / 100));
                }
                let description = optional(rows.get(r, "description"), "description", 20_000)?.unwrap_or_default();
                Ok((name, price, description))
            })();
            let (name, price, description) = match checked {
                Ok(v) => v,
                Err(e) => {
                    report.skip(Some(id), e);
                    continue;
                }
            };
            let slug = slug_or_from_name(rows.get(r, "slug"), &name, id, report);
            if !slugs.insert(slug.clone()) {
                report.skip(Some(id), format!("the slug '{slug}' is taken by an earlier product"));
                continue;
            }
            let mut stock = int(rows.get(r, "stock")).unwrap_or(0);
            if stock < 0 {
                report.fix(Some(id), format!("negative stock {stock}: 0"));
                stock = 0;
            } else if stock > validate::MAX_STOCK {
                report.fix(Some(id), format!("stock {stock}: {}", validate::MAX_STOCK));
                stock = validate::MAX_STOCK;
            }
            let mut category = int(rows.get(r, "category_id"));
            if let Some(c) = category
                && !ids.categories.contains(&c)
            {
                report.fix(Some(id), format!("category {c} is missing: no category"));
                category = None;
            }
            let created = at(rows.get(r, "created_at"));
            insert.execute(params![
                id,
                category,
                name,
                slug,
                description,
                price,
                stock,
                flag(rows.get(r, "active")).unwrap_or(true),
                created,
                time(rows.get(r, "updated_at")).unwrap_or(created.clone())
            ])?;
            ids.products.insert(id, variant.query_row([id], |r| r.get(0))?);
            price_sum += price;
            report.written += 1;
        }
    }
    report.money = Some(money_check(conn, "SELECT SUM(price_cents) FROM products", "price", price_sum)?);
    Ok(())
}

/// Coupons.
fn coupons(conn: &Connection, rows: &Rows, ids: &mut Ids, report: &mut TableReport) -> Result<(), AppError> {
    for r in &rows.rows {
        report.read += 1;
        let Some(id) = int(rows.get(r, "id")) else { continue };
        let checked = (|| -> Result<_, String> {
            let code = text(rows.get(r, "code"), "code", 40)?;
            let kind = match rows.get(r, "type").or(rows.get(r, "kind")).map(str::trim) {
                Some(k @ ("percent" | "fixed")) => k,
                other => return Err(format!("type: '{}' is not percent or fixed", other.unwrap_or_default())),
            };
            let value = money(rows.get(r, "value"), "value")?;
            let value = if kind == "percent" {
                if value % 100 != 0 || !(100..=10_000).contains(&value) {
                    return Err(format!(
                        "value: {} is not a whole percentage from 1 to 100",
                        rows.get(r, "value").unwrap_or_default()
                    ));
                }
                value / 100
            } else if value == 0 {
                return Err("value: zero".into());
            } else {
                value
            };
            let min = rows.get(r, "min_subtotal").map(|m| money(Some(m), "min_subtotal")).transpose()?;
            Ok((code, kind, value, min))
        })();
        let (code, kind, value, min) = match checked {
            Ok(v) => v,
            Err(e) => {
                report.skip(Some(id), e);
                continue;
            }
        };
        if ids.coupons.contains_key(&code.to_lowercase()) {
            report.skip(Some(id), format!("the code '{code}' is taken by an earlier coupon"));
            continue;
        }
        let max_uses = int(rows.get(r, "max_uses")).filter(|m| *m > 0);
        let mut uses = int(rows.get(r, "uses")).unwrap_or(0).max(0);
        if let Some(m) = max_uses
            && uses > m
        {
            report.fix(Some(id), format!("uses {uses} above max_uses {m}: {m}"));
            uses = m;
        }
        conn.execute(
            "INSERT INTO coupons (id, code, kind, value, min_subtotal_cents, max_uses, uses, expires_at, active, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)",
            params![id, code, kind, value, min, max_uses, uses, time(rows.get(r, "expires_at")), flag(rows.get(r, "active")).unwrap_or(true), at(rows.get(r, "created_at"))],
        )?;
        ids.coupons.insert(code.to_lowercase(), id);
        report.written += 1;
    }
    Ok(())
}

/// Addresses of known customers.
fn addresses(conn: &Connection, rows: &Rows, ids: &mut Ids, report: &mut TableReport) -> Result<(), AppError> {
    for r in &rows.rows {
        report.read += 1;
        let Some(id) = int(rows.get(r, "id")) else { continue };
        let user = int(rows.get(r, "user_id"));
        if !user.is_some_and(|u| ids.customers.contains(&u)) {
            report.skip(Some(id), "its customer is missing");
            continue;
        }
        let checked = (|| -> Result<_, String> {
            let country = rows.get(r, "country").unwrap_or_default().trim().to_ascii_uppercase();
            if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_uppercase()) {
                return Err(format!("country: '{country}' is not two letters"));
            }
            Ok((
                text(rows.get(r, "name"), "name", 200)?,
                text(rows.get(r, "line1"), "line1", 200)?,
                optional(rows.get(r, "line2"), "line2", 200)?,
                text(rows.get(r, "city"), "city", 100)?,
                optional(rows.get(r, "region"), "region", 100)?,
                text(rows.get(r, "postal_code"), "postal_code", 20)?,
                country,
                optional(rows.get(r, "phone"), "phone", 40)?,
            ))
        })();
        match checked {
            Ok((name, line1, line2, city, region, postal, country, phone)) => {
                conn.execute(
                    "INSERT INTO addresses (id, user_id, name, line1, line2, city, region, postal_code, country, phone, is_default, created_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12)",
                    params![id, user, name, line1, line2, city, region, postal, country, phone, flag(rows.get(r, "is_default")).unwrap_or(false), at(rows.get(r, "created_at"))],
                )?;
                report.written += 1;
            }
            Err(e) => report.skip(Some(id), e),
        }
    }
    Ok(())
}

/// Orders; their items follow.
fn orders(conn: &Connection, rows: &Rows, ids: &mut Ids, report: &mut TableReport) -> Result<(), AppError> {
    let mut numbers = HashSet::new();
    let mut total_sum = 0i64;
    for r in &rows.rows {
        report.read += 1;
        let Some(id) = int(rows.get(r, "id")) else { continue };
        let checked = (|| -> Result<_, String> {
            let status = match rows.get(r, "status").map(str::trim) {
                Some(s @ ("pending" | "paid" | "shipped" | "delivered" | "cancelled")) => s,
                Some("processing") => "paid",
                Some("completed") => "delivered",
                Some("canceled") => "cancelled",
                other => return Err(format!("status: '{}' is not an order status", other.unwrap_or_default())),
            };
            let subtotal = money(rows.get(r, "subtotal"), "subtotal")?;
            let discount = money(rows.get(r, "discount"), "discount")?;
            let shipping = money(rows.get(r, "shipping"), "shipping")?;
            let tax = money(rows.get(r, "tax"), "tax")?;
            let total = money(rows.get(r, "total"), "total")?;
            if discount > subtotal || total != subtotal - discount + shipping + tax {
                return Err(format!(
                    "total {} is not subtotal − discount + shipping + tax ({})",
                    rows.get(r, "total").unwrap_or_default(),
                    (subtotal - discount + shipping + tax) as f64 / 100.0
                ));
            }
            let country = rows.get(r, "ship_country").unwrap_or_default().trim().to_ascii_uppercase();
            if country.len() != 2 {
                return Err(format!("ship_country: '{country}' is not two letters"));
            }
            Ok((status, subtotal, discount, shipping, tax, total, country))
        })();
        let (status, subtotal, discount, shipping, tax, total, country) = match checked {
            Ok(v) => v,
            Err(e) => {
                report.skip(Some(id), e);
                continue;
            }
        };
        let number = match rows.get(r, "number").map(str::trim).filter(|n| !n.is_empty()) {
            Some(n) => n.to_string(),
            None => {
                report.fix(Some(id), "no number: numbered from its id");
                crate::orders::checkout::order_number(id)
            }
        };
        if !numbers.insert(number.clone()) {
            report.skip(Some(id), format!("the number '{number}' is taken by an earlier order"));
            continue;
        }
        let mut user = int(rows.get(r, "user_id"));
        if let Some(u) = user
            && !ids.customers.contains(&u)
        {
            report.fix(Some(id), format!("customer {u} is missing: kept without the account"));
            user = None;
        }
        let coupon_code = rows.get(r, "coupon_code").map(str::trim).filter(|c| !c.is_empty());
        let coupon_id = coupon_code.and_then(|c| ids.coupons.get(&c.to_lowercase()).copied());
        let field = |c: &str| rows.get(r, c).map(str::trim).filter(|s| !s.is_empty()).unwrap_or("-").to_string();
        let created = at(rows.get(r, "created_at"));
        conn.execute(
            "INSERT INTO orders (id, number, user_id, status, subtotal_cents, discount_cents, shipping_cents, tax_cents, total_cents,
                                 coupon_id, coupon_code, ship_name, ship_line1, ship_line2, ship_city, ship_region, ship_postal_code,
                                 ship_country, ship_phone, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21)",
            params![
                id,
                number,
                user,
                status,
                subtotal,
                discount,
                shipping,
                tax,
                total,
                coupon_id,
                coupon_code,
                field("ship_name"),
                field("ship_line1"),
                rows.get(r, "ship_line2"),
                field("ship_city"),
                rows.get(r, "ship_region"),
                field("ship_postal_code"),
                country,
                rows.get(r, "ship_phone"),
                created,
                time(rows.get(r, "updated_at")).unwrap_or(created.clone())
            ],
        )?;
        ids.orders.insert(id);
        total_sum += total;
        report.written += 1;
    }
    report.money = Some(money_check(conn, "SELECT SUM(total_cents) FROM orders", "total", total_sum)?);
    Ok(())
}

/// Order items of imported orders.
fn order_items(conn: &Connection, rows: &Rows, ids: &mut Ids, report: &mut TableReport) -> Result<(), AppError> {
    let mut line_sum = 0i64;
    {
        let mut insert = conn.prepare(
            "INSERT INTO order_items (id, order_id, product_id, variant_id, name, unit_price_cents, quantity, line_total_cents)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?;
        for r in &rows.rows {
            report.read += 1;
            let Some(id) = int(rows.get(r, "id")) else { continue };
            if !int(rows.get(r, "order_id")).is_some_and(|o| ids.orders.contains(&o)) {
                report.skip(Some(id), "orphaned: its order is missing");
                continue;
            }
            let checked = (|| -> Result<_, String> {
                let name = text(rows.get(r, "name"), "name", 200)?;
                let price = money(rows.get(r, "price"), "price")?;
                let total = money(rows.get(r, "total"), "total")?;
                let quantity =
                    int(rows.get(r, "quantity")).filter(|q| *q > 0).ok_or("quantity: not a positive number")?;
                if price * quantity != total {
                    return Err(format!("total {} is not price × quantity", rows.get(r, "total").unwrap_or_default()));
                }
                Ok((name, price, quantity, total))
            })();
            let (name, price, quantity, total) = match checked {
                Ok(v) => v,
                Err(e) => {
                    report.skip(Some(id), e);
                    continue;
                }
            };
            let mut product = int(rows.get(r, "product_id"));
            if let Some(p) = product
                && !ids.products.contains_key(&p)
            {
                report.fix(Some(id), format!("product {p} is gone: kept without the product"));
                product = None;
            }
            let variant = product.and_then(|p| ids.products.get(&p).copied());
            insert.execute(params![
                id,
                int(rows.get(r, "order_id")),
                product,
                variant,
                name,
                price,
                quantity,
                total
            ])?;
            line_sum += total;
            report.written += 1;
        }
    }
    report.money = Some(money_check(conn, "SELECT SUM(line_total_cents) FROM order_items", "total", line_sum)?);
    Ok(())
}

/// Cart lines of known customers and products.
fn cart_items(conn: &Connection, rows: &Rows, ids: &mut Ids, report: &mut TableReport) -> Result<(), AppError> {
    let mut lines = HashSet::new();
    for r in &rows.rows {
        report.read += 1;
        let id = int(rows.get(r, "id"));
        let (user, product) = (int(rows.get(r, "user_id")), int(rows.get(r, "product_id")));
        let (Some(user), Some(variant)) =
            (user.filter(|u| ids.customers.contains(u)), product.and_then(|p| ids.products.get(&p).copied()))
        else {
            report.skip(id, "its customer or product is missing");
            continue;
        };
        let quantity = int(rows.get(r, "quantity")).unwrap_or(0);
        if !(1..=1000).contains(&quantity) {
            report.skip(id, format!("quantity {quantity} is not 1 to 1000"));
            continue;
        }
        if !lines.insert((user, variant)) {
            report.skip(id, "a second line of the same product in one cart");
            continue;
        }
        conn.execute(
            "INSERT INTO cart_items (user_id, product_id, variant_id, quantity) VALUES (?1, ?2, ?3, ?4)",
            params![user, product, variant, quantity],
        )?;
        report.written += 1;
    }
    Ok(())
}

/// Reviews (hidden when not approved); the triggers keep the ratings.
fn product_reviews(conn: &Connection, rows: &Rows, ids: &mut Ids, report: &mut TableReport) -> Result<(), AppError> {
    let mut reviewed = HashSet::new();
    for r in &rows.rows {
        report.read += 1;
        let Some(id) = int(rows.get(r, "id")) else { continue };
        let (user, product) = (int(rows.get(r, "user_id")), int(rows.get(r, "product_id")));
        let (Some(user), Some(product)) =
            (user.filter(|u| ids.customers.contains(u)), product.filter(|p| ids.products.contains_key(p)))
        else {
            report.skip(Some(id), "its customer or product is missing");
            continue;
        };
        let rating = int(rows.get(r, "rating")).unwrap_or(0);
        if !(1..=5).contains(&rating) {
            report.skip(Some(id), format!("rating {rating} is not 1 to 5"));
            continue;
        }
        let (title, body) =
            match (optional(rows.get(r, "title"), "title", 200), optional(rows.get(r, "comment"), "comment", 5000)) {
                (Ok(t), Ok(b)) => (t, b),
                (Err(e), _) | (_, Err(e)) => {
                    report.skip(Some(id), e);
                    continue;
                }
            };
        if !reviewed.insert((product, user)) {
            report.skip(Some(id), "a second review of one product by one customer");
            continue;
        }
        let created = at(rows.get(r, "created_at"));
        conn.execute(
            "INSERT INTO product_reviews (id, product_id, user_id, rating, title, body, hidden, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
            params![id, product, user, rating, title, body, !flag(rows.get(r, "approved")).unwrap_or(true), created],
        )?;
        report.written += 1;
    }
    Ok(())
}

/// Recently viewed lists, oldest view first so the newest has the highest `seq`.
fn recently_viewed(conn: &Connection, rows: &Rows, ids: &mut Ids, report: &mut TableReport) -> Result<(), AppError> {
    let mut views: Vec<(i64, String, i64, i64)> = Vec::new(); // user, time, id, product
    let mut seen = HashSet::new();
    for r in &rows.rows {
        report.read += 1;
        let id = int(rows.get(r, "id"));
        let (user, product) = (int(rows.get(r, "user_id")), int(rows.get(r, "product_id")));
        let (Some(user), Some(product)) =
            (user.filter(|u| ids.customers.contains(u)), product.filter(|p| ids.products.contains_key(p)))
        else {
            report.skip(id, "its customer or product is missing");
            continue;
        };
        if !seen.insert((user, product)) {
            report.skip(id, "the same product viewed again: the newest view kept");
            continue;
        }
        views.push((user, at(rows.get(r, "viewed_at")), id.unwrap_or(0), product));
    }
    views.sort();
    for (seq, (user, at, _, product)) in views.iter().enumerate() {
        conn.execute(
            "INSERT INTO recently_viewed (user_id, product_id, seq, viewed_at) VALUES (?1, ?2, ?3, ?4)",
            params![user, product, seq as i64 + 1, at],
        )?;
        report.written += 1;
    }
    Ok(())
}
