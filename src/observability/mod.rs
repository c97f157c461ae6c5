//! What the server tells its operator: request metrics (latency histograms by route template and
//! status class, per-shop counts for the busiest shops) kept here and rendered at `/metrics` with
//! the registry's, the job queue's, the pools' and the process's figures; `/health` and `/ready`.

pub mod routes;

use std::cell::Cell;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use parking_lot::Mutex;

/// Upper bounds of the latency buckets, seconds.
const BUCKETS: [f64; 14] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// Shops listed by name in the per-shop metrics; the rest are summed as `other`.
pub const TOP_SHOPS: usize = 20;
/// Shops tracked one by one at most; past it new shops count only towards `other`.
const MAX_TRACKED_SHOPS: usize = 20_000;

#[derive(Default, Clone)]
struct Histogram {
    /// Per bucket (not cumulative), the last one is +Inf.
    counts: [u64; BUCKETS.len() + 1],
    sum_seconds: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        let at = BUCKETS.iter().position(|b| seconds <= *b).unwrap_or(BUCKETS.len());
        self.counts[at] += 1;
        self.sum_seconds += seconds;
        self.count += 1;
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        for (i, bound) in BUCKETS.iter().enumerate() {
            cumulative += self.counts[i];
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{bound}\"}} {cumulative}");
        }
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {}", self.count);
        let _ = writeln!(out, "{name}_sum{{{labels}}} {}", self.sum_seconds);
        let _ = writeln!(out, "{name}_count{{{labels}}} {}", self.count);
    }
}

#[derive(Default, Clone, Copy)]
struct ShopTotals {
    requests: u64,
    seconds: f64,
    /// Requests per hour of the last 24: `(hour since the epoch, count)` at `hour % 24`.
    hours: [(u32, u32); 24],
}

fn hour_now() -> u32 {
    (SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs()) / 3600) as u32
}

#[derive(Default)]
struct Shops {
    by_id: HashMap<i64, ShopTotals>,
    /// Shops past `MAX_TRACKED_SHOPS`.
    untracked: ShopTotals,
}

/// The route template a request matched (`/api/shop/products/{id}`), recorded in its extensions
/// when actix matches it (see `openapi::Api::route`).
#[derive(Debug, Clone, Copy)]
pub struct RouteTemplate(pub &'static str);

/// Request figures since start.
pub struct Metrics {
    started: Instant,
    started_unix: f64,
    /// By (route template, method, status class).
    routes: Mutex<HashMap<(&'static str, actix_web::http::Method, u16), Histogram>>,
    shops: Mutex<Shops>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            started: Instant::now(),
            started_unix: SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64()),
            routes: Mutex::default(),
            shops: Mutex::default(),
        }
    }
}

impl Metrics {
    /// Records one answered request: `route` is its template (`/api/shop/products/{id}`), `None`
    /// when no route matched.
    pub fn observe(
        &self,
        route: Option<&'static str>,
        method: &actix_web::http::Method,
        status: u16,
        client_id: Option<i64>,
        took: Duration,
    ) {
        let seconds = took.as_secs_f64();
        let key = (route.unwrap_or("unmatched"), method.clone(), status / 100);
        self.routes.lock().entry(key).or_default().observe(seconds);
        if let Some(id) = client_id {
            let mut shops = self.shops.lock();
            let tracked = shops.by_id.len() < MAX_TRACKED_SHOPS || shops.by_id.contains_key(&id);
            let totals = if tracked { shops.by_id.entry(id).or_default() } else { &mut shops.untracked };
            totals.requests += 1;
            totals.seconds += seconds;
            let hour = hour_now();
            let slot = &mut totals.hours[hour as usize % 24];
            if slot.0 != hour {
                *slot = (hour, 0);
            }
            slot.1 += 1;
        }
    }

