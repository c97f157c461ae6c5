//! Bearer tokens: 32 random bytes shown once; only their SHA-256 is stored.

use std::time::Duration;

use rand::RngExt;
use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};

const PREFIX: &str = "vf_";

/// A freshly issued token: the secret (shown once) and its expiry.
pub struct IssuedToken {
    pub token: String,
    pub expires_at: String,
}

pub fn generate() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    let mut s = String::with_capacity(PREFIX.len() + 64);
    s.push_str(PREFIX);
    for b in bytes {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

pub fn digest(token: &str) -> String {
    Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// Cheap shape check before any database work.
pub fn looks_valid(token: &str) -> bool {
    token.len() == PREFIX.len() + 64
        && token.starts_with(PREFIX)
        && token[PREFIX.len()..].bytes().all(|b| b.is_ascii_hexdigit())
}

/// Whose token it is.
pub enum Owner {
    MainUser(i64),
    Customer { client_id: i64, customer_id: i64 },
}

pub fn issue(conn: &Connection, owner: Owner, ttl: Duration) -> rusqlite::Result<IssuedToken> {
    let token = generate();
    let (user_id, client_id, customer_id) = match owner {
        Owner::MainUser(id) => (Some(id), None, None),
        Owner::Customer { client_id, customer_id } => (None, Some(client_id), Some(customer_id)),
    };
    let expires_at: String = conn.query_row(
        "INSERT INTO personal_access_tokens (user_id, client_id, customer_id, token_hash, expires_at)
         VALUES (?1, ?2, ?3, ?4, strftime('%Y-%m-%dT%H:%M:%SZ', 'now', ?5))
         RETURNING expires_at",
        params![user_id, client_id, customer_id, digest(&token), format!("+{} seconds", ttl.as_secs())],
        |r| r.get(0),
    )?;
    Ok(IssuedToken { token, expires_at })
}

/// A token row that is valid now.
pub struct TokenRow {
    pub id: i64,
    pub user_id: Option<i64>,
    pub role: Option<String>,
    pub user_client_id: Option<i64>,
    pub client_id: Option<i64>,
    pub customer_id: Option<i64>,
    /// An API token's abilities (JSON list); `None` for a session, which may do all its user may.
    pub abilities: Option<String>,
}

pub fn find_valid(conn: &Connection, token: &str) -> rusqlite::Result<Option<TokenRow>> {
    conn.prepare_cached(
        "SELECT t.id, t.user_id, u.role, u.client_id, t.client_id, t.customer_id,
                CASE t.purpose WHEN 'api' THEN t.abilities END
         FROM personal_access_tokens t LEFT JOIN users u ON u.id = t.user_id
         WHERE t.token_hash = ?1 AND t.expires_at > strftime('%Y-%m-%dT%H:%M:%SZ', 'now')",
    )?
    .query_row([digest(token)], |r| {
        Ok(TokenRow {
            id: r.get(0)?,
            user_id: r.get(1)?,
            role: r.get(2)?,
            user_client_id: r.get(3)?,
            client_id: r.get(4)?,
            customer_id: r.get(5)?,
            abilities: r.get(6)?,
        })
    })
    .optional()
}

pub fn revoke(conn: &Connection, token_id: i64) -> rusqlite::Result<()> {
    conn.execute("DELETE FROM personal_access_tokens WHERE id = ?1", [token_id])?;
    Ok(())
}

/// Drops expired tokens (run by the maintenance loop).
pub fn purge_expired(conn: &Connection) -> rusqlite::Result<usize> {
    conn.execute("DELETE FROM personal_access_tokens WHERE expires_at <= strftime('%Y-%m-%dT%H:%M:%SZ', 'now')", [])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_checked() {
        let a = generate();
        assert!(looks_valid(&a));
        assert_ne!(a, generate());
        assert!(!looks_valid("vf_xyz"));
        assert_eq!(digest(&a).len(), 64);
    }
}
