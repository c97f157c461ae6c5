//! The `jobs`, `failed_jobs` and `job_batches` tables: enqueue, claim, finish, retry, fail, list.
//! Plain SQL over `&Connection`.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::pagination::Page;

/// Now, as the queue's millisecond RFC 3339 text (what `available_at` holds).
const NOW_MS: &str = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')";

/// A claimed row of the queue.
#[derive(Debug, Clone)]
pub struct Job {
    pub id: i64,
    pub kind: String,
    pub payload: String,
    pub client_id: Option<i64>,
    pub attempts: i64,
    pub max_attempts: i64,
    pub batch_id: Option<i64>,
}

/// What to put on the queue.
pub struct NewJob<'a> {
    pub kind: &'a str,
    pub payload: &'a str,
    pub client_id: Option<i64>,
    pub max_attempts: i64,
    pub batch_id: Option<i64>,
}

pub fn push(conn: &Connection, job: &NewJob<'_>) -> rusqlite::Result<i64> {
    let lane = Lane::of(job.kind).number();
    conn.prepare_cached(
        "INSERT INTO jobs (kind, lane, payload, client_id, max_attempts, batch_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![job.kind, lane, job.payload, job.client_id, job.max_attempts.clamp(1, 100), job.batch_id])?;
    Ok(conn.last_insert_rowid())
}

/// A job's status and result, for a CLI waiting on it.
pub struct Status {
    pub status: String,
    pub result: Option<String>,
}

pub fn find(conn: &Connection, id: i64) -> rusqlite::Result<Option<Status>> {
    conn.query_row("SELECT status, result FROM jobs WHERE id = ?1", [id], |r| {
        Ok(Status { status: r.get(0)?, result: r.get(1)? })
    })
    .optional()
}

/// Which jobs a worker takes: the general lane (0) or the message lane (1), stored per job so a
/// worker's look at the queue is an index seek however long the other lane's backlog is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    General,
    /// Mail, reset mails and webhook deliveries ([`crate::jobs::worker::MESSAGE_KINDS`]).
    Messages,
}

impl Lane {
    pub fn of(kind: &str) -> Lane {
        if crate::jobs::worker::MESSAGE_KINDS.contains(&kind) { Lane::Messages } else { Lane::General }
    }
    fn number(self) -> i64 {
        i64::from(self == Lane::Messages)
    }
}

