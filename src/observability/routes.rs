//! `/health` (liveness), `/ready` (readiness) and `/metrics` (Prometheus).

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

use super::{counter, family, gauge};
use crate::db::migrations;
use crate::error::AppError;
use crate::openapi::{Access, Answer, Api, Spec, schema};
use crate::state::AppState;

/// Below this much free disk space the server is not ready (writes would soon fail with 507).
pub const MIN_FREE_BYTES: u64 = 64 * 1024 * 1024;

pub fn routes(api: &mut Api) {
    api.get(
        "/health",
        Spec::new(
            "Liveness: main.db answers and the data folder is still there",
            Access::Public,
            Answer::Json(200, schema::<Health>),
        ),
        health,
    )
    .get(
        "/ready",
        Spec::new(
            "Readiness: main.db answers, the data folder is writable, the disk is not full (503 with the failed check otherwise)",
            Access::Public,
            Answer::Json(200, schema::<Ready>),
        ),
        ready,
    )
    .get(
        "/metrics",
        Spec::new(
            "Prometheus metrics (with VERGEFLOW_METRICS_TOKEN set: 'Authorization: Bearer <that token>')",
            Access::Public,
            Answer::Text,
        ),
        metrics,
    )
    .get(
        "/tls/ask",
        Spec::new(
            "For Caddy's on-demand TLS: 200 when `domain` is an active shop's custom domain or subdomain, 404 otherwise",
            Access::Public,
            Answer::Json(200, schema::<Health>),
        )
        .query(&[("domain", "string")]),
        tls_ask,
    );
}

#[derive(serde::Deserialize)]
struct AskQuery {
    domain: Option<String>,
}

/// Caddy asks before obtaining a certificate for a name it was reached at: only names of active
/// shops get one, so nobody can make the server request certificates for arbitrary names.
async fn tls_ask(state: web::Data<AppState>, query: web::Query<AskQuery>) -> Result<HttpResponse, AppError> {
    use crate::tenancy::directory::ClientKey;
    use crate::tenancy::names::{HostSignal, Subdomain, parse_host};
    let not_ours = || AppError::not_found("unknown_domain", "no active shop has this domain");
    let domain = query.domain.as_deref().unwrap_or_default();
    let key = match parse_host(domain, &state.settings.base_domain) {
        HostSignal::Subdomain(label) => {
            ClientKey::Subdomain(Subdomain::from_signal(&label).map_err(|_| not_ours())?.as_str().to_string())
        }
        HostSignal::Domain(name) => ClientKey::Domain(name),
        HostSignal::None => return Err(not_ours()),
    };
    let tenancy = state.tenancy.clone();
    let client = state.main.run(move |c| Ok(tenancy.directory.lookup(c, &key)?)).await?;
    match client {
        Some(c) if c.status == crate::tenancy::registry::ClientStatus::Active => {
            Ok(HttpResponse::Ok().json(Health { status: "ok".into() }))
        }
        _ => Err(not_ours()),
    }
}

#[derive(Serialize, schemars::JsonSchema)]
struct Health {
    status: String,
}

async fn health(state: web::Data<AppState>) -> HttpResponse {
    let data_dir = state.settings.data_dir.clone();
    let checked = state
        .main
        .run(move |c| {
            c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))?;
            if !data_dir.join("main.db").exists() {
                return Err(AppError::Internal(anyhow::anyhow!("{} has vanished", data_dir.display())));
            }
            Ok(())
        })
        .await;
    match checked {
        Ok(()) => HttpResponse::Ok().json(Health { status: "ok".into() }),
        Err(err) => {
            tracing::error!(error = %err, "health check failed");
            HttpResponse::ServiceUnavailable().json(serde_json::json!({
                "error": "unhealthy", "message": "main.db does not answer or the data folder is gone"
            }))
        }
    }
}

#[derive(Serialize, schemars::JsonSchema)]
struct Ready {
    status: String,
    /// Free space on the data folder's filesystem.
    disk_free_bytes: u64,
}

