//! Embedded schema migrations: one set for main.db, one for every shop file.

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

/// Brings a shop file to the newest schema; returns the versions applied now.
pub fn migrate_client(conn: &mut Connection) -> anyhow::Result<Vec<i64>> {
    let report = client_set::migrations::runner().run(conn)?;
    Ok(report.applied_migrations().iter().map(|m| i64::from(m.version())).collect())
}

/// Brings a shop file to exactly `version` (to rebuild the schema an older file should have).
pub fn migrate_client_to(conn: &mut Connection, version: i64) -> anyhow::Result<()> {
    let target = i32::try_from(version).map_err(|_| anyhow::anyhow!("no schema version {version}"))?;
    client_set::migrations::runner().set_target(refinery::Target::Version(target)).run(conn)?;
    Ok(())
}

/// The (version, name, checksum) of every client migration this binary knows.
pub fn client_migrations() -> Vec<(i64, String, String)> {
    client_set::migrations::runner()
        .get_migrations()
        .iter()
        .map(|m| (i64::from(m.version()), m.name().to_string(), m.checksum().to_string()))
        .collect()
}

/// The newest client schema version this binary knows.
pub fn latest_client_version() -> i64 {
    client_set::migrations::runner().get_migrations().iter().map(|m| i64::from(m.version())).max().unwrap_or(0)
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

        let applied = migrate_client(&mut conn).unwrap();

        assert_eq!(applied, vec![2]);
        assert_eq!(client_version(&conn).unwrap(), latest_client_version());
        let hits: i64 = conn
            .query_row("SELECT COUNT(*) FROM products_fts WHERE products_fts MATCH 'kettle'", [], |r| r.get(0))
            .unwrap();
        assert_eq!(hits, 1);
        assert!(migrate_client(&mut conn).unwrap().is_empty(), "a second run applies nothing");
    }
}
