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
