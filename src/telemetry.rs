//! Logging: text or JSON lines, and one span per request carrying its id and shop.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::web;
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
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

fn request_id() -> String {
    format!("{:016x}", rand::rng().random::<u64>())
}

/// Middleware body: a span per request (`request_id`, method, path, `client_id` once resolved), an
/// `x-request-id` response header, one log line per response, and the request counters.
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
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        method = %req.method(),
        path = %req.path(),
        client_id = tracing::field::Empty,
    );
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let started = Instant::now();
    let fut = span.in_scope(|| srv.call(req));
    async move {
        let mut res = fut.await?;
        let status = res.status().as_u16();
        if let Some(state) = state {
            state.requests_total.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if status >= 500 {
                state.responses_5xx.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
        tracing::info!(status, elapsed_us = started.elapsed().as_micros() as u64, "response");
        if let Ok(v) = HeaderValue::from_str(&request_id) {
            res.headers_mut().insert(HeaderName::from_static("x-request-id"), v);
        }
        Ok(res)
    }
    .instrument(span)
}
