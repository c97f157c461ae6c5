//! Two guards in front of everything that hashes a password, both in memory (a restart forgives):
//!
//! - [`PasswordRates`]: how often one address, and one shop, may ask for password work at all
//!   (sign-up, sign-in, shop creation): token buckets, refused with 429 and `Retry-After`.
//! - [`LoginThrottle`]: what failed sign-ins cost. Failures are counted per (account, address):
//!   the first [`FREE_FAILURES`] are free, then each further attempt from that address must wait a
//!   delay that doubles per failure up to [`MAX_DELAY`]. One address is also capped across all
//!   accounts ([`ADDRESS_LIMIT`] failures per [`WINDOW`]), and one account across all addresses
//!   ([`ACCOUNT_LIMIT`] per [`WINDOW`]) — but that last cap spares addresses the account signed in
//!   from before, so nobody can lock an owner out of their account from elsewhere.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::error::AppError;
use crate::state::AppState;

/// Failures one address may make on one account before delays start.
pub const FREE_FAILURES: u32 = 5;
/// The longest delay between two attempts of one (account, address).
pub const MAX_DELAY: Duration = Duration::from_secs(15 * 60);
/// Failures allowed from one address, over all accounts, within the window.
pub const ADDRESS_LIMIT: u32 = 20;
/// Failures allowed on one account from addresses it never signed in from, within the window.
pub const ACCOUNT_LIMIT: u32 = 100;
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// How long an address that signed in successfully stays known to its account.
const KNOWN_FOR: Duration = Duration::from_secs(30 * 24 * 3600);
/// Addresses remembered per account.
const KNOWN_PER_ACCOUNT: usize = 8;
/// Bound on the entries of each map, so an attacker churning names cannot grow memory.
const MAX_KEYS: usize = 100_000;

/// The keys one attempt is counted under.
pub struct AttemptKeys {
    account: String,
    address: String,
}

impl AttemptKeys {
    /// `scope` separates the main registry from each shop's customers. The e-mail is normalised
    /// like a stored one, so `A@B.C` and `a@b.c` are one account.
    pub fn new(scope: &str, email: &str, address: &str) -> Self {
        let email = super::Email::normalise(email);
        Self { account: format!("{scope}:{email}"), address: address.to_string() }
    }
}

struct Pair {
    failures: u32,
    last: Instant,
}

struct Count {
    failures: u32,
    started: Instant,
}

impl Count {
    fn live(&self, now: Instant) -> bool {
        now.duration_since(self.started) < WINDOW
    }
}

#[derive(Default)]
struct Tables {
    pairs: HashMap<(String, String), Pair>,
    addresses: HashMap<String, Count>,
    accounts: HashMap<String, Count>,
    known: HashMap<String, Vec<(String, Instant)>>,
}

impl Tables {
    /// True when the account signed in successfully from this address within [`KNOWN_FOR`].
    fn knows(&self, keys: &AttemptKeys, now: Instant) -> bool {
        self.known
            .get(&keys.account)
            .is_some_and(|list| list.iter().any(|(a, at)| *a == keys.address && now.duration_since(*at) < KNOWN_FOR))
    }
}

#[derive(Default)]
pub struct LoginThrottle {
    tables: Mutex<Tables>,
}

/// The delay after `failures` failures of one pair: none for the free ones, then 1 s, 2 s, 4 s …
fn delay_after(failures: u32) -> Duration {
    if failures < FREE_FAILURES {
        return Duration::ZERO;
    }
    let doublings = (failures - FREE_FAILURES).min(20);
    Duration::from_secs(1u64 << doublings).min(MAX_DELAY)
}

fn refuse(wait: Duration) -> AppError {
    AppError::TooManyRequests { code: "too_many_attempts", retry_after_secs: wait.as_secs().max(1) }
}

impl LoginThrottle {
    /// Refuses an attempt that must wait. Nothing is counted here.
    pub fn check(&self, keys: &AttemptKeys) -> Result<(), AppError> {
        let now = Instant::now();
        let t = self.tables.lock();
        if let Some(p) = t.pairs.get(&(keys.account.clone(), keys.address.clone())) {
            let ready = p.last + delay_after(p.failures);
            if ready > now {
                return Err(refuse(ready - now));
            }
        }
        if let Some(c) = t.addresses.get(&keys.address).filter(|c| c.live(now) && c.failures >= ADDRESS_LIMIT) {
            return Err(refuse(WINDOW - now.duration_since(c.started)));
        }
        if let Some(c) = t.accounts.get(&keys.account).filter(|c| c.live(now) && c.failures >= ACCOUNT_LIMIT)
            && !t.knows(keys, now)
        {
            return Err(refuse(WINDOW - now.duration_since(c.started)));
        }
        Ok(())
    }

