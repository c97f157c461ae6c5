//! Embedded schema migrations: one set for main.db, one for every shop file.
//!
//! The client set may be extended at start by `VERGEFLOW_EXTRA_CLIENT_MIGRATIONS` (a folder of
//! `V<n>__<name>.sql` files numbered after the built-in ones): for developing a migration without
//! rebuilding, and for the tests and the benchmark that exercise a real next version.

use std::sync::OnceLock;

use anyhow::Context as _;
use refinery::{Migration, Runner};
use rusqlite::Connection;

mod main_set {
    refinery::embed_migrations!("migrations/main");
}
mod client_set {
    refinery::embed_migrations!("migrations/client");
}

/// Brings main.db to the newest schema.
pub fn migrate_main(conn: &mut Connection) -> anyhow::Result<()> {
    main_set::migrations::runner().run(conn)?;
    Ok(())
}

/// Extra client migrations installed at start, after the built-in ones.
static EXTRA_CLIENT: OnceLock<Vec<Migration>> = OnceLock::new();

/// Reads `V<n>__<name>.sql` files from `dir` and adds them to the client set for this process.
/// Their versions must follow the built-in ones; installing twice is refused.
pub fn install_extra_client_migrations(dir: &std::path::Path) -> anyhow::Result<()> {
    let built_in = built_in_latest();
    let mut extra = Vec::new();
    let entries = std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?;
    for entry in entries {
        let path = entry?.path();
        let Some(stem) = path.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_suffix(".sql")) else {
            continue;
        };
        let sql = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        let migration = Migration::unapplied(stem, &sql)
            .map_err(|e| anyhow::anyhow!("{}: not a migration name like V3__add_gtin.sql: {e}", path.display()))?;
        if i64::from(migration.version()) <= built_in {
            anyhow::bail!("{}: version {} is not after the built-in {built_in}", path.display(), migration.version());
        }
        extra.push(migration);
    }
    extra.sort_by_key(|m| m.version());
    EXTRA_CLIENT.set(extra).map_err(|_| anyhow::anyhow!("extra client migrations are already installed"))
}

/// The client set: built-in migrations, then any installed extra ones.
fn client_runner() -> Runner {
    let extra = EXTRA_CLIENT.get().map(Vec::as_slice).unwrap_or_default();
    if extra.is_empty() {
        return client_set::migrations::runner();
    }
    let mut all = client_set::migrations::runner().get_migrations().clone();
    all.extend(extra.iter().cloned());
    Runner::new(&all)
}

/// Brings a shop file to the newest schema; returns the versions applied now. Every pending
/// migration runs in one transaction: a file is left at its old version or the new one, never
/// between, whatever fails or however the process stops.
pub fn migrate_client(conn: &mut Connection) -> anyhow::Result<Vec<i64>> {
    let report = foreign_keys_off(conn, |c| Ok(client_runner().set_grouped(true).run(c)?))?;
    Ok(report.applied_migrations().iter().map(|m| i64::from(m.version())).collect())
}

/// Brings a shop file to exactly `version` (to rebuild the schema an older file should have).
pub fn migrate_client_to(conn: &mut Connection, version: i64) -> anyhow::Result<()> {
    let target = i32::try_from(version).map_err(|_| anyhow::anyhow!("no schema version {version}"))?;
    foreign_keys_off(conn, |c| {
        client_runner().set_grouped(true).set_target(refinery::Target::Version(target)).run(c)?;
        Ok(())
    })
}

/// Runs `f` (the migrations, in their one transaction) with foreign keys off, as SQLite's way of
/// rebuilding a table requires: dropping the old `orders` must not cascade to its items. Checks
/// the keys afterwards and turns them back on whatever happened.
fn foreign_keys_off<T>(
    conn: &mut Connection,
    f: impl FnOnce(&mut Connection) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    conn.execute_batch("PRAGMA foreign_keys = OFF")?;
    // The pragma is a no-op inside a transaction; never rebuild a table with the keys still on.
    let off: bool = conn.query_row("PRAGMA foreign_keys", [], |r| r.get(0)).map(|on: bool| !on)?;
    let result = if off { f(conn) } else { Err(anyhow::anyhow!("migrations must not run inside a transaction")) };
    let broken: rusqlite::Result<i64> =
        conn.query_row("SELECT COUNT(*) FROM pragma_foreign_key_check", [], |r| r.get(0));
    conn.execute_batch("PRAGMA foreign_keys = ON")?;
    let value = result?;
    anyhow::ensure!(broken? == 0, "the migrated file has rows whose foreign keys point nowhere");
    Ok(value)
}