/// Takes up to `limit` of the oldest due pending jobs of `lane`, marking them running, in one
/// immediate transaction (the message lane takes several at once: one write for many short jobs).
pub fn claim(conn: &mut Connection, lane: Lane, limit: usize) -> rusqlite::Result<Vec<Job>> {
    let filter = lane_filter(lane);
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let job = tx
        .prepare_cached(&format!(
            "UPDATE jobs SET status = 'running', attempts = attempts + 1,
                    reserved_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now')
             WHERE id IN (SELECT id FROM jobs WHERE status = 'pending' AND available_at <= {NOW_MS} {filter}
                          ORDER BY available_at, id LIMIT ?1)
             RETURNING id, kind, payload, client_id, attempts, max_attempts, batch_id"
        ))?
        .query_map([limit as i64], |r| {
            Ok(Job {
                id: r.get(0)?,
                kind: r.get(1)?,
                payload: r.get(2)?,
                client_id: r.get(3)?,
                attempts: r.get(4)?,
                max_attempts: r.get(5)?,
                batch_id: r.get(6)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    tx.commit()?;
    let mut jobs = job;
    jobs.sort_by_key(|j| j.id);
    Ok(jobs)
}

fn lane_filter(lane: Lane) -> String {
    format!("AND lane = {}", lane.number())
}

/// Whether the lane has a job due now (a read: no write lock).
pub fn any_due(conn: &Connection, lane: Lane) -> rusqlite::Result<bool> {
    conn.prepare_cached(&format!(
        "SELECT EXISTS (SELECT 1 FROM jobs WHERE status = 'pending' AND available_at <= {NOW_MS} {})",
        lane_filter(lane)
    ))?
    .query_row([], |r| r.get(0))
}

/// Milliseconds until the lane's next pending job is due (0 if one is due now), or None with none.
pub fn next_due_in_ms(conn: &Connection, lane: Lane) -> rusqlite::Result<Option<i64>> {
    conn.prepare_cached(&format!(
        "SELECT CAST(max(0, (julianday(min(available_at)) - julianday({NOW_MS})) * 86400000) AS INTEGER)
         FROM jobs WHERE status = 'pending' {}",
        lane_filter(lane)
    ))?
    .query_row([], |r| r.get(0))
}

/// Marks a job done. The payload is cleared: it may carry a password hash we no longer need.
pub fn finish(conn: &Connection, id: i64, result: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "UPDATE jobs SET status = 'done', result = ?2, payload = '{}', last_error = NULL,
                finished_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') WHERE id = ?1 AND status = 'running'",
    )?
    .execute(params![id, result])?;
    Ok(())
}

/// Puts a failed attempt back on the queue, due after `delay_ms`.
pub fn retry_later(conn: &Connection, id: i64, error: &str, delay_ms: u64) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE jobs SET status = 'pending', last_error = ?2, reserved_at = NULL,
                available_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?3)
         WHERE id = ?1 AND status = 'running'",
        params![id, error, format!("+{:.3} seconds", delay_ms as f64 / 1000.0)],
    )?;
    Ok(())
}

/// Marks a job failed for good and records it in `failed_jobs`, payload kept so it can be retried.
pub fn fail(conn: &mut Connection, job: &Job, result: &str, exception: &str) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    fail_in(&tx, job, result, exception)?;
    tx.commit()
}

/// [`fail`] inside the caller's transaction.
pub fn fail_in(tx: &Connection, job: &Job, result: &str, exception: &str) -> rusqlite::Result<()> {
    let changed = tx.execute(
        "UPDATE jobs SET status = 'failed', result = ?2, last_error = ?3,
                finished_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') WHERE id = ?1 AND status = 'running'",
        params![job.id, result, exception],
    )?;
    if changed == 0 {
        // Requeued by a shutdown past its deadline: it runs again at the next start.
        return Ok(());
    }
    tx.execute(
        "INSERT INTO failed_jobs (job_id, client_id, kind, payload, exception) VALUES (?1, ?2, ?3, '{}', ?4)",
        params![job.id, job.client_id, job.kind, exception],
    )?;
    Ok(())
}

/// Jobs left `running` by a process that died go back on the queue (every kind is safe to run
/// again; see [`crate::jobs::Task`]). Called after reconciliation has settled the files.
pub fn requeue_interrupted(conn: &Connection) -> rusqlite::Result<usize> {
    conn.execute(
        "UPDATE jobs SET status = 'pending', reserved_at = NULL, available_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'),
                last_error = 'interrupted: the server stopped while running this job'
         WHERE status = 'running'",
        [],
    )
}

/// Puts these running jobs back on the queue (graceful shutdown past its deadline).
pub fn requeue(conn: &Connection, ids: &[i64]) -> rusqlite::Result<usize> {
    let mut n = 0;
    for id in ids {
        n += conn.execute(
            "UPDATE jobs SET status = 'pending', reserved_at = NULL, attempts = max(0, attempts - 1),
                    last_error = 'requeued: the server stopped before this job finished'
             WHERE id = ?1 AND status = 'running'",
            [id],
        )?;
    }
    Ok(n)
}

/// Cancels a shop's pending jobs (it is being deleted).
pub fn cancel_for_client(conn: &Connection, client_id: i64) -> rusqlite::Result<usize> {
    conn.execute(
        "UPDATE jobs SET status = 'cancelled', payload = '{}', finished_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now'),
                result = '{\"error\":\"cancelled\",\"message\":\"the shop was deleted\"}'
         WHERE client_id = ?1 AND status = 'pending'",
        [client_id],
    )
}

