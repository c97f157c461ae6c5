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
        .and_then(|task| task.execute(state));
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
                    }
                }
                std::thread::sleep(POLL);
            }
        })
        .expect("spawning the job worker thread");
    Background { stop, handle: Some(handle) }
}