/// The (version, name, checksum) of every client migration this binary knows.
pub fn client_migrations() -> Vec<(i64, String, String)> {
    client_runner()
        .get_migrations()
        .iter()
        .map(|m| (i64::from(m.version()), m.name().to_string(), m.checksum().to_string()))
        .collect()
}

/// The newest built-in client schema version.
fn built_in_latest() -> i64 {
    static LATEST: OnceLock<i64> = OnceLock::new();
    *LATEST.get_or_init(|| {
        client_set::migrations::runner().get_migrations().iter().map(|m| i64::from(m.version())).max().unwrap_or(0)
    })
}

/// The newest client schema version this binary knows (cheap: called for every shop request).
pub fn latest_client_version() -> i64 {
    EXTRA_CLIENT.get().and_then(|e| e.last()).map_or_else(built_in_latest, |m| i64::from(m.version()))
}

/// The client schema version of the shop file at `path`, opened (as the server opens it) only to
/// read it.
pub fn shop_file_version(path: &std::path::Path, locking: crate::db::ShopLocking) -> rusqlite::Result<i64> {
    let conn = crate::db::open_shop_file(path, locking, 256, crate::db::BUSY_TIMEOUT)?;
    let version = client_version(&conn)?;
    conn.close().map_err(|(_, e)| e)?;
    Ok(version)
}