    /// True when the account signed in successfully from this address in the last 30 days.
    pub fn is_known(&self, keys: &AttemptKeys) -> bool {
        self.tables.lock().knows(keys, Instant::now())
    }

    pub fn record_failure(&self, keys: &AttemptKeys) {
        let now = Instant::now();
        let mut t = self.tables.lock();
        if t.pairs.len() >= MAX_KEYS {
            t.pairs.retain(|_, p| now.duration_since(p.last) < MAX_DELAY.max(WINDOW));
        }
        let pair_key = (keys.account.clone(), keys.address.clone());
        if t.pairs.len() < MAX_KEYS || t.pairs.contains_key(&pair_key) {
            let p = t.pairs.entry(pair_key).or_insert(Pair { failures: 0, last: now });
            p.failures = p.failures.saturating_add(1);
            p.last = now;
        }
        count(&mut t.addresses, &keys.address, now);
        count(&mut t.accounts, &keys.account, now);
    }

    /// A successful sign-in clears the pair and makes the address known to the account.
    pub fn record_success(&self, keys: &AttemptKeys) {
        let now = Instant::now();
        let mut t = self.tables.lock();
        t.pairs.remove(&(keys.account.clone(), keys.address.clone()));
        if t.known.len() >= MAX_KEYS {
            t.known.retain(|_, list| list.iter().any(|(_, at)| now.duration_since(*at) < KNOWN_FOR));
        }
        if t.known.len() < MAX_KEYS || t.known.contains_key(&keys.account) {
            let list = t.known.entry(keys.account.clone()).or_default();
            list.retain(|(a, _)| *a != keys.address);
            list.push((keys.address.clone(), now));
            if list.len() > KNOWN_PER_ACCOUNT {
                list.remove(0);
            }
        }
    }
}

fn count(map: &mut HashMap<String, Count>, key: &str, now: Instant) {
    if map.len() >= MAX_KEYS {
        map.retain(|_, c| c.live(now));
    }
    if map.len() >= MAX_KEYS && !map.contains_key(key) {
        return;
    }
    let c = map.entry(key.to_string()).or_insert(Count { failures: 0, started: now });
    if !c.live(now) {
        *c = Count { failures: 0, started: now };
    }
    c.failures = c.failures.saturating_add(1);
}

/// Token buckets: each key may spend `per_minute` at once and earns them back over a minute.
pub struct RateLimiter {
    per_minute: u32,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl RateLimiter {
    pub fn per_minute(per_minute: u32) -> Self {
        Self { per_minute: per_minute.max(1), buckets: Mutex::new(HashMap::new()) }
    }

    /// Takes one token for `key`, or says how many seconds until one is there.
    pub fn take(&self, key: &str) -> Result<(), u64> {
        let now = Instant::now();
        let capacity = f64::from(self.per_minute);
        let per_sec = capacity / 60.0;
        let mut buckets = self.buckets.lock();
        if buckets.len() >= MAX_KEYS {
            // Full buckets carry no information: forget them.
            buckets.retain(|_, (tokens, at)| *tokens + now.duration_since(*at).as_secs_f64() * per_sec < capacity);
        }
        let (tokens, at) = buckets.entry(key.to_string()).or_insert((capacity, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * per_sec).min(capacity);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - *tokens) / per_sec).ceil().max(1.0) as u64)
        }
    }
}

/// How often password work may be asked for, per address and per scope (a shop, or `main`).
pub struct PasswordRates {
    per_address: RateLimiter,
    per_scope: RateLimiter,
}

impl PasswordRates {
    pub fn new(per_address_per_minute: u32, per_scope_per_minute: u32) -> Self {
        Self {
            per_address: RateLimiter::per_minute(per_address_per_minute),
            per_scope: RateLimiter::per_minute(per_scope_per_minute),
        }
    }

    /// Admits one request that will hash or verify a password, or answers 429 `rate_limited`
    /// (after [`paused`]). `scope` is `None` for a sign-in from an address its account signed in
    /// from before: the per-scope cap must not let a flood from elsewhere lock owners out.
    pub async fn admit(&self, scope: Option<&str>, address: &str) -> Result<(), AppError> {
        let taken = self
            .per_address
            .take(address)
            .and_then(|()| scope.map_or(Ok(()), |scope| self.per_scope.take(scope)))
            .map_err(|secs| AppError::TooManyRequests { code: "rate_limited", retry_after_secs: secs });
        paused(taken).await
    }
}

