//! Argon2id with OWASP's parameters (m = 19 MiB, t = 2, p = 1): the argon2 crate's defaults.
//! Hashing takes tens of milliseconds, so callers run it off the async workers.

use std::sync::OnceLock;

use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier};

use crate::error::AppError;

/// 8 to 1,024 bytes: long passphrases welcome, absurd bodies not.
pub fn validate(password: &str) -> Result<(), String> {
    if password.chars().count() < 8 {
        return Err("must be at least 8 characters".into());
    }
    if password.len() > 1024 {
        return Err("must be at most 1024 bytes".into());
    }
    Ok(())
}

pub fn hash(password: &str) -> Result<String, AppError> {
    let hash: PasswordHash = hasher()
        .hash_password(password.as_bytes())
        .map_err(|e| AppError::Internal(anyhow::anyhow!("hashing a password: {e}")))?;
    Ok(hash.to_string())
}

#[cfg(not(feature = "bench-hooks"))]
fn hasher() -> Argon2<'static> {
    Argon2::default()
}

/// Benchmark builds only: `VERGEFLOW_BENCH_CHEAP_PASSWORD_HASH=1` selects m = 8 KiB, t = 1.
#[cfg(feature = "bench-hooks")]
fn hasher() -> Argon2<'static> {
    static CHEAP: OnceLock<bool> = OnceLock::new();
    if *CHEAP.get_or_init(|| std::env::var("VERGEFLOW_BENCH_CHEAP_PASSWORD_HASH").is_ok_and(|v| v == "1")) {
        let params = argon2::Params::new(8, 1, 1, None).expect("valid argon2 parameters");
        return Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    }
    Argon2::default()
}

/// True when `password` matches `stored`: an Argon2 hash, or a bcrypt hash imported from the
/// original system (`vergeflow import`; replaced by Argon2id at the first successful sign-in, see
/// [`is_legacy`]). A malformed stored hash never matches.
pub fn verify(password: &str, stored: &str) -> bool {
    if is_legacy(stored) {
        return bcrypt::verify(password, stored).unwrap_or(false);
    }
    PasswordHash::new(stored).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

/// A bcrypt hash (`$2a$`, `$2b$`, `$2x$`, `$2y$`): what the original system stored.
pub fn is_legacy(stored: &str) -> bool {
    stored.len() == 60 && ["$2a$", "$2b$", "$2x$", "$2y$"].iter().any(|p| stored.starts_with(p))
}

/// Burns the same time as a real check, so an unknown e-mail cannot be told from a wrong password.
pub fn verify_dummy(password: &str) {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let stored = DUMMY.get_or_init(|| hash("not-a-real-password-ever").unwrap_or_default());
    let _ = verify(password, stored);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_and_verifies() {
        let h = hash("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify("correct horse", &h));
        assert!(!verify("wrong horse", &h));
        assert!(!verify("correct horse", "garbage"));
    }
}