/// A job as the API shows it.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
#[schemars(example = serde_json::json!({"id": 7, "kind": "backup_client", "client_id": 3, "status": "done",
    "attempts": 1, "max_attempts": 3, "batch_id": null, "last_error": null, "result": {"outcome": "created"},
    "created_at": "2026-11-28T19:35:00Z", "available_at": "2026-11-28T19:35:00.120Z",
    "started_at": "2026-11-28T19:35:00Z", "finished_at": "2026-11-28T19:35:01Z"}))]
pub struct JobView {
    pub id: i64,
    pub kind: String,
    /// The shop the job works on; null for global work.
    pub client_id: Option<i64>,
    /// `pending`, `running`, `done`, `failed` or `cancelled`.
    pub status: String,
    pub attempts: i64,
    pub max_attempts: i64,
    pub batch_id: Option<i64>,
    /// Why the last attempt failed (a pending job waiting for its retry shows it).
    pub last_error: Option<String>,
    /// The outcome when done, `{error, status, message}` when failed, progress while running.
    pub result: Option<serde_json::Value>,
    pub created_at: String,
    /// When a pending job is due (later than `created_at` while it waits for a retry).
    pub available_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
}

const VIEW_COLUMNS: &str = "id, kind, client_id, status, attempts, max_attempts, batch_id, last_error, result,
                            created_at, available_at, reserved_at, finished_at";

fn view_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<JobView> {
    let result: Option<String> = r.get(8)?;
    Ok(JobView {
        id: r.get(0)?,
        kind: r.get(1)?,
        client_id: r.get(2)?,
        status: r.get(3)?,
        attempts: r.get(4)?,
        max_attempts: r.get(5)?,
        batch_id: r.get(6)?,
        last_error: r.get(7)?,
        result: result.and_then(|s| serde_json::from_str(&s).ok()),
        created_at: r.get(9)?,
        available_at: r.get(10)?,
        started_at: r.get(11)?,
        finished_at: r.get(12)?,
    })
}

pub fn view(conn: &Connection, id: i64) -> rusqlite::Result<Option<JobView>> {
    conn.query_row(&format!("SELECT {VIEW_COLUMNS} FROM jobs WHERE id = ?1"), [id], view_row).optional()
}

/// Which jobs a listing shows.
#[derive(Default)]
pub struct Filter {
    pub status: Option<String>,
    pub client_id: Option<i64>,
    pub kind: Option<String>,
}

/// Jobs matching `filter`, newest first, and their count.
pub fn list(conn: &Connection, filter: &Filter, page: Page) -> rusqlite::Result<(Vec<JobView>, i64)> {
    let cond = "(?1 IS NULL OR status = ?1) AND (?2 IS NULL OR client_id = ?2) AND (?3 IS NULL OR kind = ?3)";
    let args = params![filter.status, filter.client_id, filter.kind];
    let total = conn.query_row(&format!("SELECT count(*) FROM jobs WHERE {cond}"), args, |r| r.get(0))?;
    let mut stmt =
        conn.prepare(&format!("SELECT {VIEW_COLUMNS} FROM jobs WHERE {cond} ORDER BY id DESC LIMIT ?4 OFFSET ?5"))?;
    let rows = stmt
        .query_map(params![filter.status, filter.client_id, filter.kind, page.per_page, page.offset()], view_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok((rows, total))
}

/// A job that failed for good.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
#[schemars(example = serde_json::json!({"id": 2, "job_id": 41, "client_id": 3, "kind": "send_mail",
    "exception": "SMTP: connection refused", "failed_at": "2026-11-28T19:35:00Z"}))]