    /// Requests answered for a shop in the last 24 hours (since this process started).
    pub fn requests_24h(&self, client_id: i64) -> u64 {
        let now = hour_now();
        self.shops.lock().by_id.get(&client_id).map_or(0, |t| {
            t.hours.iter().filter(|(h, _)| now.saturating_sub(*h) < 24).map(|(_, n)| u64::from(*n)).sum()
        })
    }

    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// The request metrics in Prometheus' text format.
    pub fn render(&self, out: &mut String) {
        let mut routes: Vec<((&'static str, String, u16), Histogram)> =
            self.routes.lock().iter().map(|((r, m, c), v)| ((*r, m.to_string(), *c), v.clone())).collect();
        let name = "vergeflow_http_request_duration_seconds";
        let _ = writeln!(out, "# HELP {name} Request latency by route template, method and status class");
        let _ = writeln!(out, "# TYPE {name} histogram");
        routes.sort_by(|a, b| a.0.cmp(&b.0));
        for ((route, method, class), h) in &routes {
            let labels = format!("route=\"{}\",method=\"{}\",status=\"{class}xx\"", escape(route), escape(method));
            h.render(out, name, &labels);
        }

        let (mut busiest, untracked) = {
            let shops = self.shops.lock();
            (shops.by_id.iter().map(|(id, t)| (*id, *t)).collect::<Vec<_>>(), shops.untracked)
        };
        busiest.sort_by(|a, b| b.1.requests.cmp(&a.1.requests).then(a.0.cmp(&b.0)));
        let mut other = untracked;
        for (_, t) in busiest.iter().skip(TOP_SHOPS) {
            other.requests += t.requests;
            other.seconds += t.seconds;
        }
        busiest.truncate(TOP_SHOPS);
        let _ = writeln!(
            out,
            "# HELP vergeflow_shop_requests_total Requests answered for each of the {TOP_SHOPS} busiest shops since start; \
             client_id=\"other\" sums the rest (it drops when a shop joins the busiest)"
        );
        let _ = writeln!(out, "# TYPE vergeflow_shop_requests_total counter");
        for (id, t) in &busiest {
            let _ = writeln!(out, "vergeflow_shop_requests_total{{client_id=\"{id}\"}} {}", t.requests);
        }
        let _ = writeln!(out, "vergeflow_shop_requests_total{{client_id=\"other\"}} {}", other.requests);
        let _ = writeln!(
            out,
            "# HELP vergeflow_shop_request_seconds_total Time spent answering each of the busiest shops' requests"
        );
        let _ = writeln!(out, "# TYPE vergeflow_shop_request_seconds_total counter");
        for (id, t) in &busiest {
            let _ = writeln!(out, "vergeflow_shop_request_seconds_total{{client_id=\"{id}\"}} {}", t.seconds);
        }
        let _ = writeln!(out, "vergeflow_shop_request_seconds_total{{client_id=\"other\"}} {}", other.seconds);
        gauge(out, "vergeflow_start_time_seconds", "When the server started, Unix seconds", self.started_unix);
        gauge(out, "vergeflow_uptime_seconds", "Seconds since the server started", self.uptime().as_secs_f64());
    }
}

/// Statements slower than this (µs; 0: off) are logged. Set once at start from VERGEFLOW_SLOW_QUERY_MS.
static SLOW_QUERY_MICROS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// The shop whose connection this thread is using (set by `ClientDb::run`), for slow-query lines.
    static CURRENT_SHOP: Cell<Option<i64>> = const { Cell::new(None) };
}

/// Sets the slow-query threshold for every connection watched from now on.
pub fn set_slow_query_threshold(threshold: Option<Duration>) {
    SLOW_QUERY_MICROS.store(threshold.map_or(0, |t| t.as_micros().max(1) as u64), Ordering::Relaxed);
}

/// Logs this connection's statements that run longer than the threshold, with the shop id when
/// the thread says which shop it works for.
pub fn watch_slow_queries(conn: &rusqlite::Connection) {
    if SLOW_QUERY_MICROS.load(Ordering::Relaxed) == 0 {
        return;
    }
    conn.trace_v2(rusqlite::trace::TraceEventCodes::SQLITE_TRACE_PROFILE, Some(on_profile));
}

fn on_profile(event: rusqlite::trace::TraceEvent<'_>) {
    let rusqlite::trace::TraceEvent::Profile(stmt, took) = event else { return };
    let threshold = SLOW_QUERY_MICROS.load(Ordering::Relaxed);
    if threshold == 0 || (took.as_micros() as u64) < threshold {
        return;
    }
    let client_id = CURRENT_SHOP.with(Cell::get);
    tracing::warn!(client_id, millis = took.as_millis() as u64, sql = %stmt.sql(), "slow query");
}

/// Runs `f` with this thread marked as working for shop `client_id` (for slow-query lines).
pub fn for_shop<T>(client_id: i64, f: impl FnOnce() -> T) -> T {
    let before = CURRENT_SHOP.with(|c| c.replace(Some(client_id)));
    let value = f();
    CURRENT_SHOP.with(|c| c.set(before));
    value
}

/// A label value as Prometheus' text format wants it.
pub fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// One unlabelled gauge with its HELP and TYPE lines.
pub fn gauge(out: &mut String, name: &str, help: &str, value: impl std::fmt::Display) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}");
}

/// One unlabelled counter with its HELP and TYPE lines (`name` ends in `_total`).
pub fn counter(out: &mut String, name: &str, help: &str, value: impl std::fmt::Display) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}");
}

/// A labelled family: HELP, TYPE, then one line per (labels, value).
pub fn family(out: &mut String, name: &str, kind: &str, help: &str, rows: &[(String, String)]) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    for (labels, value) in rows {
        let _ = writeln!(out, "{name}{{{labels}}} {value}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busiest_shops_are_listed_and_the_rest_summed_as_other() {
        let m = Metrics::default();
        for id in 1..=30i64 {
            for _ in 0..id {
                m.observe(
                    Some("/api/shop/products"),
                    &actix_web::http::Method::GET,
                    200,
                    Some(id),
                    Duration::from_millis(2),
                );
            }
        }
        m.observe(None, &actix_web::http::Method::GET, 404, None, Duration::from_micros(300));
        let mut out = String::new();
        m.render(&mut out);
        assert!(out.contains("vergeflow_shop_requests_total{client_id=\"30\"} 30"), "{out}");
        assert!(out.contains("vergeflow_shop_requests_total{client_id=\"11\"} 11"));
        assert!(!out.contains("client_id=\"10\""), "only the 20 busiest are named");
        assert!(out.contains("vergeflow_shop_requests_total{client_id=\"other\"} 55"), "1 + … + 10 = 55");
        assert!(out.contains(
            "vergeflow_http_request_duration_seconds_bucket{route=\"/api/shop/products\",method=\"GET\",status=\"2xx\",le=\"0.0025\"} 465"
        ));
        assert!(out.contains(
            "vergeflow_http_request_duration_seconds_count{route=\"unmatched\",method=\"GET\",status=\"4xx\"} 1"
        ));
    }
}
