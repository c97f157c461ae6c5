//! First-start setup kept in main.db: the first super admin and the session signing key.

use actix_web::cookie::Key;
use rand::RngExt;
use rusqlite::{Connection, OptionalExtension};

use crate::auth::{Email, password, users};
use crate::config::Settings;

/// Creates the first super admin when there is none; prints a generated password once.
pub fn ensure_super_admin(conn: &Connection, settings: &Settings) -> anyhow::Result<()> {
    if users::count_super_admins(conn)? > 0 {
        if settings.admin_password.is_some() {
            tracing::warn!(
                "VERGEFLOW_ADMIN_PASSWORD is set but not used: it only applies when main.db has no super admin yet; \
                 to change a password use `vergeflow admins reset-password EMAIL`"
            );
        }
        return Ok(());
    }
    let email = Email::parse(&settings.admin_email).map_err(|e| anyhow::anyhow!("VERGEFLOW_ADMIN_EMAIL {e}"))?;
    let (password, generated) = match &settings.admin_password {
        Some(p) => {
            password::validate(p).map_err(|e| anyhow::anyhow!("VERGEFLOW_ADMIN_PASSWORD {e}"))?;
            (p.clone(), false)
        }
        None => (random_password(), true),
    };
    let hash = password::hash(&password)?;
    users::insert_super_admin(conn, "Super Admin", email.as_str(), &hash)?;
    tracing::info!(email = email.as_str(), "created the first super admin");
    if generated {
        crate::telemetry::announce(
            settings.log_format,
            &format!(
                "\n  First start: super admin created.\n    e-mail:   {}\n    password: {password}\n  This password is shown only once.\n",
                email.as_str()
            ),
            "first start: super admin created; this password is shown only once",
            serde_json::json!({"email": email.as_str(), "password": password}),
        );
    }
    Ok(())
}

/// 20 characters from an alphabet without look-alikes.
pub fn random_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    (0..20).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char).collect()
}

/// The key that signs session cookies: made once, kept in `settings`, so sessions survive restarts.
pub fn session_key(conn: &Connection) -> anyhow::Result<Key> {
    let stored: Option<String> =
        conn.query_row("SELECT value FROM settings WHERE key = 'session_key'", [], |r| r.get(0)).optional()?;
    let hex = match stored {
        Some(hex) => hex,
        None => {
            let bytes: [u8; 64] = rand::rng().random();
            let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            conn.execute("INSERT OR IGNORE INTO settings (key, value) VALUES ('session_key', ?1)", [&hex])?;
            conn.query_row("SELECT value FROM settings WHERE key = 'session_key'", [], |r| r.get(0))?
        }
    };
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2).unwrap_or("zz"), 16))
        .collect::<Result<_, _>>()
        .map_err(|_| anyhow::anyhow!("the stored session key is not hex"))?;
    crate::startup::key_from_bytes(&bytes)
}
