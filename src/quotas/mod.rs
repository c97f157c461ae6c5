//! Per-shop quotas — storage, products, requests per second — and what a shop uses.
//!
//! Storage is enforced by SQLite (`max_page_count` on every connection to the shop's file: a write
//! past it is 507 `storage_full`), products at creation (422 `quota_exceeded`), requests by a token
//! bucket per shop checked when a request's shop is resolved (429 `rate_limited` with
//! `Retry-After`), so one busy shop cannot take every worker from the others.

pub mod routes;

use std::collections::HashMap;
use std::time::Instant;

use parking_lot::Mutex;
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

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// One token bucket per rate-limited shop: `rps` tokens a second, at most a second's worth saved.
#[derive(Default)]
pub struct RateLimits {
    buckets: Mutex<HashMap<i64, Bucket>>,
}

const MAX_BUCKETS: usize = 100_000;

impl RateLimits {
    /// Takes a token for one request of `client_id`, or says how long to wait for one.
    pub fn admit(&self, client_id: i64, rps: u32) -> Result<(), AppError> {
        let rate = f64::from(rps.max(1));
        let now = Instant::now();
        let mut buckets = self.buckets.lock();
        if buckets.len() >= MAX_BUCKETS && !buckets.contains_key(&client_id) {
            buckets.clear();
        }
        let b = buckets.entry(client_id).or_insert(Bucket { tokens: rate, at: now });
        b.tokens = (b.tokens + now.duration_since(b.at).as_secs_f64() * rate).min(rate);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            return Ok(());
        }
        let wait = ((1.0 - b.tokens) / rate).ceil().max(1.0) as u64;
        Err(AppError::TooManyRequests { code: "rate_limited", retry_after_secs: wait })
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
    fn a_bucket_allows_a_seconds_burst_then_refills_at_the_rate() {
        let limits = RateLimits::default();
        for _ in 0..5 {
            limits.admit(1, 5).unwrap();
        }
        match limits.admit(1, 5) {
            Err(AppError::TooManyRequests { code: "rate_limited", retry_after_secs: 1 }) => {}
            other => panic!("{other:?}"),
        }
        limits.admit(2, 5).expect("another shop has its own bucket");
        std::thread::sleep(std::time::Duration::from_millis(250));
        limits.admit(1, 5).expect("a token came back after 200 ms");
    }
}
