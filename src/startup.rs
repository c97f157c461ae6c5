//! Builds the running server: owns the data folder, reconciles, bootstraps, composes routes.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_session::SessionMiddleware;
use actix_session::config::CookieContentSecurity;
use actix_session::storage::CookieSessionStore;
use actix_web::cookie::{Key, SameSite};
use actix_web::dev::Server;
use actix_web::error::{PathError, QueryPayloadError};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use anyhow::Context as _;

use crate::config::Settings;
use crate::error::AppError;
use crate::jobs::{queue, worker};
use crate::openapi::{Access, Answer, Api, Document, Spec, schema};
use crate::state::AppState;
use crate::tenancy::{lock, reconcile};

use crate::body::JSON_LIMIT;

/// A bound, not yet running server.
pub struct Application {
    port: u16,
    server: Server,
    state: Arc<AppState>,
    background: worker::Background,
    _lock: lock::DataLock,
}

impl Application {
    pub fn build(settings: Settings) -> anyhow::Result<Self> {
        crate::observability::set_slow_query_threshold(settings.slow_query);
        // The folder's lock, then the address, then main.db: another server on this folder is named
        // (even when it also holds the port), and a port in use is reported before main.db or a
        // super admin is created.
        crate::sys::create_private_folder(&settings.data_dir)
            .with_context(|| format!("creating data folder {}", settings.data_dir.display()))?;
        let lock = own_data_folder(&settings.data_dir)?;
        let listener =
            TcpListener::bind(&settings.bind).with_context(|| format!("cannot listen on {}", settings.bind))?;
        let state = Arc::new(AppState::open(settings)?);
        if let Some((id, region)) = state.tenancy.regions.load(&*state.main.get()?)?.into_iter().next() {
            anyhow::bail!(
                "client {id} lives in region '{region}', which VERGEFLOW_STORAGE_ROOTS does not name; \
                 add it (e.g. {region}=/srv/{region}) or move the shop back first"
            );
        }
        {
            let mut main = state.main.get()?;
            let report = reconcile::reconcile(&state.tenancy, &mut main)?;
            if !report.is_clean() {
                tracing::warn!(?report, "start-up reconciliation repaired the data folder");
            }
            let interrupted = queue::requeue_interrupted(&main)?;
            if interrupted > 0 {
                tracing::warn!(interrupted, "jobs interrupted by the last stop were put back on the queue");
            }
            crate::bootstrap::ensure_super_admin(&main, &state.settings)?;
            for (id, subdomain) in crate::tenancy::registry::numeric_subdomains(&main)? {
                tracing::warn!(
                    client_id = id,
                    subdomain,
                    "this shop's subdomain is all digits: it is reached by Host only (?client={subdomain} names \
                     the shop with id {subdomain}); rename it with PATCH /api/super-admin/clients/{id}"
                );
            }
        }
        let session_key = crate::bootstrap::session_key(&*state.main.get()?)?;
        let port = listener.local_addr()?.port();
        let data = web::Data::from(Arc::clone(&state));
        let secure = state.settings.secure_cookies;
        let server = HttpServer::new(move || {
            App::new()
                .wrap(
                    SessionMiddleware::builder(CookieSessionStore::default(), session_key.clone())
                        .cookie_name("vergeflow_session".into())
                        .cookie_content_security(CookieContentSecurity::Signed)
                        .cookie_http_only(true)
                        .cookie_secure(secure)
                        .cookie_same_site(SameSite::Lax)
                        .build(),
                )
                .wrap_fn(crate::audit::record_mutations)
                .wrap_fn(crate::body::hold_unread_payload)
                .wrap_fn(crate::telemetry::trace_request)
                .app_data(data.clone())
                .app_data(web::PathConfig::default().error_handler(path_error))
                .app_data(web::QueryConfig::default().error_handler(query_error))
                .app_data(web::PayloadConfig::default().limit(JSON_LIMIT))
                .configure(routes)
                .default_service(web::to(not_found))
        })
        .workers(state.settings.workers)
        .worker_max_blocking_threads(state.settings.blocking_threads)
        .listen(listener)?
        .run();
        let background = worker::spawn(Arc::clone(&state));
        Ok(Self { port, server, state, background, _lock: lock })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn state(&self) -> Arc<AppState> {
        Arc::clone(&self.state)
    }

    /// A handle that stops the server from elsewhere (tests).
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serves until stopped; then stops the worker and releases the data folder.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let Application { server, background, _lock, state, .. } = self;
        let result = server.await;
        background.shutdown(state.settings.shutdown_grace);
        drop(state);
        drop(_lock);
        result
    }
}

