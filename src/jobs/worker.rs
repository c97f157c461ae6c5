//! The server's background threads: job workers and the maintenance loop.
//!
//! `VERGEFLOW_JOB_WORKERS` threads run every other kind of job; one more runs notify jobs, mail,
//! reset mails and webhook deliveries, several at a time (so a long backup never holds up a password-reset mail,
//! and a burst of order mail is claimed and settled in few writes to main.db). They run at nice
//! 19: on a busy box request handling comes first. A job enqueued by this process wakes its
//! lane at once; jobs the CLI enqueues from another process are seen within [`POLL`].

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
pub const MESSAGE_KINDS: &[&str] = &["notify", "send_mail", "password_reset", "deliver_webhook"];

/// How often an idle worker looks for jobs another process enqueued.
const POLL: Duration = Duration::from_millis(250);
const MAINTENANCE_EVERY: Duration = Duration::from_secs(15);
/// Backoff is capped here, whatever the attempt.
const MAX_BACKOFF: Duration = Duration::from_secs(3600);

/// Wakes idle workers of one lane: a generation counter under a mutex, so a wake between a
/// worker's look at the queue and its wait is never lost. [0]: general workers, [1]: messages.
static WAKE: [(Mutex<u64>, Condvar); 2] = [(Mutex::new(0), Condvar::new()), (Mutex::new(0), Condvar::new())];

fn lane_index(lane: queue::Lane) -> usize {
    usize::from(lane == queue::Lane::Messages)
}

/// Tells the idle workers that run `kind` that a job of it was queued.
pub fn wake_for(kind: &str) {
    let (m, c) = &WAKE[lane_index(queue::Lane::of(kind))];
    *m.lock() += 1;
    c.notify_all();
}

/// Tells every idle worker to look at the queue (shutdown, a retried job).
pub fn wake() {
    for (m, c) in &WAKE {
        *m.lock() += 1;
        c.notify_all();
    }
}

fn generation(lane: queue::Lane) -> u64 {
    *WAKE[lane_index(lane)].0.lock()
}

fn wait_for_wake(lane: queue::Lane, seen: u64, timeout: Duration) {
    let (m, c) = &WAKE[lane_index(lane)];
    let mut g = m.lock();
    if *g == seen {
        c.wait_for(&mut g, timeout);
    }
}

/// After a wake the message lane waits this long, so a burst of checkouts is claimed and settled
/// in a few writes rather than two per message.
const MESSAGE_LINGER: Duration = Duration::from_millis(20);

/// Whether a call found work.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Ran this many jobs.
    Done(usize),
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

/// How a job's attempt ended, before it is written down.
enum Settled {
    Done(serde_json::Value),
    Retry { error: String, wait: Duration },
    Failed { result: serde_json::Value, exception: String, error: AppError },
}

/// How many message jobs the message lane takes at once.
const MESSAGE_BATCH: usize = 16;

/// Runs the oldest due job of the lane; the message lane takes up to [`MESSAGE_BATCH`] short ones:
/// claimed in one write, run one after another, settled in one write.
pub fn try_execute_next(state: &AppState, lane: queue::Lane, running: &Running) -> Result<Outcome, AppError> {
    // A read first: an idle worker's look at the queue takes no write turn and no write lock.
    if !queue::any_due(&*state.main.get()?, lane)? {
        return Ok(Outcome::Empty);
    }
    let jobs = {
        // The write turn before the connection, as everywhere (no waiting for one while holding the other).
        let _turn = state.main.write_turn();
        let mut conn = state.main.get()?;
        let limit = if lane == queue::Lane::Messages { MESSAGE_BATCH } else { 1 };
        queue::claim(&mut conn, lane, limit)?
    };
    if jobs.is_empty() {
        return Ok(Outcome::Empty);
    }
    running.0.lock().extend(jobs.iter().map(|j| j.id));
    let mut settled = Vec::with_capacity(jobs.len());
    for job in &jobs {
        // Parsed once: the same task runs, then settles.
        let task = serde_json::from_str::<Task>(&job.payload)
            .map_err(|e| format!("job {} has an unreadable payload: {e}", job.id));
        let how = run_claimed(state, job, task.as_ref());
        settled.push((job, task.ok(), how));
    }
    let written = settle(state, &settled);
    let mut r = running.0.lock();
    for job in &jobs {
        r.remove(&job.id);
    }
    drop(r);
    written.map(|()| Outcome::Done(jobs.len()))
}

