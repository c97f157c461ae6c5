//! What a request says about its origin: believed from forwarding headers only when the direct peer
//! is a configured trusted proxy.

use actix_web::HttpRequest;
use actix_web::http::header;

use crate::config::Settings;

fn peer_is_trusted(req: &HttpRequest, settings: &Settings) -> bool {
    !settings.trusted_proxies.is_empty() && req.peer_addr().is_some_and(|p| settings.trusted_proxies.contains(&p.ip()))
}

/// The caller's address (for throttling and logs).
pub fn remote_address(req: &HttpRequest, settings: &Settings) -> String {
    let peer = req.peer_addr().map(|p| p.ip().to_string()).unwrap_or_else(|| "unknown".into());
    if peer_is_trusted(req, settings)
        && let Some(first) =
            req.headers().get("x-forwarded-for").and_then(|v| v.to_str().ok()).and_then(|v| v.split(',').next())
    {
        return first.trim().to_string();
    }
    peer
}

/// The Host the client asked for: `X-Forwarded-Host` from a trusted proxy, else `Host`.
pub fn request_host(req: &HttpRequest, settings: &Settings) -> Option<String> {
    if peer_is_trusted(req, settings)
        && let Some(fwd) = req.headers().get("x-forwarded-host").and_then(|v| v.to_str().ok())
    {
        return Some(fwd.split(',').next().unwrap_or("").trim().to_string());
    }
    req.headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| req.uri().host().map(str::to_string))
}
