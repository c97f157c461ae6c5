//! `vergeflow import`: a single-database VergeFlow (MySQL/MariaDB, every shop table carrying
//! `client_id`) into a file per shop. The layout, the rules and the resumption are documented in
//! `docs/legacy-import.md`. [`source`] reads the legacy database, [`shop`] writes one client's shop
//! file, [`run`] drives clients one by one and reports.

pub mod shop;
pub mod source;

use std::collections::BTreeMap;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::Serialize;

use crate::error::AppError;
use crate::tenancy::registry::{self, ClientStatus};
use crate::tenancy::{Tenancy, files};

/// Notes listed per table (all are counted).
pub const MAX_NOTES: usize = 200;

#[derive(Debug, Clone, Serialize)]
pub struct Note {
    /// The row's id in the legacy table.
    pub id: Option<i64>,
    pub reason: String,
}

/// Money compared between source and result, in cents, over the written rows.
#[derive(Debug, Clone, Serialize)]
pub struct MoneyCheck {
    pub column: &'static str,
    pub source_cents: i64,
    pub result_cents: i64,
    pub matches: bool,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct TableReport {
    pub read: u64,
    pub written: u64,
    pub skipped: u64,
    pub fixed: u64,
    /// The first [`MAX_NOTES`] skipped rows with their reasons.
    pub skipped_rows: Vec<Note>,
    /// The first [`MAX_NOTES`] fixed rows with the rule applied.
    pub fixed_rows: Vec<Note>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub money: Option<MoneyCheck>,
}

impl TableReport {
    pub fn skip(&mut self, id: Option<i64>, reason: impl Into<String>) {
        self.skipped += 1;
        if self.skipped_rows.len() < MAX_NOTES {
            self.skipped_rows.push(Note { id, reason: reason.into() });
        }
    }
    pub fn fix(&mut self, id: Option<i64>, rule: impl Into<String>) {
        self.fixed += 1;
        if self.fixed_rows.len() < MAX_NOTES {
            self.fixed_rows.push(Note { id, reason: rule.into() });
        }
    }
}

pub type Tables = BTreeMap<&'static str, TableReport>;

#[derive(Debug, Clone, Serialize)]
pub struct ClientReport {
    pub legacy_id: i64,
    pub subdomain: String,
    /// The shop's id here, once imported.
    pub client_id: Option<i64>,
    /// `imported`, `already_imported`, `checked` (a dry run) or `skipped`.
    pub outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub tables: Tables,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The source without its credentials.
    pub source: String,
    pub dry_run: bool,
    pub rows_read: u64,
    pub rows_written: u64,
    pub seconds: f64,
    pub rows_per_second: f64,
    /// Super admins, settings, global banners and pages.
    pub global: Tables,
    pub clients: Vec<ClientReport>,
    /// Every money sum compared matched.
    pub money_matches: bool,
}

/// What identifies a source across runs: host, port and database, never the credentials.
pub fn source_key(url: &str) -> Result<String, AppError> {
    let opts = mysql::Opts::from_url(url)
        .map_err(|e| AppError::unprocessable("invalid_source", format!("not a mysql:// URL: {e}")))?;
    Ok(format!("mysql://{}:{}/{}", opts.get_ip_or_hostname(), opts.get_tcp_port(), opts.get_db_name().unwrap_or("")))
}

/// Whether a provisioning shop is a legacy import in progress (start-up must leave it alone).
pub fn importing(main: &Connection, client_id: i64) -> rusqlite::Result<bool> {
    main.query_row(
        "SELECT EXISTS (SELECT 1 FROM legacy_imports WHERE client_id = ?1 AND status = 'importing')",
        [client_id],
        |r| r.get(0),
    )
}

fn mark(main: &Connection, source: &str, legacy_id: i64) -> rusqlite::Result<Option<(String, Option<i64>)>> {
    main.query_row(
        "SELECT status, client_id FROM legacy_imports WHERE source = ?1 AND legacy_id = ?2",
        params![source, legacy_id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()
}

/// Removes what an interrupted import of one client left: its file (never served), registry row,
/// admins and mark.
fn undo_interrupted(
    tenancy: &Tenancy,
    main: &Connection,
    source: &str,
    legacy_id: i64,
    client_id: Option<i64>,
) -> Result<(), AppError> {
    if let Some(id) = client_id {
        let dir = tenancy.regions.dir_of(id);
        files::remove_family(&files::building_path(&dir, id))?;
        files::remove_family(&files::client_path(&dir, id))?;
        registry::delete_row(main, id)?;
        tenancy.directory.invalidate(id);
        tracing::info!(client_id = id, legacy_id, "removed an interrupted legacy import to do it again");
    }
    main.execute("DELETE FROM legacy_imports WHERE source = ?1 AND legacy_id = ?2", params![source, legacy_id])?;
    Ok(())
}

/// Runs the import: the global part once, then every client (or one), each imported whole or not at
/// all. `progress` hears `{total, done}` after each client.
pub fn run(
    tenancy: &Tenancy,
    main: &mut Connection,
    url: &str,
    only: Option<i64>,
    dry_run: bool,
    progress: &mut dyn FnMut(&serde_json::Value),
) -> Result<Report, AppError> {
    let started = std::time::Instant::now();
    let source = source_key(url)?;
    let mut src = source::connect(url)?;
    let clients = source::rows(&mut src, "clients", None)?;
    if let Some(id) = only
        && !clients.rows.iter().any(|r| source::int(clients.get(r, "id")) == Some(id))
    {
        return Err(AppError::not_found("client_not_found", format!("the source has no client {id}")));
    }
    let mut global = Tables::new();
    if mark(main, &source, 0)?.is_none_or(|(s, _)| s != "done") {
        let tx = main.transaction_with_behavior(TransactionBehavior::Immediate)?;
        shop::import_global(&tx, &mut src, &mut global)?;
        if dry_run {
            drop(tx);
        } else {
            tx.execute(
                "INSERT OR REPLACE INTO legacy_imports (source, legacy_id, status, report, finished_at)
                 VALUES (?1, 0, 'done', ?2, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))",
                params![source, serde_json::to_string(&global).expect("a report serialises")],
            )?;
            tx.commit()?;
        }
    }
    let mut reports = Vec::new();
    let total = clients.rows.len();
    for (done, row) in clients.rows.iter().enumerate() {
        let Some(legacy_id) = source::int(clients.get(row, "id")) else { continue };
        if only.is_some_and(|o| o != legacy_id) {
            continue;
        }
        let subdomain = clients.get(row, "subdomain").unwrap_or_default().to_string();
        let mut report = ClientReport {
            legacy_id,
            subdomain: subdomain.clone(),
            client_id: None,
            outcome: "skipped",
            reason: None,
            tables: Tables::new(),
        };
        match mark(main, &source, legacy_id)? {
            Some((status, client_id)) if status == "done" => {
                report.outcome = "already_imported";
                report.client_id = client_id;
            }
            previous => {
                if !dry_run && let Some((_, client_id)) = previous {
                    undo_interrupted(tenancy, main, &source, legacy_id, client_id)?;
                }
                match shop::import_client(tenancy, main, &mut src, &source, &clients, row, dry_run, &mut report) {
                    Ok(()) => {}
                    Err(shop::ImportError::Refused(reason)) => {
                        report.outcome = "skipped";
                        report.reason = Some(reason);
                    }
                    Err(shop::ImportError::Failed(e)) => return Err(e),
                }
            }
        }
        reports.push(report);
        progress(&serde_json::json!({ "total": total, "done": done + 1 }));
    }
    let count = |f: fn(&TableReport) -> u64| -> u64 {
        global.values().map(f).sum::<u64>() + reports.iter().flat_map(|c| c.tables.values()).map(f).sum::<u64>()
    };
    let (rows_read, rows_written) = (count(|t| t.read), count(|t| t.written));
    let money_matches =
        reports.iter().flat_map(|c| c.tables.values()).all(|t| t.money.as_ref().is_none_or(|m| m.matches));
    let seconds = started.elapsed().as_secs_f64();
    Ok(Report {
        source,
        dry_run,
        rows_read,
        rows_written,
        seconds,
        rows_per_second: rows_read as f64 / seconds.max(1e-9),
        global,
        clients: reports,
        money_matches,
    })
}

/// The status a legacy client gets here.
fn status_of(legacy: Option<&str>) -> ClientStatus {
    match legacy.map(str::trim) {
        Some("suspended") | Some("inactive") | Some("disabled") => ClientStatus::Suspended,
        _ => ClientStatus::Active,
    }
}