pub struct FailedJob {
    /// The id to retry or forget it by.
    pub id: i64,
    pub job_id: Option<i64>,
    pub client_id: Option<i64>,
    pub kind: String,
    /// The error, as the server log has it.
    pub exception: String,
    pub failed_at: String,
}

fn failed_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<FailedJob> {
    Ok(FailedJob {
        id: r.get(0)?,
        job_id: r.get(1)?,
        client_id: r.get(2)?,
        kind: r.get(3)?,
        exception: r.get(4)?,
        failed_at: r.get(5)?,
    })
}

pub fn list_failed(conn: &Connection, client_id: Option<i64>, page: Page) -> rusqlite::Result<(Vec<FailedJob>, i64)> {
    let total =
        conn.query_row("SELECT count(*) FROM failed_jobs WHERE ?1 IS NULL OR client_id = ?1", [client_id], |r| {
            r.get(0)
        })?;
    let mut stmt = conn.prepare(
        "SELECT id, job_id, client_id, kind, exception, failed_at FROM failed_jobs
         WHERE ?1 IS NULL OR client_id = ?1 ORDER BY id DESC LIMIT ?2 OFFSET ?3",
    )?;
    let rows = stmt
        .query_map(params![client_id, page.per_page, page.offset()], failed_row)?
        .collect::<rusqlite::Result<_>>()?;
    Ok((rows, total))
}

/// What retrying a failed job found.
pub enum Retry {
    Queued(i64),
    NotFound,
    /// The job's payload is gone (it failed before payloads were kept, or its shop was deleted).
    Gone,
}

/// Puts a failed job back on the queue as new (attempts from zero) and drops its failure record.
pub fn retry_failed(conn: &mut Connection, failed_id: i64) -> rusqlite::Result<Retry> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let row: Option<(Option<i64>, Option<String>, Option<i64>)> = tx
        .query_row(
            "SELECT f.job_id, j.payload, j.client_id FROM failed_jobs f LEFT JOIN jobs j ON j.id = f.job_id
             WHERE f.id = ?1",
            [failed_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let Some((job_id, payload, client_id)) = row else { return Ok(Retry::NotFound) };
    let shop_gone = match client_id {
        Some(id) => {
            !tx.query_row("SELECT EXISTS (SELECT 1 FROM clients WHERE id = ?1)", [id], |r| r.get::<_, bool>(0))?
        }
        None => false,
    };
    let (Some(job_id), Some(payload)) = (job_id, payload) else { return Ok(Retry::Gone) };
    if payload == "{}" || shop_gone {
        return Ok(Retry::Gone);
    }
    tx.execute(
        "UPDATE jobs SET status = 'pending', attempts = 0, result = NULL, finished_at = NULL, reserved_at = NULL,
                available_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ?1",
        [job_id],
    )?;
    tx.execute("DELETE FROM failed_jobs WHERE id = ?1", [failed_id])?;
    tx.commit()?;
    Ok(Retry::Queued(job_id))
}

/// Drops a failure record (and the failed job's payload). False when there was none.
pub fn forget_failed(conn: &mut Connection, failed_id: i64) -> rusqlite::Result<bool> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let job_id: Option<Option<i64>> =
        tx.query_row("DELETE FROM failed_jobs WHERE id = ?1 RETURNING job_id", [failed_id], |r| r.get(0)).optional()?;
    let Some(job_id) = job_id else { return Ok(false) };
    if let Some(job_id) = job_id {
        tx.execute("UPDATE jobs SET payload = '{}' WHERE id = ?1 AND status = 'failed'", [job_id])?;
    }
    tx.commit()?;
    Ok(true)
}

/// Drops finished (done or cancelled) jobs older than `days`; failed ones stay until forgotten.
pub fn prune_finished(conn: &Connection, days: u32) -> rusqlite::Result<usize> {
    conn.execute(
        "DELETE FROM jobs WHERE status IN ('done', 'cancelled') AND batch_id IS NULL
           AND finished_at < strftime('%Y-%m-%dT%H:%M:%SZ', 'now', ?1)",
        [format!("-{days} days")],
    )
}

