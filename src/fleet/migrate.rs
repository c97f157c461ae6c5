//! Migrating shop files: one at a time (on first open, or from the API and CLI) and the whole fleet
//! as a batch with bounded parallelism.
//!
//! A shop's pending migrations run in one transaction on a connection of its own (never a pooled
//! one: pools refuse files at another version than this binary's, see [`crate::tenancy::pools`]),
//! under the shop's file-operation lock, so a backup, restore or deletion never overlaps it. The
//! ledger is marked before and written after; a crash between the two is settled at start-up by
//! reading the file's version ([`settle_interrupted`]).

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use rusqlite::Connection;
use serde::{Deserialize, Serialize};

use super::ledger;
use crate::db::{self, migrations};
use crate::error::AppError;
use crate::state::AppState;
use crate::tenancy::{Tenancy, lifecycle};

/// What migrating one shop did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Migrated {
    pub client_id: i64,
    pub from: i64,
    pub to: i64,
    /// Versions applied now (empty when the file was already current).
    pub applied: Vec<i64>,
    pub millis: u64,
}

/// Why a shop could not be migrated, recorded in the ledger.
fn failed(id: i64, version: i64, reason: &str) -> AppError {
    AppError::conflict("migration_failed", format!("shop {id} stays at schema version {version}: {reason}"))
}

/// Brings one served (active or suspended) shop's file to this binary's schema version and records
/// the outcome in the ledger. A failure leaves the file at its old version, whole, records the
/// reason, and answers 409 `migration_failed` naming it.
pub fn migrate_one(tenancy: &Tenancy, main: &Connection, id: i64) -> Result<Migrated, AppError> {
    let _op = tenancy.file_ops.lock(id)?;
    let client = lifecycle::require_served(main, id)?;
    let target = migrations::latest_client_version();
    let path = tenancy.regions.path_of(id);
    if !path.exists() {
        return Err(AppError::unavailable("client_unavailable", format!("shop {id}'s file is missing; restore it")));
    }
    ledger::begin(main, id)?;
    tenancy.directory.invalidate(id);
    let started = Instant::now();
    let mut from = client.schema_version;
    let result = (|| -> anyhow::Result<(i64, Vec<i64>)> {
        let mut conn = db::open_shop_file(&path, tenancy.locking, 256, db::BUSY_TIMEOUT)
            .with_context(|| format!("opening {}", path.display()))?;
        from = migrations::client_version(&conn)?;
        if from > target {
            anyhow::bail!(
                "the file has schema version {from}, newer than this server's {target}: a newer VergeFlow \
                 migrated it; run that version (or a newer one)"
            );
        }
        let applied = if from < target { migrations::migrate_client(&mut conn)? } else { Vec::new() };
        let to = migrations::client_version(&conn)?;
        conn.close().map_err(|(_, e)| e)?;
        Ok((to, applied))
    })();
    let millis = started.elapsed().as_millis() as u64;
    let outcome = match result {
        Ok((to, applied)) => {
            ledger::record(main, id, to, None, (!applied.is_empty()).then_some(millis))?;
            if !applied.is_empty() {
                tracing::info!(client_id = id, from, to, millis, "shop migrated");
                crate::audit::lifecycle(
                    main,
                    id,
                    "shop.migrated",
                    serde_json::json!({ "from": from, "to": to, "ms": millis }),
                );
            }
            Ok(Migrated { client_id: id, from, to, applied, millis })
        }
        Err(err) => {
            let reason = format!("{err:#}");
            // A file newer than this binary is no failure of the file: the ledger records its
            // version (which the gate refuses), so a newer binary serves it again at once.
            let recorded = (from <= target).then_some(reason.as_str());
            ledger::record(main, id, from, recorded, Some(millis))?;
            tracing::error!(client_id = id, version = from, target, error = %reason, "shop migration failed");
            crate::audit::lifecycle(
                main,
                id,
                "shop.migration_failed",
                serde_json::json!({ "version": from, "target": target, "error": reason }),
            );
            Err(failed(id, from, &reason))
        }
    };
    tenancy.directory.invalidate(id);
    outcome
}

/// Settles attempts a crash interrupted: each file's transaction either committed or never
/// happened, so its version is the truth. Runs at start-up, before serving.
pub fn settle_interrupted(tenancy: &Tenancy, main: &Connection) -> Result<Vec<i64>, AppError> {
    let ids = ledger::interrupted(main)?;
    for &id in &ids {
        let Some(client) = crate::tenancy::registry::find(main, id)? else { continue };
        let path = tenancy.regions.path_of(id);
        // Missing: doctor and requests report it; the ledger keeps what it had.
        let version =
            if path.exists() { migrations::shop_file_version(&path, tenancy.locking)? } else { client.schema_version };
        let error = client.migration_error.filter(|_| version != migrations::latest_client_version());
        ledger::record(main, id, version, error.as_deref(), None)?;
        tracing::info!(client_id = id, version, "settled a migration interrupted by the last stop");
    }
    Ok(ids)
}

