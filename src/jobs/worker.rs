//! The server's background thread: runs queued jobs and closes idle shop pools.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use actix_web::ResponseError;

use super::{Task, queue};
use crate::error::AppError;
use crate::state::AppState;

/// Whether a call found work.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Done,
    Empty,
}

/// Runs the oldest pending job, if any.
pub fn try_execute_next(state: &AppState) -> Result<Outcome, AppError> {
    let job = {
        let mut conn = state.main.get()?;
        match queue::claim_next(&mut conn)? {
            Some(job) => job,
            None => return Ok(Outcome::Empty),
        }
    };
    let outcome = serde_json::from_str::<Task>(&job.payload)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("job {} has an unreadable payload: {e}", job.id)))
        .and_then(|task| {
            let mut report = |p: &serde_json::Value| {
                if let Ok(conn) = state.main.get() {
                    let _ = queue::set_progress(&conn, job.id, &p.to_string());
                }
            };
            task.execute_with_progress(state, &mut report)
        });
    let mut conn = state.main.get()?;
    match outcome {
        Ok(result) => queue::finish(&conn, job.id, &result.to_string())?,
        Err(err) => {
            tracing::warn!(job_id = job.id, kind = %job.kind, error = %err, "job failed");
            let result = serde_json::json!({
                "error": err.code(),
                "status": err.status_code().as_u16(),
                "message": match &err { AppError::Internal(_) => "internal error; see the server log".to_string(), e => e.to_string() },
            });
            queue::fail(&mut conn, &job, &result.to_string(), &format!("{err:#}"))?;
        }
    }
    Ok(Outcome::Done)
}

/// Stops the background thread when dropped.
pub struct Background {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl Drop for Background {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

const POLL: Duration = Duration::from_millis(200);
const MAINTENANCE_EVERY: Duration = Duration::from_secs(15);

pub fn spawn(state: Arc<AppState>) -> Background {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    let handle = std::thread::Builder::new()
        .name("vergeflow-jobs".into())
        .spawn(move || {
            let mut last_maintenance = Instant::now();
            while !flag.load(Ordering::SeqCst) {
                match try_execute_next(&state) {
                    Ok(Outcome::Done) => continue,
                    Ok(Outcome::Empty) => {}
                    Err(err) => tracing::error!(error = %err, "job worker could not reach main.db"),
                }
                if last_maintenance.elapsed() >= MAINTENANCE_EVERY {
                    last_maintenance = Instant::now();
                    let closed = state.tenancy.pools.close_idle(state.settings.idle_client_after);
                    if closed > 0 {
                        tracing::debug!(closed, "closed idle shop pools");
                    }
                    if let Ok(conn) = state.main.get() {
                        let _ = crate::auth::tokens::purge_expired(&conn);
                        if let Err(err) = schedule_backups(&state, &conn) {
                            tracing::error!(error = %err, "could not schedule backups");
                        }
                    }
                    let purged = crate::backups::transfer::purge_final_exports(
                        &state.settings.backup_dir,
                        state.settings.final_backup_keep,
                    );
                    if purged > 0 {
                        tracing::info!(purged, "removed final backups of deleted shops past their keeping period");
                    }
                }
                std::thread::sleep(POLL);
            }
        })
        .expect("spawning the job worker thread");
    Background { stop, handle: Some(handle) }
}

/// Queues a scheduled backup run when a shop is due and no run is queued or running.
fn schedule_backups(state: &AppState, conn: &rusqlite::Connection) -> Result<(), AppError> {
    let kind = Task::ScheduledBackups.kind();
    if queue::has_open(conn, kind)? || crate::backups::batch::due(conn, state.settings.backup_every)?.is_empty() {
        return Ok(());
    }
    let payload = serde_json::to_string(&Task::ScheduledBackups).map_err(anyhow::Error::from)?;
    queue::enqueue(conn, kind, &payload)?;
    Ok(())
}
