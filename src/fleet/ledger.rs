//! The migration ledger: columns of `clients` in main.db (main migration V3). Per shop: its schema
//! version, whether an attempt is running, when the last one ended, how long it took, its error.
//! Plain SQL over `&Connection`, so a fleet run over 100,000 shops with nothing to do is one query.

use std::collections::BTreeMap;

use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};

/// A shop whose last migration failed.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Failure {
    pub client_id: i64,
    pub subdomain: String,
    /// The version the shop file is still at.
    pub version: i64,
    pub error: String,
    /// When the failed attempt ended.
    pub at: Option<String>,
}

const NOW: &str = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')";

/// Marks an attempt as running (settled at start-up if the process dies before it ends).
pub fn begin(conn: &Connection, id: i64) -> rusqlite::Result<()> {
    conn.execute("UPDATE clients SET migration_running = 1 WHERE id = ?1", [id])?;
    Ok(())
}

/// Records the file's version after an attempt; `error` is `None` when the file is current.
pub fn record(
    conn: &Connection,
    id: i64,
    version: i64,
    error: Option<&str>,
    millis: Option<u64>,
) -> rusqlite::Result<()> {
    conn.execute(
        &format!(
            "UPDATE clients SET schema_version = ?2, migration_error = ?3, migration_ms = COALESCE(?4, migration_ms),
                migration_at = CASE WHEN ?4 IS NULL THEN migration_at ELSE {NOW} END, migration_running = 0
             WHERE id = ?1"
        ),
        params![id, version, error, millis.map(|m| m as i64)],
    )?;
    Ok(())
}

/// Active and suspended shops the ledger says are behind (or ahead of) `target`, or failed last
/// time: what a fleet run must open. Everything else is skipped without touching its file.
pub fn needing_work(conn: &Connection, target: i64) -> rusqlite::Result<Vec<(i64, String)>> {
    conn.prepare(
        "SELECT id, subdomain FROM clients
         WHERE status IN ('active', 'suspended') AND (schema_version <> ?1 OR migration_error IS NOT NULL)
         ORDER BY id",
    )?
    .query_map([target], |r| Ok((r.get(0)?, r.get(1)?)))?
    .collect()
}

/// Active and suspended shops at `target` without a failure: what a fleet run skips.
pub fn count_current(conn: &Connection, target: i64) -> rusqlite::Result<i64> {
    conn.query_row(
        "SELECT COUNT(*) FROM clients
         WHERE status IN ('active', 'suspended') AND schema_version = ?1 AND migration_error IS NULL",
        [target],
        |r| r.get(0),
    )
}

/// Shops whose attempt a crash interrupted.
pub fn interrupted(conn: &Connection) -> rusqlite::Result<Vec<i64>> {
    conn.prepare("SELECT id FROM clients WHERE migration_running = 1 ORDER BY id")?
        .query_map([], |r| r.get(0))?
        .collect()
}

/// Served shops (active, suspended) by schema version.
pub fn shops_by_version(conn: &Connection) -> rusqlite::Result<BTreeMap<String, i64>> {
    conn.prepare(
        "SELECT schema_version, COUNT(*) FROM clients WHERE status IN ('active', 'suspended')
         GROUP BY schema_version ORDER BY schema_version",
    )?
    .query_map([], |r| Ok((r.get::<_, i64>(0)?.to_string(), r.get(1)?)))?
    .collect()
}

/// How many shops failed their last migration.
pub fn count_failed(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("SELECT COUNT(*) FROM clients WHERE migration_error IS NOT NULL", [], |r| r.get(0))
}

/// Shops whose last migration failed, oldest id first, at most `limit`.
pub fn failures(conn: &Connection, limit: i64) -> rusqlite::Result<Vec<Failure>> {
    conn.prepare(
        "SELECT id, subdomain, schema_version, migration_error, migration_at FROM clients
         WHERE migration_error IS NOT NULL ORDER BY id LIMIT ?1",
    )?
    .query_map([limit], |r| {
        Ok(Failure { client_id: r.get(0)?, subdomain: r.get(1)?, version: r.get(2)?, error: r.get(3)?, at: r.get(4)? })
    })?
    .collect()
}