/// What a fleet run did.
#[derive(Debug, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct MigrationReport {
    /// The schema version this binary serves.
    pub target_version: i64,
    /// Shops migrated now.
    pub migrated: usize,
    /// Shops already at the target (by the ledger, or found so when opened).
    pub already_current: usize,
    pub failed: Vec<MigrationFailure>,
    /// The canary failed, so no other shop was touched.
    pub stopped_by_canary: bool,
    pub seconds: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct MigrationFailure {
    pub client_id: i64,
    pub subdomain: String,
    pub error: String,
}

/// Progress while a fleet run goes: `{total, done, migrated, already_current, failed, progress}`.
fn progress_json(total: usize, r: &MigrationReport) -> serde_json::Value {
    let done = r.migrated + r.already_current + r.failed.len();
    serde_json::json!({
        "total": total, "done": done, "migrated": r.migrated, "already_current": r.already_current,
        "failed": r.failed.len(), "progress": if total == 0 { 1.0 } else { done as f64 / total as f64 },
    })
}

/// Migrates every served shop the ledger shows behind (or failed), or only `only` (opened
/// whatever the ledger says). `canary` is migrated first; if it fails nothing else is touched.
/// Shops run `threads` at a time, at the lowest CPU priority; a failing shop is recorded and the
/// run goes on.
pub fn migrate_fleet(
    state: &AppState,
    only: Option<i64>,
    canary: Option<i64>,
    progress: &mut dyn FnMut(&serde_json::Value),
) -> Result<MigrationReport, AppError> {
    let started = Instant::now();
    let target = migrations::latest_client_version();
    let mut report = MigrationReport { target_version: target, ..MigrationReport::default() };
    let main = state.main.get()?;
    let mut work: Vec<(i64, String)> = match only {
        Some(id) => {
            let client = lifecycle::require_served(&main, id).map_err(|_| {
                AppError::not_found("client_not_found", format!("no active or suspended shop with id {id}"))
            })?;
            vec![(id, client.subdomain)]
        }
        None => {
            report.already_current = ledger::count_current(&main, target)? as usize;
            ledger::needing_work(&main, target)?
        }
    };
    if let Some(id) = canary {
        let client = lifecycle::require_served(&main, id).map_err(|_| {
            AppError::not_found("client_not_found", format!("no active or suspended shop with id {id} (the canary)"))
        })?;
        let behind = work.iter().any(|(w, _)| *w == id);
        work.retain(|(w, _)| *w != id);
        if !behind && only.is_none() {
            // Counted above as current by the ledger; counted below by what opening it finds.
            report.already_current -= 1;
        }
        let total = work.len() + 1;
        match migrate_one(&state.tenancy, &main, id) {
            Ok(m) if m.applied.is_empty() => report.already_current += 1,
            Ok(_) => report.migrated += 1,
            Err(e) => {
                report.failed.push(MigrationFailure {
                    client_id: id,
                    subdomain: client.subdomain,
                    error: e.to_string(),
                });
                report.stopped_by_canary = true;
                report.seconds = started.elapsed().as_secs_f64();
                tracing::warn!(client_id = id, "the canary shop failed to migrate; the fleet run stopped");
                return Ok(report);
            }
        }
        progress(&progress_json(total, &report));
    }
    drop(main);
    let total = work.len() + report.migrated + report.failed.len() + usize::from(canary.is_some());
    let next = AtomicUsize::new(0);
    let shared = Mutex::new(report);
    let threads = state.settings.migrate_threads.min(work.len()).max(1);
    std::thread::scope(|scope| -> Result<(), AppError> {
        let mut workers = Vec::new();
        for _ in 0..threads {
            workers.push(scope.spawn(|| -> Result<(), AppError> {
                // As backup runs do: shops being served come first; a run alone is as fast.
                crate::sys::lower_thread_priority();
                let main = state.main.get()?;
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((id, subdomain)) = work.get(i) else { return Ok(()) };
                    let outcome = migrate_one(&state.tenancy, &main, *id);
                    let mut r = shared.lock().unwrap_or_else(|e| e.into_inner());
                    match outcome {
                        Ok(m) if m.applied.is_empty() => r.already_current += 1,
                        Ok(_) => r.migrated += 1,
                        Err(e) => r.failed.push(MigrationFailure {
                            client_id: *id,
                            subdomain: subdomain.clone(),
                            error: e.to_string(),
                        }),
                    }
                }
            }));
        }
        let mut last = Instant::now();
        while !workers.iter().all(|w| w.is_finished()) {
            std::thread::sleep(Duration::from_millis(20));
            if last.elapsed() >= Duration::from_millis(500) {
                last = Instant::now();
                let snapshot = progress_json(total, &shared.lock().unwrap_or_else(|e| e.into_inner()));
                progress(&snapshot);
            }
        }
        for w in workers {
            w.join().map_err(|_| AppError::Internal(anyhow::anyhow!("a migration thread panicked")))??;
        }
        Ok(())
    })?;
    let mut report = shared.into_inner().unwrap_or_else(|e| e.into_inner());
    report.seconds = started.elapsed().as_secs_f64();
    progress(&progress_json(total, &report));
    tracing::info!(
        target,
        migrated = report.migrated,
        already_current = report.already_current,
        failed = report.failed.len(),
        seconds = report.seconds,
        "fleet migration finished"
    );
    Ok(report)
}
