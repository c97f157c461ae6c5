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
    let via = crate::mail::transport::deliver(&state.settings, 0, &mail)
        .map_err(|e| AppError::unavailable("mail_not_sent", format!("the reset mail could not be sent: {e}")))?;
    tracing::info!(client_id, via, "password reset mail sent");
    Ok(serde_json::json!({ "outcome": "sent", "via": via }))
}

/// The body of both `forgot` endpoints.
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[schemars(example = serde_json::json!({"email": "ada@example.com"}))]
pub struct ForgotBody {
    pub email: String,
}

/// The body of both `reset` endpoints.
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[schemars(example = serde_json::json!({"email": "ada@example.com", "token": "vf_3f…", "password": "a new long password"}))]
pub struct ResetBody {
    pub email: String,
    pub token: String,
    #[schemars(length(min = 8, max = 1024))]
    pub password: String,
}

/// The 202 both `forgot` endpoints answer, whatever the address.
#[derive(serde::Serialize, schemars::JsonSchema)]
pub struct ForgotAccepted {
    pub message: &'static str,
}

/// Throttles and queues a `password_reset` job; the answer is the same for every address.
pub async fn forgot(
    state: &AppState,
    address: &str,
    client_id: Option<i64>,
    email: &str,
) -> Result<actix_web::HttpResponse, AppError> {
    let email = email.trim();
    if email.is_empty() || email.len() > 254 {
        return Err(AppError::invalid_field("email", "must be 1 to 254 characters"));
    }
    let taken = state
        .reset_rates
        .per_address
        .take(address)
        .map_err(|secs| AppError::TooManyRequests { code: "rate_limited", retry_after_secs: secs });
    super::throttle::paused(taken).await?;
    let account = format!("{}:{}", client_id.unwrap_or(0), Email::normalise(email));
    if state.reset_rates.per_account.take(&account).is_ok() {
        let task = crate::jobs::Task::PasswordReset { client_id, email: email.to_string() };
        state.main.run(move |c| crate::jobs::enqueue(c, &task)).await?;
    } else {
        tracing::info!(client_id, "password reset asked again too soon for one account; not mailed");
    }
    Ok(actix_web::HttpResponse::Accepted()
        .json(ForgotAccepted { message: "if an account with that e-mail exists, a reset token is on its way" }))
}

fn invalid_token() -> AppError {
    AppError::unprocessable("invalid_token", "the reset token is wrong, used or expired; ask for a new one")
}

/// Checks a reset body before any password work: the new password's rules, the token's shape and
/// whether it is (still) valid.
pub async fn check(state: &AppState, client_id: Option<i64>, body: &ResetBody) -> Result<(), AppError> {
    super::password::validate(&body.password).map_err(|e| AppError::invalid_field("password", e))?;
    if !tokens::looks_valid(body.token.trim()) {
        return Err(invalid_token());
    }
    let (email, token) = (body.email.clone(), body.token.trim().to_string());
    if !state.main.run(move |c| Ok(is_valid(c, client_id, &email, &token)?)).await? {
        return Err(invalid_token());
    }
    Ok(())
}

/// Resets a main user's password: consumes the token, sets the hash and revokes every token of
/// the user, in one transaction.
pub fn reset_main_user(conn: &mut Connection, email: &str, token: &str, hash: &str) -> Result<(), AppError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    if !consume(&tx, None, email, token)? {
        return Err(invalid_token());
    }
    let Some((user, _)) = super::users::find_for_login(&tx, email)? else { return Err(invalid_token()) };
    tx.execute(
        "UPDATE users SET password_hash = ?2, updated_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') WHERE id = ?1",
        params![user.id, hash],
    )?;
    tx.execute("DELETE FROM personal_access_tokens WHERE user_id = ?1", [user.id])?;
    tx.commit()?;
    tracing::info!(user_id = user.id, "password reset; every token of the user revoked");
    Ok(())
}

/// Consumes a customer's token (main.db); the caller then sets the password in the shop file
/// and revokes the customer's tokens with [`revoke_customer_tokens`].
pub fn consume_for_customer(conn: &Connection, client_id: i64, email: &str, token: &str) -> Result<(), AppError> {
    if consume(conn, Some(client_id), email, token)? { Ok(()) } else { Err(invalid_token()) }
}

pub fn revoke_customer_tokens(conn: &Connection, client_id: i64, customer_id: i64) -> rusqlite::Result<usize> {
    conn.execute(
        "DELETE FROM personal_access_tokens WHERE client_id = ?1 AND customer_id = ?2",
        params![client_id, customer_id],
    )
}
