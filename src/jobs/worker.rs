//! The server's background threads: job workers and the maintenance loop.
//!
//! `VERGEFLOW_JOB_WORKERS` threads run any job, one more runs only mail and webhook deliveries (so a
//! long backup never holds up a password-reset mail). They run at nice 10: on a busy box request
//! handling comes first. A job enqueued by this process wakes a worker at once; jobs the CLI
//! enqueues from another process are seen within [`POLL`].

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use actix_web::ResponseError;
use parking_lot::{Condvar, Mutex};

use super::{Task, queue};
use crate::error::AppError;
use crate::state::AppState;

/// Kinds the message lane runs.
pub const MESSAGE_KINDS: &[&str] = &["send_mail", "password_reset", "deliver_webhook"];

/// How often an idle worker looks for jobs another process enqueued.
const POLL: Duration = Duration::from_millis(250);
const MAINTENANCE_EVERY: Duration = Duration::from_secs(15);
/// Backoff is capped here, whatever the attempt.
const MAX_BACKOFF: Duration = Duration::from_secs(3600);

/// Wakes idle workers: a generation counter under a mutex, so a wake between a worker's look at
/// the queue and its wait is never lost.
static WAKE: (Mutex<u64>, Condvar) = (Mutex::new(0), Condvar::new());

/// Tells idle workers that a job was queued.
pub fn wake() {
    let (m, c) = &WAKE;
    *m.lock() += 1;
    c.notify_all();
}

fn generation() -> u64 {
    *WAKE.0.lock()
}

fn wait_for_wake(seen: u64, timeout: Duration) {
    let (m, c) = &WAKE;
    let mut g = m.lock();
    if *g == seen {
        c.wait_for(&mut g, timeout);
    }
}

/// Whether a call found work.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Done,
    Empty,
}

/// Ids of the jobs this process is running, so a shutdown past its deadline can requeue them.
#[derive(Default)]
pub struct Running(Mutex<HashSet<i64>>);

/// Transient failures are retried; refusals (4xx kinds) are final.
fn is_transient(err: &AppError) -> bool {
    matches!(err, AppError::Internal(_) | AppError::Unavailable { .. } | AppError::Overloaded { .. })
}

/// The wait before attempt `attempts + 1`: base × 2^(attempts − 1), capped, with ±20 % jitter so
/// retries of many jobs that failed together spread out.
pub fn backoff(base: Duration, attempts: i64) -> Duration {
    use rand::RngExt;
    let exp = (attempts.max(1) - 1).min(20) as u32;
    let wait = base.saturating_mul(1u32 << exp).min(MAX_BACKOFF);
    let jitter: f64 = rand::rng().random_range(0.8..1.2);
    wait.mul_f64(jitter)
}

/// `(total, done, failed)` of a batch job's progress or final report.
fn batch_counts(v: &serde_json::Value, finished: bool) -> Option<(i64, i64, i64)> {
    let failed = match v.get("failed") {
        Some(serde_json::Value::Array(a)) => a.len() as i64,
        Some(n) => n.as_i64().unwrap_or(0),
        None => 0,
    };
    let total = match v.get("total").and_then(|t| t.as_i64()) {
        Some(t) => t,
        // A fleet migration's report.
        None => v.get("migrated")?.as_i64()? + v.get("already_current")?.as_i64()? + failed,
    };
    let done = if finished { total } else { v.get("done").and_then(|d| d.as_i64()).unwrap_or(0) };
    Some((total, done, failed))
}

/// Runs the oldest due job (of `only` kinds, if given).
pub fn try_execute_next(state: &AppState, only: Option<&[&str]>, running: &Running) -> Result<Outcome, AppError> {
    let job = {
        let mut conn = state.main.get()?;
        match queue::claim_next(&mut conn, only)? {
            Some(job) => job,
            None => return Ok(Outcome::Empty),
        }
    };
    running.0.lock().insert(job.id);
    let outcome = run_claimed(state, &job);
    running.0.lock().remove(&job.id);
    outcome.map(|()| Outcome::Done)
}

fn run_claimed(state: &AppState, job: &queue::Job) -> Result<(), AppError> {
    let task = serde_json::from_str::<Task>(&job.payload)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("job {} has an unreadable payload: {e}", job.id)));
    let is_batch = task.as_ref().is_ok_and(Task::is_batch);
    if is_batch {
        let conn = state.main.get()?;
        queue::record_batch(&conn, job.id, &job.kind, 0, 0, 0, false)?;
    }
    let outcome = task.and_then(|task| {
        let mut report = |p: &serde_json::Value| {
            if let Ok(conn) = state.main.get() {
                let _ = queue::set_progress(&conn, job.id, &p.to_string());
                if let Some((total, done, failed)) = batch_counts(p, false).filter(|_| is_batch) {
                    let _ = queue::record_batch(&conn, job.id, &job.kind, total, done, failed, false);
                }
            }
        };
        let span = tracing::info_span!("job", job_id = job.id, kind = %job.kind, client_id = job.client_id);
        let _enter = span.enter();
        task.execute_with_progress(state, &mut report)
    });
    let mut conn = state.main.get()?;
    match outcome {
        Ok(result) => {
            if is_batch && let Some((total, done, failed)) = batch_counts(&result, true) {
                queue::record_batch(&conn, job.id, &job.kind, total, done, failed, true)?;
            }
            queue::finish(&conn, job.id, &result.to_string())?;
        }
        Err(err) if is_transient(&err) && job.attempts < job.max_attempts => {
            let wait = backoff(state.settings.job_retry_base, job.attempts);
            tracing::warn!(
                job_id = job.id, kind = %job.kind, client_id = job.client_id, attempt = job.attempts,
                retry_in_ms = wait.as_millis() as u64, error = %err, "job attempt failed; retrying later"
            );
            queue::retry_later(&conn, job.id, &err.to_string(), wait.as_millis() as u64)?;
        }
        Err(err) => {
            tracing::warn!(job_id = job.id, kind = %job.kind, client_id = job.client_id, error = %err, "job failed");
            let result = serde_json::json!({
                "error": err.code(),
                "status": err.status_code().as_u16(),
                "message": match &err { AppError::Internal(_) => "internal error; see the server log".to_string(), e => e.to_string() },
            });
            if is_batch {
                queue::record_batch(&conn, job.id, &job.kind, 0, 0, 0, true)?;
            }
            queue::fail(&mut conn, job, &result.to_string(), &format!("{err:#}"))?;
            drop(conn);
            if let Ok(task) = serde_json::from_str::<Task>(&job.payload) {
                task.gave_up(state, &err);
            }
        }
    }
    Ok(())
}