/// Records a running job's progress in its `result`.
pub fn set_progress(conn: &Connection, id: i64, progress: &str) -> rusqlite::Result<()> {
    conn.execute("UPDATE jobs SET result = ?2 WHERE id = ?1 AND status = 'running'", params![id, progress])?;
    Ok(())
}

/// The oldest pending or running job of `kind`, if any.
pub fn open_of_kind(conn: &Connection, kind: &str) -> rusqlite::Result<Option<JobView>> {
    let id: Option<i64> = conn
        .query_row(
            "SELECT id FROM jobs WHERE kind = ?1 AND status IN ('pending', 'running') ORDER BY id LIMIT 1",
            [kind],
            |r| r.get(0),
        )
        .optional()?;
    id.map_or(Ok(None), |id| view(conn, id))
}

/// A batch: the units of work of one long job (a backup of every shop, a fleet migration).
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
#[schemars(example = serde_json::json!({"id": 4, "kind": "backup_all", "job_id": 12, "total": 120, "pending": 20,
    "done": 99, "failed": 1, "progress": 0.833, "created_at": "2026-11-28T19:35:00Z", "finished_at": null}))]
pub struct BatchView {
    pub id: i64,
    pub kind: String,
    /// The job running the batch.
    pub job_id: Option<i64>,
    pub total: i64,
    pub pending: i64,
    /// Units finished, failed ones included.
    pub done: i64,
    pub failed: i64,
    /// done / total (1 for an empty batch).
    pub progress: f64,
    pub created_at: String,
    pub finished_at: Option<String>,
}

/// Records a batch job's counts (creating its batch on the first call); returns the batch id.
pub fn record_batch(
    conn: &Connection,
    job_id: i64,
    kind: &str,
    total: i64,
    done: i64,
    failed: i64,
    finished: bool,
) -> rusqlite::Result<i64> {
    let existing: Option<i64> =
        conn.query_row("SELECT batch_id FROM jobs WHERE id = ?1", [job_id], |r| r.get(0)).optional()?.flatten();
    let id = match existing {
        Some(id) => id,
        None => {
            conn.execute("INSERT INTO job_batches (name, kind) VALUES (?1, ?1)", [kind])?;
            let id = conn.last_insert_rowid();
            conn.execute("UPDATE jobs SET batch_id = ?2 WHERE id = ?1", params![job_id, id])?;
            id
        }
    };
    conn.execute(
        "UPDATE job_batches SET total_jobs = ?2, done_jobs = ?3, failed_jobs = ?4, pending_jobs = max(0, ?2 - ?3),
                finished_at = CASE WHEN ?5 THEN strftime('%Y-%m-%dT%H:%M:%SZ', 'now') END
         WHERE id = ?1",
        params![id, total, done, failed, finished],
    )?;
    Ok(id)
}

pub fn view_batch(conn: &Connection, id: i64) -> rusqlite::Result<Option<BatchView>> {
    conn.query_row(
        "SELECT b.id, b.kind, (SELECT j.id FROM jobs j WHERE j.batch_id = b.id ORDER BY j.id LIMIT 1),
                b.total_jobs, b.pending_jobs, b.done_jobs, b.failed_jobs, b.created_at, b.finished_at
         FROM job_batches b WHERE b.id = ?1",
        [id],
        |r| {
            let (total, done): (i64, i64) = (r.get(3)?, r.get(5)?);
            Ok(BatchView {
                id: r.get(0)?,
                kind: r.get(1)?,
                job_id: r.get(2)?,
                total,
                pending: r.get(4)?,
                done,
                failed: r.get(6)?,
                progress: if total == 0 { 1.0 } else { done as f64 / total as f64 },
                created_at: r.get(7)?,
                finished_at: r.get(8)?,
            })
        },
    )
    .optional()
}
