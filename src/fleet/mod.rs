//! Running the fleet: schema migrations across every shop file (a ledger in main.db, a batch job,
//! gating what is served), and `vergeflow doctor`.
//!
//! Policy for a shop whose file is at another schema version than this binary's:
//! - older: migrated on its first request (then served); a fleet run migrates the rest ahead;
//! - newer (an older binary started after an upgrade): refused, 503 `client_unavailable`;
//! - its last migration failed: refused, 503 `client_unavailable`, the reason in the ledger
//!   (`GET /api/super-admin/migrations`, the client object's `migration_error`) until a fleet run or
//!   `vergeflow migrate` succeeds on it.

pub mod doctor;
pub mod ledger;
pub mod migrate;
pub mod routes;

use crate::db::migrations;
use crate::error::AppError;
use crate::tenancy::registry::Client;

/// What serving a shop needs first.
#[derive(Debug, PartialEq, Eq)]
pub enum Gate {
    Serve,
    /// Its file is older than this binary: migrate it, then serve.
    Migrate,
}

/// Whether a shop may be served as the ledger describes it (no file is touched). Pools check the
/// file itself too, when a connection opens.
pub fn gate(client: &Client) -> Result<Gate, AppError> {
    if client.migration_error.is_some() {
        return Err(AppError::unavailable(
            "client_unavailable",
            "this shop's data could not be upgraded to this server's version; the operator has been told",
        ));
    }
    let target = migrations::latest_client_version();
    match client.schema_version.cmp(&target) {
        std::cmp::Ordering::Equal => Ok(Gate::Serve),
        std::cmp::Ordering::Less => Ok(Gate::Migrate),
        std::cmp::Ordering::Greater => Err(AppError::unavailable(
            "client_unavailable",
            format!(
                "this shop's data was written by a newer VergeFlow (schema version {}; this server serves {target})",
                client.schema_version
            ),
        )),
    }
}