/// The readiness checks, blocking: main.db answers, a file can be created in the data folder (and
/// each region's) and synced, and their disks have room.
fn check_ready(state: &AppState) -> Result<u64, String> {
    let main = state.main.get().map_err(|e| format!("main.db: {e}"))?;
    main.query_row("SELECT 1", [], |r| r.get::<_, i64>(0)).map_err(|e| format!("main.db: {e}"))?;
    // The data folder and every region's folder: a shop in any of them must be able to write.
    let mut data_free = 0;
    for (region, dir) in state.tenancy.regions.all_dirs() {
        let what = match region {
            None => "the data folder".to_string(),
            Some(name) => format!("region {name}'s folder"),
        };
        let probe = dir.join(format!(".ready-{}", std::process::id()));
        std::fs::write(&probe, b"ready")
            .and_then(|()| std::fs::File::open(&probe)?.sync_all())
            .and_then(|()| std::fs::remove_file(&probe))
            .map_err(|e| format!("{what} {} is not writable: {e}", dir.display()))?;
        let (free, _) = crate::sys::disk_space(dir).map_err(|e| format!("disk space: {e}"))?;
        if free < MIN_FREE_BYTES {
            return Err(format!("only {} MiB free on {what}'s disk", free / (1024 * 1024)));
        }
        if region.is_none() {
            data_free = free;
        }
    }
    Ok(data_free)
}

async fn ready(state: web::Data<AppState>) -> HttpResponse {
    let state = state.into_inner();
    match web::block(move || check_ready(&state)).await {
        Ok(Ok(free)) => HttpResponse::Ok().json(Ready { status: "ready".into(), disk_free_bytes: free }),
        Ok(Err(problem)) => {
            tracing::error!(%problem, "not ready");
            HttpResponse::ServiceUnavailable().json(serde_json::json!({"error": "not_ready", "message": problem}))
        }
        Err(_) => HttpResponse::ServiceUnavailable()
            .json(serde_json::json!({"error": "not_ready", "message": "the readiness check did not run"})),
    }
}

/// Whether the request may read `/metrics`: always without a token setting, else only with it.
fn allowed(req: &HttpRequest, state: &AppState) -> bool {
    let Some(expected) = state.settings.metrics_token.as_deref() else { return true };
    let given =
        req.headers().get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    // Compared as digests: how long a prefix matched tells nothing about the token.
    use sha2::Digest as _;
    given.is_some_and(|g| sha2::Sha256::digest(g.trim()) == sha2::Sha256::digest(expected))
}

/// Registry, ledger and queue figures read from main.db for one scrape.
struct Registry {
    by_status: Vec<(String, i64)>,
    by_version: Vec<(String, i64)>,
    migration_failures: i64,
    jobs: Vec<(String, i64)>,
    outbox: Vec<(String, i64)>,
    disabled_webhooks: i64,
}

