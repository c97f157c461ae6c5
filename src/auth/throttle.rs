//! Failed sign-ins are counted per account and per address; past the limit, sign-in answers 429
//! until the window passes, even with the right password. Kept in memory: a restart forgives.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::error::AppError;

/// Failures allowed on one account within the window.
pub const ACCOUNT_LIMIT: u32 = 5;
/// Failures allowed from one address within the window.
pub const ADDRESS_LIMIT: u32 = 20;
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
const MAX_KEYS: usize = 100_000;

struct Window {
    failures: u32,
    started: Instant,
}

#[derive(Default)]
pub struct LoginThrottle {
    windows: Mutex<HashMap<String, Window>>,
}

/// The keys one attempt is counted under.
pub struct AttemptKeys {
    pub account: String,
    pub address: String,
}

impl AttemptKeys {
    /// `scope` separates the main registry from each shop's customers.
    pub fn new(scope: &str, email: &str, address: &str) -> Self {
        Self { account: format!("acct:{scope}:{}", email.trim().to_lowercase()), address: format!("addr:{address}") }
    }
}

impl LoginThrottle {
    /// Refuses an attempt while either key is over its limit.
    pub fn check(&self, keys: &AttemptKeys) -> Result<(), AppError> {
        let windows = self.windows.lock();
        for (key, limit) in [(&keys.account, ACCOUNT_LIMIT), (&keys.address, ADDRESS_LIMIT)] {
            if let Some(w) = windows.get(key) {
                let age = w.started.elapsed();
                if age < WINDOW && w.failures >= limit {
                    return Err(AppError::TooManyRequests { retry_after_secs: (WINDOW - age).as_secs().max(1) });
                }
            }
        }
        Ok(())
    }

    pub fn record_failure(&self, keys: &AttemptKeys) {
        let mut windows = self.windows.lock();
        if windows.len() >= MAX_KEYS {
            windows.retain(|_, w| w.started.elapsed() < WINDOW);
        }
        for key in [&keys.account, &keys.address] {
            let w = windows.entry(key.clone()).or_insert(Window { failures: 0, started: Instant::now() });
            if w.started.elapsed() >= WINDOW {
                *w = Window { failures: 0, started: Instant::now() };
            }
            w.failures += 1;
        }
    }

    /// A successful sign-in clears the account's count (not the address's).
    pub fn record_success(&self, keys: &AttemptKeys) {
        self.windows.lock().remove(&keys.account);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_an_account_after_the_limit_from_any_address() {
        let t = LoginThrottle::default();
        for i in 0..ACCOUNT_LIMIT {
            let keys = AttemptKeys::new("main", "a@b.c", &format!("10.0.0.{i}"));
            t.check(&keys).unwrap();
            t.record_failure(&keys);
        }
        let err = t.check(&AttemptKeys::new("main", "A@B.C", "10.0.0.99")).unwrap_err();
        assert!(matches!(err, AppError::TooManyRequests { .. }));
        t.check(&AttemptKeys::new("main", "other@b.c", "10.0.0.99")).unwrap();
    }
}
