//! Main-registry users: super admins and shop admins.

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

/// A main user as the API shows it (never the hash).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct MainUser {
    pub id: i64,
    pub name: String,
    pub email: String,
    #[schemars(with = "Role")]
    pub role: String,
    pub client_id: Option<i64>,
    pub created_at: String,
}

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<MainUser> {
    Ok(MainUser {
        id: r.get(0)?,
        name: r.get(1)?,
        email: r.get(2)?,
        role: r.get(3)?,
        client_id: r.get(4)?,
        created_at: r.get(5)?,
    })
}

pub fn find(conn: &Connection, id: i64) -> rusqlite::Result<Option<MainUser>> {
    conn.query_row("SELECT id, name, email, role, client_id, created_at FROM users WHERE id = ?1", [id], from_row)
        .optional()
}

/// The user and their password hash, for sign-in, by the address as typed (normalised here; an
/// address stored before normalisation is still found by its old form).
pub fn find_for_login(conn: &Connection, email: &str) -> rusqlite::Result<Option<(MainUser, String)>> {
    let (normal, legacy) = (super::Email::normalise(email), super::Email::legacy_form(email));
    conn.query_row(
        "SELECT id, name, email, role, client_id, created_at, password_hash FROM users
         WHERE email IN (?1, ?2) ORDER BY email = ?1 DESC LIMIT 1",
        [normal, legacy],
        |r| Ok((from_row(r)?, r.get(6)?)),
    )
    .optional()
}

pub fn insert_admin(
    conn: &Connection,
    client_id: i64,
    name: &str,
    email: &str,
    password_hash: &str,
) -> rusqlite::Result<i64> {
    conn.execute(
        "INSERT INTO users (name, email, password_hash, role, client_id) VALUES (?1, ?2, ?3, 'admin', ?4)",
        params![name, email, password_hash, client_id],
    )?;
    Ok(conn.last_insert_rowid())
}

pub fn insert_super_admin(conn: &Connection, name: &str, email: &str, password_hash: &str) -> rusqlite::Result<i64> {
    conn.execute(
        "INSERT INTO users (name, email, password_hash, role) VALUES (?1, ?2, ?3, 'super_admin')",
        params![name, email, password_hash],
    )?;
    Ok(conn.last_insert_rowid())
}

pub fn count_super_admins(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("SELECT COUNT(*) FROM users WHERE role = 'super_admin'", [], |r| r.get(0))
}

/// Replaces a main user's stored hash with a new hash of the same password (an imported bcrypt
/// hash upgraded at sign-in); tokens stay valid.
pub fn set_password_hash(conn: &Connection, user_id: i64, password_hash: &str) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE users SET password_hash = ?2, updated_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') WHERE id = ?1",
        params![user_id, password_hash],
    )?;
    Ok(())
}

/// Sets a main user's password (already hashed) and revokes every token the user holds, in one
/// transaction. Returns false when no user has that e-mail (normalised as at sign-in).
pub fn reset_password(conn: &mut Connection, email: &str, password_hash: &str) -> rusqlite::Result<bool> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let Some((user, _)) = find_for_login(&tx, email)? else { return Ok(false) };
    tx.execute(
        "UPDATE users SET password_hash = ?2, updated_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') WHERE id = ?1",
        params![user.id, password_hash],
    )?;
    tx.execute("DELETE FROM personal_access_tokens WHERE user_id = ?1", [user.id])?;
    tx.commit()?;
    Ok(true)
}

/// True when a main user (super admin or shop admin) has this e-mail, in either stored form.
pub fn email_taken(conn: &Connection, email: &str) -> rusqlite::Result<bool> {
    Ok(find_for_login(conn, email)?.is_some())
}

/// A main user's role, as the API document lists it (stored as text).
#[derive(schemars::JsonSchema)]
#[schemars(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum Role {
    SuperAdmin,
    Admin,
}

/// A shop admin as an export carries them: enough to sign in on another server.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct PortableAdmin {
    pub name: String,
    pub email: String,
    pub password_hash: String,
}

/// The admins of one shop, oldest first.
pub fn admins_of(conn: &Connection, client_id: i64) -> rusqlite::Result<Vec<PortableAdmin>> {
    conn.prepare("SELECT name, email, password_hash FROM users WHERE role = 'admin' AND client_id = ?1 ORDER BY id")?
        .query_map([client_id], |r| Ok(PortableAdmin { name: r.get(0)?, email: r.get(1)?, password_hash: r.get(2)? }))?
        .collect()
}
