//! The `jobs` table: enqueue, claim, finish, fail. Plain SQL over `&Connection`.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

/// A row of the queue.
#[derive(Debug, Clone)]
pub struct Job {
    pub id: i64,
    pub kind: String,
    pub payload: String,
    pub status: String,
    pub result: Option<String>,
}

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Job> {
    Ok(Job { id: r.get(0)?, kind: r.get(1)?, payload: r.get(2)?, status: r.get(3)?, result: r.get(4)? })
}

pub fn enqueue(conn: &Connection, kind: &str, payload: &str) -> rusqlite::Result<i64> {
    conn.execute("INSERT INTO jobs (kind, payload) VALUES (?1, ?2)", params![kind, payload])?;
    Ok(conn.last_insert_rowid())
}

pub fn find(conn: &Connection, id: i64) -> rusqlite::Result<Option<Job>> {
    conn.query_row("SELECT id, kind, payload, status, result FROM jobs WHERE id = ?1", [id], from_row).optional()
}

/// Takes the oldest pending job, marking it running, in one immediate transaction.
pub fn claim_next(conn: &mut Connection) -> rusqlite::Result<Option<Job>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let job = tx
        .query_row(
            "UPDATE jobs SET status = 'running', attempts = attempts + 1,
                    reserved_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now')
             WHERE id = (SELECT id FROM jobs WHERE status = 'pending' ORDER BY id LIMIT 1)
             RETURNING id, kind, payload, status, result",
            [],
            from_row,
        )
        .optional()?;
    tx.commit()?;
    Ok(job)
}

/// Marks a job done. The payload is cleared: it may carry a password hash we no longer need.
pub fn finish(conn: &Connection, id: i64, result: &str) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE jobs SET status = 'done', result = ?2, payload = '{}',
                finished_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') WHERE id = ?1",
        params![id, result],
    )?;
    Ok(())
}

/// Marks a job failed and records it in `failed_jobs`.
pub fn fail(conn: &mut Connection, job: &Job, result: &str, exception: &str) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute(
        "UPDATE jobs SET status = 'failed', result = ?2, payload = '{}',
                finished_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') WHERE id = ?1",
        params![job.id, result],
    )?;
    tx.execute(
        "INSERT INTO failed_jobs (job_id, kind, payload, exception) VALUES (?1, ?2, '{}', ?3)",
        params![job.id, job.kind, exception],
    )?;
    tx.commit()
}

/// Jobs left `running` by a process that died: failed, since their effect is unknown until
/// reconciliation has run (it has, when this is called).
pub fn fail_interrupted(conn: &Connection) -> rusqlite::Result<usize> {
    conn.execute(
        "UPDATE jobs SET status = 'failed', payload = '{}',
                result = '{\"error\":\"interrupted\",\"message\":\"the server stopped while running this job; check the clients list\"}',
                finished_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now')
         WHERE status = 'running'",
        [],
    )
}

/// A job as the API shows it.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
#[schemars(example = serde_json::json!({"id": 7, "kind": "backup_client", "status": "done", "attempts": 1,
    "result": {"outcome": "created"}, "created_at": "2026-11-28T19:35:00Z", "started_at": "2026-11-28T19:35:00Z",
    "finished_at": "2026-11-28T19:35:01Z"}))]
pub struct JobView {
    pub id: i64,
    pub kind: String,
    /// `pending`, `running`, `done` or `failed`.
    pub status: String,
    pub attempts: i64,
    /// The outcome when done, `{error, status, message}` when failed, progress while running.
    pub result: Option<serde_json::Value>,
    pub created_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
}

pub fn view(conn: &Connection, id: i64) -> rusqlite::Result<Option<JobView>> {
    conn.query_row(
        "SELECT id, kind, status, attempts, result, created_at, reserved_at, finished_at FROM jobs WHERE id = ?1",
        [id],
        |r| {
            let result: Option<String> = r.get(4)?;
            Ok(JobView {
                id: r.get(0)?,
                kind: r.get(1)?,
                status: r.get(2)?,
                attempts: r.get(3)?,
                result: result.and_then(|s| serde_json::from_str(&s).ok()),
                created_at: r.get(5)?,
                started_at: r.get(6)?,
                finished_at: r.get(7)?,
            })
        },
    )
    .optional()
}

/// Records a running job's progress in its `result`.
pub fn set_progress(conn: &Connection, id: i64, progress: &str) -> rusqlite::Result<()> {
    conn.execute("UPDATE jobs SET result = ?2 WHERE id = ?1 AND status = 'running'", params![id, progress])?;
    Ok(())
}

/// Whether a job of `kind` is pending or running.
pub fn has_open(conn: &Connection, kind: &str) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM jobs WHERE kind = ?1 AND status IN ('pending', 'running'))",
        [kind],
        |r| r.get(0),
    )
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