fn run_claimed(state: &AppState, job: &queue::Job, task: Result<&Task, &String>) -> Settled {
    let is_batch = task.is_ok_and(Task::is_batch);
    if is_batch && let Ok(conn) = state.main.get() {
        let _ = queue::record_batch(&conn, job.id, &job.kind, 0, 0, 0, false);
    }
    let outcome = task.map_err(|unreadable| AppError::Internal(anyhow::anyhow!("{unreadable}"))).and_then(|task| {
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
    match outcome {
        Ok(result) => Settled::Done(result),
        Err(err) if is_transient(&err) && job.attempts < job.max_attempts => {
            let wait = backoff(state.settings.job_retry_base, job.attempts);
            tracing::warn!(
                job_id = job.id, kind = %job.kind, client_id = job.client_id, attempt = job.attempts,
                retry_in_ms = wait.as_millis() as u64, error = %err, "job attempt failed; retrying later"
            );
            Settled::Retry { error: err.to_string(), wait }
        }
        Err(err) => {
            tracing::warn!(job_id = job.id, kind = %job.kind, client_id = job.client_id, error = %err, "job failed");
            let result = serde_json::json!({
                "error": err.code(),
                "status": err.status_code().as_u16(),
                "message": match &err { AppError::Internal(_) => "internal error; see the server log".to_string(), e => e.to_string() },
            });
            Settled::Failed { result, exception: format!("{err:#}"), error: err }
        }
    }
}

/// Writes how the attempts ended, with each successful task's own bookkeeping (a mail marked
/// sent, a delivery marked delivered), in one immediate transaction.
fn settle(state: &AppState, settled: &[(&queue::Job, Option<Task>, Settled)]) -> Result<(), AppError> {
    let turn = state.main.write_turn();
    let mut conn = state.main.get()?;
    let mut tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    for (job, task, how) in settled {
        let is_batch = task.as_ref().is_some_and(Task::is_batch);
        match how {
            Settled::Done(result) => {
                if is_batch && let Some((total, done, failed)) = batch_counts(result, true) {
                    queue::record_batch(&tx, job.id, &job.kind, total, done, failed, true)?;
                }
                // Each job's own bookkeeping in a savepoint: one that fails is retried (or failed)
                // without undoing the others settled here.
                let own = match task {
                    Some(t) => {
                        let sp = tx.savepoint()?;
                        match t.on_success(&sp, result) {
                            Ok(()) => sp.commit().map_err(AppError::from),
                            Err(e) => Err(e),
                        }
                    }
                    None => Ok(()),
                };
                if let Err(e) = own {
                    tracing::error!(job_id = job.id, kind = %job.kind, error = %e, "a finished job's bookkeeping failed");
                    if job.attempts < job.max_attempts {
                        let wait = backoff(state.settings.job_retry_base, job.attempts);
                        queue::retry_later(&tx, job.id, &e.to_string(), wait.as_millis() as u64)?;
                    } else {
                        let result = serde_json::json!({"error": e.code(), "status": 500, "message": "internal error; see the server log"});
                        queue::fail_in(&tx, job, &result.to_string(), &format!("{e:#}"))?;
                    }
                    continue;
                }
                queue::finish(&tx, job.id, &result.to_string())?;
            }
            Settled::Retry { error, wait } => queue::retry_later(&tx, job.id, error, wait.as_millis() as u64)?,
            Settled::Failed { result, exception, .. } => {
                if is_batch {
                    queue::record_batch(&tx, job.id, &job.kind, 0, 0, 0, true)?;
                }
                queue::fail_in(&tx, job, &result.to_string(), exception)?;
            }
        }
    }
    tx.commit()?;
    drop(turn);
    drop(conn);
    for (_, task, how) in settled {
        if let (Settled::Failed { error, .. }, Some(t)) = (how, task) {
            t.gave_up(state, error);
        }
    }
    Ok(())
}

/// The background threads (job workers, the event relay, maintenance); [`Background::shutdown`] stops them.
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
        self.state.relay.nudge();
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline && self.handles.iter().any(|h| !h.is_finished()) {
            std::thread::sleep(Duration::from_millis(20));
        }
        let unfinished: Vec<i64> = self.running.0.lock().iter().copied().collect();
        if !unfinished.is_empty() {
            match self.state.main.get().and_then(|c| Ok(queue::requeue(&c, &unfinished)?)) {
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
        self.state.relay.nudge();
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}

fn worker_loop(state: &AppState, stop: &AtomicBool, lane: queue::Lane, running: &Running) {
    crate::sys::set_thread_niceness(19);
    let messages = lane == queue::Lane::Messages;
    while !stop.load(Ordering::SeqCst) {
        let seen = generation(lane);
        match try_execute_next(state, lane, running) {
            Ok(Outcome::Done(n)) => {
                // A short batch: let the next one gather before claiming it. A full one: more
                // are waiting, go on at once.
                if messages && n < MESSAGE_BATCH {
                    std::thread::sleep(MESSAGE_LINGER);
                }
                continue;
            }
            Ok(Outcome::Empty) => {}
            Err(err) => {
                tracing::error!(error = %err, "job worker could not reach main.db");
                std::thread::sleep(Duration::from_secs(1));
            }
        }
        let due = state.main.get().ok().and_then(|c| queue::next_due_in_ms(&c, lane).ok().flatten());
        let wait = due.map_or(POLL, |ms| Duration::from_millis(ms.max(1) as u64).min(POLL));
        wait_for_wake(lane, seen, wait);
        if messages && generation(lane) != seen {
            std::thread::sleep(MESSAGE_LINGER);
        }
    }
}

pub fn spawn(state: Arc<AppState>) -> Background {
    let stop = Arc::new(AtomicBool::new(false));
    let running = Arc::new(Running::default());
    let mut handles = Vec::new();
    let lanes =
        (0..state.settings.job_workers).map(|_| queue::Lane::General).chain(std::iter::once(queue::Lane::Messages));
    for (i, lane) in lanes.enumerate() {
        let (state, stop, running) = (Arc::clone(&state), Arc::clone(&stop), Arc::clone(&running));
        let name = match lane {
            queue::Lane::Messages => "vergeflow-messages".to_string(),
            queue::Lane::General => format!("vergeflow-jobs-{i}"),
        };
        handles.push(
            std::thread::Builder::new()
                .name(name)
                .spawn(move || worker_loop(&state, &stop, lane, &running))
                .expect("spawning a job worker thread"),
        );
    }
    let (st, flag) = (Arc::clone(&state), Arc::clone(&stop));
    handles.push(
        std::thread::Builder::new()
            .name("vergeflow-events".into())
            .spawn(move || crate::events::relay::run(&st, &flag))
            .expect("spawning the event relay thread"),
    );
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
    let mut ticks: u64 = 0;
    while !stop.load(Ordering::SeqCst) {
        if last.elapsed() >= MAINTENANCE_EVERY {
            last = Instant::now();
            // Payments Stripe may know more about: at start, then every minute.
            if ticks.is_multiple_of(4)
                && let Ok(conn) = state.main.get()
                && let Err(err) = crate::payments::reconcile::queue_if_due(&conn)
            {
                tracing::error!(error = %err, "could not queue the payment reconciliation");
            }
            ticks += 1;
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
            let purged = crate::backups::transfer::purge_final_exports(
                &state.settings.backup_dir,
                state.settings.final_backup_keep,
            );
            if purged > 0 {
                tracing::info!(purged, "removed final backups of deleted shops past their keeping period");
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}
