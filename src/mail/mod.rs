//! Outgoing mail: an outbox in main.db, sent by `send_mail` jobs through SMTP (`VERGEFLOW_SMTP_URL`)
//! or written as `.eml` files under `<data>/mail/` for development. A request that causes mail only
//! writes the outbox row and its job; an SMTP server that is down delays the mail (the job retries
//! with backoff), never the request.

pub mod templates;
pub mod transport;

use rusqlite::{Connection, OptionalExtension, params};

use crate::error::AppError;
use crate::jobs::Task;

/// Attempts a message gets before it is failed (about 3 hours with the default 10 s base).
pub const MAX_ATTEMPTS: i64 = 11;

/// A message ready to queue.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub client_id: Option<i64>,
    /// What it is (`customer_welcome`, `password_reset`, `order_placed`, …): for the log and files.
    pub template: String,
    /// The sender name: the shop's name, or "VergeFlow".
    pub from_name: String,
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// Writes the message to the outbox and queues its job, inside the caller's transaction.
pub fn queue_in(conn: &Connection, mail: &Outgoing) -> Result<i64, AppError> {
    conn.prepare_cached(
        "INSERT INTO mail_outbox (client_id, template, from_name, to_addr, subject, text_body, html_body)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        mail.client_id,
        mail.template,
        mail.from_name,
        mail.to,
        mail.subject,
        mail.text,
        mail.html
    ])?;
    let id = conn.last_insert_rowid();
    crate::jobs::enqueue(conn, &Task::SendMail { mail_id: id, client_id: mail.client_id })?;
    Ok(id)
}

/// An outbox row: the message and where it stands.
#[derive(Debug, Clone)]
pub struct Stored {
    pub id: i64,
    pub status: String,
    pub mail: Outgoing,
}

pub fn find(conn: &Connection, id: i64) -> rusqlite::Result<Option<Stored>> {
    conn.query_row(
        "SELECT id, status, client_id, template, from_name, to_addr, subject, text_body, html_body
         FROM mail_outbox WHERE id = ?1",
        [id],
        |r| {
            Ok(Stored {
                id: r.get(0)?,
                status: r.get(1)?,
                mail: Outgoing {
                    client_id: r.get(2)?,
                    template: r.get(3)?,
                    from_name: r.get(4)?,
                    to: r.get(5)?,
                    subject: r.get(6)?,
                    text: r.get(7)?,
                    html: r.get(8)?,
                },
            })
        },
    )
    .optional()
}

pub fn mark_sent(conn: &Connection, id: i64) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE mail_outbox SET status = 'sent', attempts = attempts + 1, last_error = NULL,
                sent_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') WHERE id = ?1",
        [id],
    )?;
    Ok(())
}

pub fn mark_attempt_failed(conn: &Connection, id: i64, error: &str) -> rusqlite::Result<()> {
    conn.execute("UPDATE mail_outbox SET attempts = attempts + 1, last_error = ?2 WHERE id = ?1", params![id, error])?;
    Ok(())
}

pub fn mark_failed(conn: &Connection, id: i64, error: &str) -> rusqlite::Result<()> {
    conn.execute("UPDATE mail_outbox SET status = 'failed', last_error = ?2 WHERE id = ?1", params![id, error])?;
    Ok(())
}

/// Drops sent mail older than `days` (the outbox is not an archive).
pub fn prune_sent(conn: &Connection, days: u32) -> rusqlite::Result<usize> {
    conn.execute(
        "DELETE FROM mail_outbox WHERE status = 'sent' AND sent_at < strftime('%Y-%m-%dT%H:%M:%SZ', 'now', ?1)",
        [format!("-{days} days")],
    )
}

/// The `send_mail` job: sends one outbox message unless it already went.
pub fn send(state: &crate::state::AppState, id: i64) -> Result<serde_json::Value, AppError> {
    let stored = {
        let conn = state.main.get()?;
        find(&conn, id)?
    };
    let Some(stored) = stored else {
        // Its shop was deleted (the outbox row went with it).
        return Ok(serde_json::json!({ "mail_id": id, "outcome": "gone" }));
    };
    if stored.status == "sent" {
        return Ok(serde_json::json!({ "mail_id": id, "outcome": "already_sent" }));
    }
    let mail = &stored.mail;
    match transport::deliver(&state.settings, id, mail) {
        Ok(how) => {
            // Marked sent with the job (`Task::on_success`), in the worker's one write.
            tracing::info!(mail_id = id, template = %mail.template, via = how, "mail sent");
            Ok(serde_json::json!({ "mail_id": id, "outcome": "sent", "via": how }))
        }
        Err(e) => {
            mark_attempt_failed(&*state.main.get()?, id, &e)?;
            Err(AppError::unavailable("mail_not_sent", format!("mail {id} could not be sent: {e}")))
        }
    }
}
