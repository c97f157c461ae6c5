//! Backing up many shops in one run: on demand (every active shop and main.db) or on the schedule
//! (the shops whose interval has passed). Shops whose file is unchanged since their newest backup
//! are not copied (see [`super::store::Fingerprint`]), so a nightly run over 10,000 mostly idle
//! shops copies only the few that changed. A bounded number of threads copy at once, each with one
//! connection open: descriptors stay bounded whatever the number of shops.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rusqlite::{Connection, TransactionBehavior, params};
use serde::Serialize;

use super::store::{self, Outcome};
use super::{BackupKind, parse_every};
use crate::error::AppError;
use crate::state::AppState;
use crate::tenancy::registry::{self, ClientStatus};

#[derive(Debug, Default, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct BatchReport {
    pub total: usize,
    pub copied: usize,
    pub unchanged: usize,
    pub failed: Vec<BatchFailure>,
    /// The main.db backup made by this run, if any.
    pub main: Option<String>,
    pub seconds: f64,
}

#[derive(Debug, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct BatchFailure {
    pub client_id: i64,
    pub error: String,
}

/// Progress while a batch runs: `{total, done, copied, unchanged, failed, progress}`.
fn progress_json(total: usize, done: usize, copied: usize, unchanged: usize, failed: usize) -> serde_json::Value {
    serde_json::json!({
        "total": total, "done": done, "copied": copied, "unchanged": unchanged, "failed": failed,
        "progress": if total == 0 { 1.0 } else { done as f64 / total as f64 },
    })
}

/// Backs up `ids` (and main.db when `with_main`), `force` copying even unchanged shops.
pub fn run(
    state: &AppState,
    ids: &[i64],
    kind: BackupKind,
    force: bool,
    with_main: bool,
    progress: &mut dyn FnMut(&serde_json::Value),
) -> Result<BatchReport, AppError> {
    let started = Instant::now();
    let settings = &state.settings;
    let mut report = BatchReport { total: ids.len(), ..BatchReport::default() };
    if with_main {
        let main = state.main.get()?;
        report.main = Some(store::backup_main(&main, &settings.backup_dir, &settings.backup_keep, kind)?.name);
    }
    let next = AtomicUsize::new(0);
    let counts = Mutex::new((0usize, 0usize, Vec::new(), Vec::new()));
    let mut last_report = Instant::now();
    let threads = settings.backup_threads.min(ids.len()).max(1);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                crate::sys::lower_thread_priority();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&id) = ids.get(i) else { break };
                    let outcome = store::backup_client(
                        &state.tenancy,
                        &settings.backup_dir,
                        &settings.backup_keep,
                        id,
                        kind,
                        force,
                    );
                    let mut c = counts.lock().unwrap_or_else(|e| e.into_inner());
                    match outcome {
                        Ok(Outcome::Created { .. }) => c.0 += 1,
                        Ok(Outcome::Unchanged { .. }) => c.1 += 1,
                        Err(e) => {
                            tracing::warn!(client_id = id, error = %e, "backup failed");
                            c.2.push(BatchFailure { client_id: id, error: e.to_string() })
                        }
                    }
                    c.3.push(id);
                }
            });
        }
        // The calling thread reports progress while the others copy.
        loop {
            std::thread::sleep(Duration::from_millis(50));
            let (done, snapshot) = {
                let c = counts.lock().unwrap_or_else(|e| e.into_inner());
                let done = c.0 + c.1 + c.2.len();
                (done, progress_json(ids.len(), done, c.0, c.1, c.2.len()))
            };
            if done >= ids.len() {
                break;
            }
            if last_report.elapsed() >= Duration::from_secs(1) {
                last_report = Instant::now();
                progress(&snapshot);
            }
        }
    });
    let (copied, unchanged, failed, checked) = counts.into_inner().unwrap_or_else(|e| e.into_inner());
    report.copied = copied;
    report.unchanged = unchanged;
    report.failed = failed;
    mark_checked(&*state.main.get()?, &checked)?;
    report.seconds = started.elapsed().as_secs_f64();
    tracing::info!(
        total = report.total,
        copied,
        unchanged,
        failed = report.failed.len(),
        seconds = report.seconds,
        "backup run finished"
    );
    Ok(report)
}

/// Every active shop and main.db.
pub fn backup_all(
    state: &AppState,
    force: bool,
    progress: &mut dyn FnMut(&serde_json::Value),
) -> Result<BatchReport, AppError> {
    let ids: Vec<i64> = {
        let main = state.main.get()?;
        registry::all_with_status(&main, &[ClientStatus::Active])?.into_iter().map(|c| c.id).collect()
    };
    run(state, &ids, BackupKind::Manual, force, true, progress)
}

/// The shops whose backup interval has passed since they were last looked at, main.db with them.
pub fn scheduled(state: &AppState, progress: &mut dyn FnMut(&serde_json::Value)) -> Result<BatchReport, AppError> {
    let ids = due(&*state.main.get()?, state.settings.backup_every)?;
    if ids.is_empty() {
        return Ok(BatchReport::default());
    }
    run(state, &ids, BackupKind::Scheduled, false, true, progress)
}

/// Active shops due for a scheduled backup: their own interval (or the global one) has passed since
/// the scheduler last looked at them.
pub fn due(main: &Connection, global: Option<Duration>) -> Result<Vec<i64>, AppError> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut stmt = main.prepare(
        "SELECT id, backup_every, CAST(strftime('%s', backup_checked_at) AS INTEGER) FROM clients
         WHERE status = 'active'
           AND id NOT IN (SELECT client_id FROM schedules WHERE name = 'backups' AND client_id IS NOT NULL)",
    )?;
    let rows =
        stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Option<String>>(1)?, r.get::<_, Option<i64>>(2)?)))?;
    let mut ids = Vec::new();
    for row in rows {
        let (id, every, checked) = row?;
        let interval = match every.as_deref() {
            Some(raw) => parse_every(raw).unwrap_or(global),
            None => global,
        };
        let Some(interval) = interval else { continue };
        if checked.is_none_or(|t| now - t >= interval.as_secs() as i64) {
            ids.push(id);
        }
    }
    Ok(ids)
}

/// Records that these shops were looked at now.
fn mark_checked(main: &Connection, ids: &[i64]) -> Result<(), AppError> {
    for chunk in ids.chunks(500) {
        let tx = rusqlite::Transaction::new_unchecked(main, TransactionBehavior::Immediate)?;
        {
            let mut stmt = tx.prepare_cached(
                "UPDATE clients SET backup_checked_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') WHERE id = ?1",
            )?;
            for id in chunk {
                stmt.execute(params![id])?;
            }
        }
        tx.commit()?;
    }
    Ok(())
}
