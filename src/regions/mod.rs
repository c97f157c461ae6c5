//! Regions (data residency): which storage roots exist, and moving a shop's file from one to another.
//! Where each shop lives is kept by `tenancy::regions`; this room is the operation and its endpoints.
//!
//! A move, in order (a crash at any point leaves one valid copy in use and the registry naming it):
//! 1. The shop is retired (requests answer 503 `client_unavailable`) and its connections close. A
//!    connection of our own takes the file exclusively (refused, nothing changed, when another
//!    process has it open) and checkpoints its WAL into it.
//! 2. The file is page-copied (SQLite's backup API) to `<target>/client_<id>.db.building`, checked
//!    (`integrity_check`, the stamp, the page count and every table's row count against the
//!    source), switched to WAL, fsynced, and renamed to `client_<id>.db` in the target folder.
//!    A crash up to here leaves the registry naming the old folder; start-up removes the
//!    `.building` file or the unused copy.
//! 3. One registry update names the new region: the switch. A crash after it leaves the old copy,
//!    which start-up removes because the registry's folder holds the file.
//! 4. The old file and its sidecars are removed and the shop is served again from the new folder.

pub mod moves;
pub mod routes;