/// Takes the data folder for this server. Another server holding it is an error at once (two
/// servers must never share shop files, and waiting would let this one take over silently when the
/// other stops); a CLI command holding it is waited for, since commands are short.
fn own_data_folder(data_dir: &std::path::Path) -> anyhow::Result<lock::DataLock> {
    match lock::try_acquire(data_dir, "serve")? {
        Ok(lock) => Ok(lock),
        Err(lock::Holder::Server(holder)) => anyhow::bail!(
            "another VergeFlow server ({}) is already serving the data folder {}; stop it first or use another --data-dir",
            lock::describe_holder(&holder),
            data_dir.display()
        ),
        Err(lock::Holder::Cli(holder)) => {
            eprintln!(
                "waiting for a vergeflow command ({}) to finish with {}…",
                lock::describe_holder(&holder),
                data_dir.display()
            );
            lock::acquire(data_dir, "serve", Duration::from_secs(30))
        }
    }
}

/// Registers every route with actix.
pub fn routes(cfg: &mut web::ServiceConfig) {
    crate::docs::routes(cfg);
    crate::console::routes(cfg);
    let mut routes = Api::actix(cfg);
    api(&mut routes);
    routes.finish();
}

/// Every feature's routes, composed: the one list both actix and the OpenAPI document read.
pub fn api(api: &mut Api) {
    crate::observability::routes::routes(api);
    api.get(
        "/api/openapi.json",
        Spec::new(
            "This document",
            Access::Public,
            Answer::Json(200, schema::<serde_json::Map<String, serde_json::Value>>),
        ),
        openapi,
    );
    crate::auth::routes::routes(api);
    crate::auth::api_tokens::routes(api);
    // Before the shop routes: `/clients/import` must not be taken for `/clients/{id}`.
    crate::backups::routes::routes(api);
    crate::super_admin::routes::routes(api);
    crate::fleet::routes::routes(api);
    crate::regions::routes::routes(api);
    crate::jobs::routes::routes(api);
    crate::storefront::routes::routes(api);
    crate::catalog::routes::routes(api);
    crate::images::routes::routes(api);
    crate::catalog_csv::routes::routes(api);
    crate::customers::routes::routes(api);
    crate::custom_fields::routes::routes(api);
    crate::cart::routes::routes(api);
    crate::addresses::routes::routes(api);
    crate::coupons::routes::routes(api);
    crate::orders::routes::routes(api);
    crate::payments::routes::routes(api);
    crate::shipping::routes::routes(api);
    crate::reviews::routes::routes(api);
    crate::recently_viewed::routes(api);
    crate::webhooks::routes::routes(api);
    crate::audit::routes::routes(api);
    crate::schedules::routes::routes(api);
    crate::features::routes::routes(api);
    crate::shop_settings::routes::routes(api);
    crate::content::routes::routes(api);
    crate::quotas::routes::routes(api);
}

/// The OpenAPI document, built once from [`api`].
pub fn openapi_document() -> &'static serde_json::Value {
    static DOC: std::sync::OnceLock<serde_json::Value> = std::sync::OnceLock::new();
    DOC.get_or_init(|| {
        let mut doc = Document::default();
        api(&mut Api::document(&mut doc));
        doc.into_json()
    })
}

async fn openapi() -> HttpResponse {
    HttpResponse::Ok().json(openapi_document())
}

fn path_error(_: PathError, _: &HttpRequest) -> actix_web::Error {
    AppError::not_found("not_found", "no such record").into()
}

fn query_error(err: QueryPayloadError, _: &HttpRequest) -> actix_web::Error {
    AppError::bad_request("invalid_query", format!("the query string is invalid: {err}")).into()
}

async fn not_found() -> Result<HttpResponse, AppError> {
    Err(AppError::not_found("not_found", "no such endpoint"))
}

/// Checks the session key length rule actix enforces, so a bad stored key fails at start, not later.
pub fn key_from_bytes(bytes: &[u8]) -> anyhow::Result<Key> {
    Key::try_from(bytes).map_err(|e| anyhow::anyhow!("session key: {e}"))
}