/// The background threads; [`Background::shutdown`] stops them.
pub struct Background {
    stop: Arc<AtomicBool>,
    handles: Vec<JoinHandle<()>>,
    running: Arc<Running>,
    state: Arc<AppState>,
}

impl Background {
    /// Stops taking jobs and waits up to `grace` for running ones to finish; those still running
    /// then are put back on the queue (they run again at the next start) and left to die with the
    /// process.
    pub fn shutdown(mut self, grace: Duration) {
        self.stop.store(true, Ordering::SeqCst);
        wake();
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline && self.handles.iter().any(|h| !h.is_finished()) {
            std::thread::sleep(Duration::from_millis(20));
        }
        let unfinished: Vec<i64> = self.running.0.lock().iter().copied().collect();
        if !unfinished.is_empty() {
            match self.state.main.get().map_err(AppError::from).and_then(|c| Ok(queue::requeue(&c, &unfinished)?)) {
                Ok(n) => tracing::warn!(
                    requeued = n, jobs = ?unfinished, grace_secs = grace.as_secs(),
                    "jobs still running at the shutdown deadline were put back on the queue"
                ),
                Err(err) => tracing::error!(error = %err, "could not requeue running jobs at shutdown"),
            }
            // Their threads are left running; the process exits under them.
            self.handles.clear();
            return;
        }
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}

impl Drop for Background {
    /// Dropped without [`Background::shutdown`] (a test's server going away): waits for the threads.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        wake();
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}

fn worker_loop(state: &AppState, stop: &AtomicBool, only: Option<&[&str]>, running: &Running) {
    crate::sys::set_thread_niceness(10);
    while !stop.load(Ordering::SeqCst) {
        let seen = generation();
        match try_execute_next(state, only, running) {
            Ok(Outcome::Done) => continue,
            Ok(Outcome::Empty) => {}
            Err(err) => {
                tracing::error!(error = %err, "job worker could not reach main.db");
                std::thread::sleep(Duration::from_secs(1));
            }
        }
        let due = state.main.get().ok().and_then(|c| queue::next_due_in_ms(&c).ok().flatten());
        let wait = due.map_or(POLL, |ms| Duration::from_millis(ms.max(1) as u64).min(POLL));
        wait_for_wake(seen, wait);
    }
}

pub fn spawn(state: Arc<AppState>) -> Background {
    let stop = Arc::new(AtomicBool::new(false));
    let running = Arc::new(Running::default());
    let mut handles = Vec::new();
    let lanes = (0..state.settings.job_workers).map(|_| None).chain(std::iter::once(Some(MESSAGE_KINDS)));
    for (i, only) in lanes.enumerate() {
        let (state, stop, running) = (Arc::clone(&state), Arc::clone(&stop), Arc::clone(&running));
        let name = if only.is_some() { "vergeflow-messages".to_string() } else { format!("vergeflow-jobs-{i}") };
        handles.push(
            std::thread::Builder::new()
                .name(name)
                .spawn(move || worker_loop(&state, &stop, only, &running))
                .expect("spawning a job worker thread"),
        );
    }
    let (st, flag) = (Arc::clone(&state), Arc::clone(&stop));
    handles.push(
        std::thread::Builder::new()
            .name("vergeflow-maintenance".into())
            .spawn(move || maintenance_loop(&st, &flag))
            .expect("spawning the maintenance thread"),
    );
    Background { stop, handles, running, state }
}

fn maintenance_loop(state: &AppState, stop: &AtomicBool) {
    let mut last = Instant::now() - MAINTENANCE_EVERY;
    while !stop.load(Ordering::SeqCst) {
        if last.elapsed() >= MAINTENANCE_EVERY {
            last = Instant::now();
            let closed = state.tenancy.pools.close_idle(state.settings.idle_client_after);
            if closed > 0 {
                tracing::debug!(closed, "closed idle shop pools");
            }
            if let Ok(conn) = state.main.get() {
                match crate::schedules::tick(&conn, state.settings.backup_every) {
                    Ok(0) => {}
                    Ok(queued) => tracing::debug!(queued, "schedules queued their jobs"),
                    Err(err) => tracing::error!(error = %err, "could not run the schedules"),
                }
            }
            let purged =
                crate::backups::transfer::purge_final_exports(&state.settings.backup_dir, state.settings.final_backup_keep);
            if purged > 0 {
                tracing::info!(purged, "removed final backups of deleted shops past their keeping period");
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}
