//! Password reset for main users (super admins, shop admins) and each shop's customers.
//!
//! `forgot` only queues a `password_reset` job, the same work whether or not the account exists,
//! so neither the answer nor its timing tells. The job looks the account up (a customer in that
//! shop's file only), stores the SHA-256 of a fresh random token (valid 60 minutes, one per
//! account: a newer request replaces it) and sends the mail directly, not through the outbox, so
//! the token is never stored in clear. `reset` consumes the token (one use), sets the password and
//! revokes every token of the account.

use rusqlite::{Connection, OptionalExtension, params};

use super::{Email, tokens};
use crate::error::AppError;
use crate::mail::templates::{self, Addressing};
use crate::state::AppState;

/// How long a reset token works.
pub const TOKEN_MINUTES: i64 = 60;

/// Stores a new token for the account, replacing any earlier one.
pub fn store_token(conn: &Connection, client_id: Option<i64>, email: &str, token: &str) -> rusqlite::Result<()> {
    let email = Email::normalise(email);
    conn.execute(
        "DELETE FROM password_reset_tokens WHERE ifnull(client_id, 0) = ifnull(?1, 0) AND email = ?2",
        params![client_id, email],
    )?;
    conn.execute(
        "INSERT INTO password_reset_tokens (client_id, email, token_hash, expires_at)
         VALUES (?1, ?2, ?3, strftime('%Y-%m-%dT%H:%M:%SZ', 'now', ?4))",
        params![client_id, email, tokens::digest(token), format!("+{TOKEN_MINUTES} minutes")],
    )?;
    Ok(())
}

/// Takes the account's token if `token` is it and it has not expired; it cannot be used again.
pub fn consume(conn: &Connection, client_id: Option<i64>, email: &str, token: &str) -> rusqlite::Result<bool> {
    let found: Option<i64> = conn
        .query_row(
            "DELETE FROM password_reset_tokens
             WHERE ifnull(client_id, 0) = ifnull(?1, 0) AND email = ?2 AND token_hash = ?3
               AND expires_at > strftime('%Y-%m-%dT%H:%M:%SZ', 'now')
             RETURNING id",
            params![client_id, Email::normalise(email), tokens::digest(token)],
            |r| r.get(0),
        )
        .optional()?;
    Ok(found.is_some())
}

/// Whether the account has a token that `token` matches and that has not expired (read only).
pub fn is_valid(conn: &Connection, client_id: Option<i64>, email: &str, token: &str) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM password_reset_tokens
                        WHERE ifnull(client_id, 0) = ifnull(?1, 0) AND email = ?2 AND token_hash = ?3
                          AND expires_at > strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))",
        params![client_id, Email::normalise(email), tokens::digest(token)],
        |r| r.get(0),
    )
}

/// Drops expired tokens (the `prune` schedule).
pub fn prune_expired(conn: &Connection) -> rusqlite::Result<usize> {
    conn.execute("DELETE FROM password_reset_tokens WHERE expires_at <= strftime('%Y-%m-%dT%H:%M:%SZ', 'now')", [])
}

/// The `password_reset` job: finds the account, issues a token and mails it.
pub fn request(state: &AppState, client_id: Option<i64>, email: &str) -> Result<serde_json::Value, AppError> {
    let main = state.main.get()?;
    let (sender, account) = match client_id {
        None => {
            let user = super::users::find_for_login(&main, email)?.map(|(u, _)| (u.name, u.email));
            ("VergeFlow".to_string(), user)
        }
        Some(id) => {
            let client = crate::tenancy::lifecycle::require_served(&main, id)?;
            let db = state.tenancy.pools.checkout(id)?;
            let conn = db.get()?;
            let user = crate::customers::store::find_for_login(&conn, email)?.map(|(u, _)| (u.name, u.email));
            (client.name, user)
        }
    };
    let Some((name, address)) = account else {
        return Ok(serde_json::json!({ "outcome": "no_account" }));
    };
    let token = tokens::generate();
    store_token(&main, client_id, &address, &token)?;
    drop(main);
    let mail = templates::password_reset(
        &Addressing { client_id, sender: &sender, to: &address },
        &name,
        &address,
        &token,
        TOKEN_MINUTES,
    );
    let stored = crate::mail::Stored {
        id: 0,
        template: mail.template.to_string(),
        from_name: mail.from_name,
        to: mail.to,
        subject: mail.subject,
        text: mail.text,
        html: mail.html,
        status: "queued".into(),
    };
    let via = crate::mail::transport::deliver(&state.settings, &stored)
        .map_err(|e| AppError::unavailable("mail_not_sent", format!("the reset mail could not be sent: {e}")))?;
    tracing::info!(client_id, via, "password reset mail sent");
    Ok(serde_json::json!({ "outcome": "sent", "via": via }))
}