/// The client schema version recorded in a shop file (0 for a file refinery never touched).
pub fn client_version(conn: &Connection) -> rusqlite::Result<i64> {
    let has_history: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'refinery_schema_history')",
        [],
        |r| r.get(0),
    )?;
    if !has_history {
        return Ok(0);
    }
    conn.query_row("SELECT COALESCE(MAX(version), 0) FROM refinery_schema_history", [], |r| r.get(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_v1_shop_file_upgrades_and_existing_products_become_searchable() {
        let mut conn = Connection::open_in_memory().unwrap();
        client_set::migrations::runner().set_target(refinery::Target::Version(1)).run(&mut conn).unwrap();
        assert_eq!(client_version(&conn).unwrap(), 1);
        conn.execute("INSERT INTO products (name, slug, price_cents) VALUES ('Old Kettle', 'old-kettle', 100)", [])
            .unwrap();
        conn.execute_batch(
            "PRAGMA foreign_keys = ON;
             INSERT INTO orders (id, number, status, subtotal_cents, total_cents, ship_name, ship_line1, ship_city,
                                 ship_postal_code, ship_country) VALUES (1, '1001', 'paid', 200, 200, 'A', 'B', 'C', 'D', 'DE');
             INSERT INTO order_items (order_id, product_id, name, unit_price_cents, quantity, line_total_cents)
                 VALUES (1, 1, 'Old Kettle', 100, 2, 200);",
        )
        .unwrap();

        let applied = migrate_client(&mut conn).unwrap();

        assert_eq!(applied, (2..=latest_client_version()).collect::<Vec<_>>());
        assert_eq!(client_version(&conn).unwrap(), latest_client_version());
        let hits: i64 = conn
            .query_row("SELECT COUNT(*) FROM products_fts WHERE products_fts MATCH 'kettle'", [], |r| r.get(0))
            .unwrap();
        assert_eq!(hits, 1);
        // V3 rebuilt `orders` with shipping, tax and currency: the old order and its items are whole.
        let (items, total, tax, currency): (i64, i64, i64, String) = conn
            .query_row(
                "SELECT (SELECT COUNT(*) FROM order_items WHERE order_id = 1), total_cents, tax_cents, currency
                 FROM orders WHERE id = 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .unwrap();
        assert_eq!((items, total, tax, currency.as_str()), (1, 200, 0, "USD"));
        let fk: bool = conn.query_row("PRAGMA foreign_keys", [], |r| r.get(0)).unwrap();
        assert!(fk, "foreign keys are on again after the migration");
        let item_fk: String = conn
            .query_row(
                "SELECT \"table\" FROM pragma_foreign_key_list('order_items') WHERE \"from\" = 'order_id'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(item_fk, "orders");
        assert!(migrate_client(&mut conn).unwrap().is_empty(), "a second run applies nothing");
    }

    /// V7 → V8 (variants): a shop with products, a cart and orders upgrades; every old order reads
    /// the same, the cart still checks out, and each product has its default variant.
    #[test]
    fn a_v7_shop_with_orders_and_carts_upgrades_to_variants() {
        let mut conn = Connection::open_in_memory().unwrap();
        client_set::migrations::runner().set_target(refinery::Target::Version(7)).run(&mut conn).unwrap();
        conn.execute_batch(
            "PRAGMA foreign_keys = ON;
             INSERT INTO products (id, name, slug, price_cents, stock, weight_grams) VALUES
                 (1, 'Kettle', 'kettle', 2999, 7, 900), (2, 'Mug', 'mug', 800, 0, 300);
             INSERT INTO users (id, name, email, password_hash) VALUES (1, 'Ada', 'ada@example.com', 'x');
             INSERT INTO addresses (id, user_id, name, line1, city, postal_code, country, is_default)
                 VALUES (1, 1, 'Ada', '1 Main St', 'Springfield', '12345', 'US', 1);
             INSERT INTO cart_items (user_id, product_id, quantity) VALUES (1, 1, 2);
             INSERT INTO orders (id, number, user_id, status, subtotal_cents, total_cents, ship_name, ship_line1,
                                 ship_city, ship_postal_code, ship_country)
                 VALUES (1, '1001', 1, 'paid', 3799, 3799, 'Ada', '1 Main St', 'Springfield', '12345', 'US');
             INSERT INTO order_items (order_id, product_id, name, unit_price_cents, quantity, line_total_cents)
                 VALUES (1, 1, 'Kettle', 2999, 1, 2999), (1, 2, 'Mug', 800, 1, 800);",
        )
        .unwrap();
        let read = |conn: &Connection| -> Vec<String> {
            conn.prepare(
                "SELECT o.number || o.status || o.total_cents || '|' || i.product_id || i.name || i.unit_price_cents || i.quantity
                 FROM orders o JOIN order_items i ON i.order_id = o.id ORDER BY i.id",
            )
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
        };
        let before = read(&conn);

        migrate_client(&mut conn).unwrap();

        assert_eq!(read(&conn), before, "the old order reads the same");
        let order = crate::orders::store::find(&conn, 1, None).unwrap().unwrap();
        assert_eq!(order.total_cents, 3799);
        let items: Vec<(Option<i64>, Option<i64>, i64)> =
            order.items.iter().map(|i| (i.product_id, i.variant_id, i.unit_price_cents)).collect();
        assert_eq!(items, vec![(Some(1), Some(1), 2999), (Some(2), Some(2), 800)]);
        // Each product has exactly its default variant, carrying its price and stock.
        let variants: Vec<(i64, i64, i64, i64, String)> = conn
            .prepare("SELECT id, product_id, price_cents, stock, options FROM variants ORDER BY id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(variants, vec![(1, 1, 2999, 7, "{}".into()), (2, 2, 800, 0, "{}".into())]);
        // The cart survived and still checks out, taking stock from the variant.
        let owner = crate::cart::store::Owner::Customer(1);
        let cart = crate::cart::store::cart(&conn, owner).unwrap();
        assert_eq!((cart.items.len(), cart.items[0].variant_id, cart.subtotal_cents), (1, 1, 5998));
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).unwrap();
        let placed = crate::orders::checkout::place_order(&tx, 1, 1, None).unwrap();
        tx.commit().unwrap();
        assert_eq!((placed.subtotal_cents, placed.items[0].variant_id), (5998, Some(1)));
        let stocks: (i64, i64) = conn
            .query_row(
                "SELECT (SELECT stock FROM variants WHERE id = 1), (SELECT stock FROM products WHERE id = 1)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(stocks, (5, 5));
        // A product inserted by plain SQL gets its default variant too.
        conn.execute("INSERT INTO products (name, slug, price_cents, stock) VALUES ('Tray', 'tray', 500, 3)", [])
            .unwrap();
        let n: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM variants v JOIN products p ON p.id = v.product_id WHERE p.slug = 'tray'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 1);
    }
}