async fn metrics(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    if !allowed(&req, &state) {
        return Err(AppError::Unauthorized("/metrics needs 'Authorization: Bearer <VERGEFLOW_METRICS_TOKEN>'".into()));
    }
    let registry = state
        .main
        .run(|c| {
            let jobs = c
                .prepare("SELECT status, COUNT(*) FROM jobs GROUP BY status ORDER BY status")?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()?;
            let outbox = c
                .prepare("SELECT status, COUNT(*) FROM mail_outbox GROUP BY status ORDER BY status")?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()?;
            let disabled_webhooks = c.query_row("SELECT COUNT(*) FROM webhooks WHERE active = 0", [], |r| r.get(0))?;
            Ok(Registry {
                outbox,
                disabled_webhooks,
                by_status: crate::tenancy::registry::count_by_status(c)?,
                by_version: crate::fleet::ledger::shops_by_version(c)?.into_iter().collect(),
                migration_failures: crate::fleet::ledger::count_failed(c)?,
                jobs,
            })
        })
        .await?;
    let mut out = String::with_capacity(16 * 1024);
    let o = &mut out;
    family(
        o,
        "vergeflow_build_info",
        "gauge",
        "The running version",
        &[(format!("version=\"{}\"", env!("CARGO_PKG_VERSION")), "1".into())],
    );
    state.metrics.render(o);
    counter(o, "vergeflow_http_requests_total", "HTTP requests answered", state.requests_total.load(Ordering::Relaxed));
    counter(o, "vergeflow_http_responses_5xx_total", "HTTP 5xx responses", state.responses_5xx.load(Ordering::Relaxed));

    // Shops, by status and by schema version; failed migrations; the job queue.
    let statuses = ["provisioning", "active", "suspended", "deleting"];
    let rows: Vec<(String, String)> = statuses
        .iter()
        .map(|s| {
            let n = registry.by_status.iter().find(|(k, _)| k == s).map_or(0, |(_, n)| *n);
            (format!("status=\"{s}\""), n.to_string())
        })
        .collect();
    family(o, "vergeflow_shops", "gauge", "Shops in the registry by status", &rows);
    let rows: Vec<(String, String)> =
        registry.by_version.iter().map(|(v, n)| (format!("version=\"{v}\""), n.to_string())).collect();
    family(o, "vergeflow_shops_by_schema_version", "gauge", "Active and suspended shops by schema version", &rows);
    gauge(
        o,
        "vergeflow_schema_target_version",
        "The client schema version this server serves",
        migrations::latest_client_version(),
    );
    gauge(
        o,
        "vergeflow_shop_migration_failures",
        "Shops whose last migration failed (each answers 503 until migrated)",
        registry.migration_failures,
    );
    let rows: Vec<(String, String)> = ["pending", "running", "done", "failed", "cancelled"]
        .iter()
        .map(|s| {
            let n = registry.jobs.iter().find(|(k, _)| k == s).map_or(0, |(_, n)| *n);
            (format!("status=\"{s}\""), n.to_string())
        })
        .collect();
    family(o, "vergeflow_jobs", "gauge", "Jobs in the queue by status (pending is the queue depth)", &rows);
    let rows: Vec<(String, String)> = ["queued", "sent", "failed"]
        .iter()
        .map(|s| {
            let n = registry.outbox.iter().find(|(k, _)| k == s).map_or(0, |(_, n)| *n);
            (format!("status=\"{s}\""), n.to_string())
        })
        .collect();
    family(o, "vergeflow_mail_outbox", "gauge", "Mail in the outbox by status (queued: waiting to go out)", &rows);
    gauge(
        o,
        "vergeflow_webhook_endpoints_disabled",
        "Webhook endpoints disabled after failing for a day",
        registry.disabled_webhooks,
    );

    // The LRU of shop pools and the connection budget.
    let s = state.tenancy.pools.stats();
    gauge(o, "vergeflow_tenant_pools_open", "Open shop pools", s.open_pools);
    gauge(o, "vergeflow_tenant_pools_max", "LRU capacity", s.max_open_pools);
    counter(o, "vergeflow_tenant_pool_hits_total", "Pool lookups served from the LRU", s.hits);
    counter(o, "vergeflow_tenant_pool_misses_total", "Pool lookups that opened a pool", s.misses);
    counter(o, "vergeflow_tenant_pool_evictions_total", "Pools closed to make room", s.evictions);
    counter(o, "vergeflow_tenant_pool_idle_closed_total", "Pools closed for idleness", s.idle_closed);
    gauge(o, "vergeflow_tenant_connections_open", "Open shop file connections", s.open_connections);
    let name = "vergeflow_tenant_connection_open_seconds";
    let _ = writeln!(
        o,
        "# HELP {name} Time to open a shop connection (open, PRAGMAs, stamp and version check)\n# TYPE {name} summary\n\
         {name}_sum {}\n{name}_count {}",
        s.connect_micros_total as f64 / 1e6,
        s.connections_opened
    );
    let b = state.settings.shop_budget;
    gauge(
        o,
        "vergeflow_tenant_connections_budget",
        "Shop connections allowed at once (the smaller of the descriptor and memory bounds)",
        s.connection_budget,
    );
    gauge(
        o,
        "vergeflow_tenant_connections_budget_descriptors",
        "Shop connections the open-file limit allows",
        b.by_descriptors,
    );
    gauge(o, "vergeflow_tenant_memory_budget_bytes", "VERGEFLOW_SHOP_CACHE_MB in bytes", b.memory_bytes);
    gauge(
        o,
        "vergeflow_tenant_memory_bound_bytes",
        "Memory the open shop connections may hold at most",
        b.memory_bound(s.open_connections),
    );
    counter(
        o,
        "vergeflow_tenant_budget_evictions_total",
        "Pools closed because open connections neared the budget",
        s.budget_evictions,
    );
    counter(
        o,
        "vergeflow_tenant_budget_refusals_total",
        "Shop connections refused at the budget (retried)",
        s.budget_refusals,
    );

    let p = crate::sys::process_figures();
    gauge(o, "vergeflow_process_resident_bytes", "Resident memory", p.rss_bytes);
    gauge(o, "vergeflow_process_threads", "Threads", p.threads);
    gauge(o, "vergeflow_process_open_fds", "Open file descriptors", p.open_files);
    Ok(HttpResponse::Ok().content_type("text/plain; version=0.0.4; charset=utf-8").body(out))
}