/// How often "forgot password" may be asked: per address (429 beyond) and per account (quietly
/// not mailed beyond, so the answer never tells whether the account exists).
pub struct ResetRates {
    pub per_address: RateLimiter,
    pub per_account: RateLimiter,
}

impl Default for ResetRates {
    fn default() -> Self {
        Self { per_address: RateLimiter::per_minute(10), per_account: RateLimiter::per_minute(2) }
    }
}

/// Everything a sign-in passes before it may hash: the failure throttle for its (account,
/// address), then the rate limits of its scope and address.
pub async fn admit_sign_in(state: &AppState, scope: &str, keys: &AttemptKeys) -> Result<(), AppError> {
    paused(state.throttle.check(keys)).await?;
    let scope = (!state.throttle.is_known(keys)).then_some(scope);
    state.password_rates.admit(scope, &keys.address).await
}

/// The longest a refusal is held back.
pub const REFUSAL_PAUSE: Duration = Duration::from_secs(1);

/// Holds a 429 back for up to [`REFUSAL_PAUSE`] (never longer than its `Retry-After`, which it
/// shortens by the pause). A client that honours `Retry-After` would wait at least that long
/// anyway; a flood that ignores it no longer gets refusals as fast as it can send, and so cannot
/// spend the CPU the other shops' requests need (measured in the bench's W8: a 64-connection
/// sign-up flood took W1 from 56k to 21k req/s when refused at once). The pause holds a timer
/// and the connection, no thread and no hashing memory.
pub async fn paused<T>(result: Result<T, AppError>) -> Result<T, AppError> {
    match result {
        Err(AppError::TooManyRequests { code, retry_after_secs }) => {
            let pause = Duration::from_secs(retry_after_secs).min(REFUSAL_PAUSE);
            actix_web::rt::time::sleep(pause).await;
            let left = retry_after_secs.saturating_sub(pause.as_secs()).max(1);
            Err(AppError::TooManyRequests { code, retry_after_secs: left })
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(email: &str, addr: &str) -> AttemptKeys {
        AttemptKeys::new("main", email, addr)
    }

    #[test]
    fn failures_from_many_addresses_do_not_lock_the_owner_out() {
        let t = LoginThrottle::default();
        for i in 0..FREE_FAILURES * 3 {
            let k = keys("a@b.c", &format!("10.0.0.{i}"));
            t.check(&k).unwrap();
            t.record_failure(&k);
        }
        t.check(&keys("A@B.C", "10.0.1.1")).unwrap();
    }

    #[test]
    fn one_address_waits_longer_after_each_failure() {
        let t = LoginThrottle::default();
        let k = keys("a@b.c", "10.0.0.1");
        for _ in 0..FREE_FAILURES {
            t.check(&k).unwrap();
            t.record_failure(&k);
        }
        assert!(matches!(t.check(&k), Err(AppError::TooManyRequests { .. })));
        assert_eq!(delay_after(FREE_FAILURES), Duration::from_secs(1));
        assert_eq!(delay_after(FREE_FAILURES + 3), Duration::from_secs(8));
        assert_eq!(delay_after(FREE_FAILURES + 40), MAX_DELAY);
        // Another account from the same address is not affected.
        t.check(&keys("other@b.c", "10.0.0.1")).unwrap();
    }

    #[test]
    fn the_account_cap_spares_known_addresses() {
        let t = LoginThrottle::default();
        t.record_success(&keys("a@b.c", "10.9.9.9"));
        for i in 0..ACCOUNT_LIMIT {
            t.record_failure(&keys("a@b.c", &format!("10.1.{}.{}", i / 250, i % 250)));
        }
        assert!(t.check(&keys("a@b.c", "10.2.0.1")).is_err(), "an unknown address is capped");
        t.check(&keys("a@b.c", "10.9.9.9")).unwrap();
    }

    #[test]
    fn token_buckets_refill() {
        let r = RateLimiter::per_minute(2);
        r.take("x").unwrap();
        r.take("x").unwrap();
        let wait = r.take("x").unwrap_err();
        assert!((1..=30).contains(&wait), "{wait}");
        r.take("y").unwrap();
    }
}
