//! Per-shop quotas — storage, products, requests per second — and what a shop uses.
//!
//! Storage is enforced by SQLite (`max_page_count` on every connection to the shop's file: a write
//! past it is 507 `storage_full`), products at creation (422 `quota_exceeded`), requests by a
//! [`Pace`] per open shop checked when a request's shop is resolved (429 `rate_limited` with
//! `Retry-After`), so one busy shop cannot take every worker from the others.

pub mod routes;

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// A shop's quotas; `null` follows the server's default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Quotas {
    /// Largest size of the shop's file, MiB (default `VERGEFLOW_MAX_SHOP_MB`).
    pub max_storage_mb: Option<i64>,
    /// Most products the shop may have (default: no limit).
    pub max_products: Option<i64>,
    /// Requests per second (default `VERGEFLOW_SHOP_RPS`).
    pub requests_per_second: Option<i64>,
}

/// What a shop uses now.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Usage {
    /// The shop's file and its WAL.
    pub storage_bytes: u64,
    /// Null when the shop's file cannot be read now (being migrated, restored or deleted).
    pub products: Option<i64>,
    pub orders: Option<i64>,
    /// Requests answered for the shop in the last 24 hours (counted since this server started).
    pub requests_24h: u64,
}

/// A shop's request pace (GCRA, the token bucket as one number): `rps` requests a second, with at
/// most a second's worth in a burst. One atomic per open shop, kept with its pool; a shop whose pool
/// was closed starts again with a full second.
#[derive(Default)]
pub struct Pace {
    /// When the bucket would be empty again, nanoseconds since [`epoch`].
    tat: AtomicU64,
}

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

impl Pace {
    /// Takes one request's token, or says how long to wait for one (429 `rate_limited`).
    pub fn admit(&self, rps: u32) -> Result<(), AppError> {
        const SECOND: u64 = 1_000_000_000;
        let now = epoch().elapsed().as_nanos() as u64;
        let interval = SECOND / u64::from(rps.max(1));
        let tolerance = SECOND.saturating_sub(interval);
        let mut tat = self.tat.load(Ordering::Relaxed);
        loop {
            let start = tat.max(now);
            if start - now > tolerance {
                let wait = (start - now - tolerance).div_ceil(SECOND).max(1);
                return Err(AppError::TooManyRequests { code: "rate_limited", retry_after_secs: wait });
            }
            match self.tat.compare_exchange_weak(tat, start + interval, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return Ok(()),
                Err(seen) => tat = seen,
            }
        }
    }
}

/// `(client id, MiB)` of every shop with its own storage quota.
pub fn storage_quotas(main: &rusqlite::Connection) -> rusqlite::Result<Vec<(i64, u64)>> {
    main.prepare("SELECT id, max_storage_mb FROM clients WHERE max_storage_mb IS NOT NULL")?
        .query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)?.max(1) as u64)))?
        .collect()
}

/// Storage usage of a shop file: the database and its WAL.
pub fn storage_bytes(path: &std::path::Path) -> u64 {
    crate::tenancy::files::family(path).iter().take(2).filter_map(|p| std::fs::metadata(p).ok()).map(|m| m.len()).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pace_allows_a_seconds_burst_then_refills_at_the_rate() {
        let (pace, other) = (Pace::default(), Pace::default());
        for _ in 0..5 {
            pace.admit(5).unwrap();
        }
        match pace.admit(5) {
            Err(AppError::TooManyRequests { code: "rate_limited", retry_after_secs: 1 }) => {}
            other => panic!("{other:?}"),
        }
        other.admit(5).expect("another shop has its own pace");
        std::thread::sleep(std::time::Duration::from_millis(250));
        pace.admit(5).expect("a token came back after 200 ms");
        assert!(pace.admit(5).is_err(), "and only one");
    }
}
