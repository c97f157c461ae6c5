//! Logging: text or JSON lines, and one span per request carrying its id and shop.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{HttpMessage, web};
use rand::RngExt;
use tracing::Instrument;
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;
use crate::state::AppState;

/// Installs the global subscriber once; later calls (tests) are no-ops.
pub fn init(format: LogFormat) {
    init_with_default(format, "info,refinery_core=warn");
}

/// As [`init`], with the filter used when `RUST_LOG` is unset (tests pass "warn").
pub fn init_with_default(format: LogFormat, default_filter: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    // Colour only for a person at a terminal: journald, files and pipes get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// A message for the person or system starting the server, on stdout whatever `RUST_LOG` says
/// (the address it listens on, a generated first password): `text` as is, or in JSON mode one JSON
/// line with `message` and `fields`, so that a JSON log stream holds nothing else.
pub fn announce(format: LogFormat, text: &str, message: &str, fields: serde_json::Value) {
    match format {
        LogFormat::Text => println!("{text}"),
        LogFormat::Json => {
            let mut line = serde_json::json!({
                "timestamp": time::OffsetDateTime::now_utc()
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default(),
                "level": "INFO",
                "message": message,
            });
            if let (Some(line), serde_json::Value::Object(fields)) = (line.as_object_mut(), fields) {
                line.extend(fields);
            }
            println!("{line}");
        }
    }
}

fn request_id() -> String {
    format!("{:016x}", rand::rng().random::<u64>())
}

/// Middleware body: a span per request (`request_id`, method, path, the client's `ip` (trusted-proxy
/// aware), `client_id` once resolved, `user_id` once signed in), an `x-request-id` response header,
/// one log line per response, and the request metrics.
pub fn trace_request<S, B>(
    req: ServiceRequest,
    srv: &S,
) -> impl Future<Output = Result<ServiceResponse<B>, actix_web::Error>> + use<S, B>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
    S::Future: 'static,
    B: MessageBody,
{
    let request_id = request_id();
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let ip = state.as_ref().map(|s| crate::proxy::remote_address(req.request(), &s.settings)).unwrap_or_default();
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        method = %req.method(),
        path = %req.path(),
        ip = %ip,
        client_id = tracing::field::Empty,
        user_id = tracing::field::Empty,
    );
    let started = Instant::now();
    let fut = span.in_scope(|| srv.call(req));
    async move {
        let mut res = fut.await?;
        let status = res.status().as_u16();
        let took = started.elapsed();
        let request = res.request();
        let client_id = request.extensions().get::<crate::tenancy::resolve::Shop>().map(|s| s.client.id);
        let user = request.extensions().get::<crate::auth::Caller>().and_then(|c| match c {
            crate::auth::Caller::Customer { customer_id, .. } => Some(format!("customer:{customer_id}")),
            other => other.main_user_id().map(|id| format!("user:{id}")),
        });
        if let Some(user) = &user {
            tracing::Span::current().record("user_id", user.as_str());
        }
        if let Some(state) = state {
            state.requests_total.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if status >= 500 {
                state.responses_5xx.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            if request_metrics_on() {
                let route = request.extensions().get::<crate::observability::RouteTemplate>().map(|t| t.0);
                state.metrics.observe(route, request.method(), status, client_id, took);
            }
        }
        tracing::info!(status, elapsed_us = took.as_micros() as u64, "response");
        if let Ok(v) = HeaderValue::from_str(&request_id) {
            res.headers_mut().insert(HeaderName::from_static("x-request-id"), v);
        }
        Ok(res)
    }
    .instrument(span)
}

/// Whether requests are recorded for `/metrics`: always, except in benchmark builds started with
/// `VERGEFLOW_BENCH_NO_REQUEST_METRICS=1`, which the benchmark uses to price the recording.
#[cfg(not(feature = "bench-hooks"))]
fn request_metrics_on() -> bool {
    true
}

#[cfg(feature = "bench-hooks")]
fn request_metrics_on() -> bool {
    static OFF: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    !*OFF.get_or_init(|| std::env::var("VERGEFLOW_BENCH_NO_REQUEST_METRICS").is_ok_and(|v| v == "1"))
}
