//! `/docs`: the OpenAPI document in a browsable page, served from the binary.
//!
//! The viewer is RapiDoc 9.3.8 (MIT; `rapidoc-LICENSE.txt` beside this file), a single web
//! component taken unchanged from its npm package and embedded at compile time, so the page works
//! with no network and needs no inline script.

use std::sync::OnceLock;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use sha2::{Digest, Sha256};

const PAGE: &str = include_str!("index.html");
const VIEWER: &[u8] = include_bytes!("rapidoc-min.js");
/// The page may load only what this server serves (the viewer's styles are inline in its shadow
/// DOM); "try it" may call any server the document lists.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
                   font-src 'self' data:; connect-src *; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/docs", web::get().to(page))
        .route("/docs/", web::get().to(page))
        .route("/docs/rapidoc-min.js", web::get().to(viewer));
}

async fn page() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CONTENT_SECURITY_POLICY, CSP))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(PAGE)
}

fn viewer_etag() -> &'static str {
    static ETAG: OnceLock<String> = OnceLock::new();
    ETAG.get_or_init(|| {
        let digest = Sha256::digest(VIEWER);
        let hex: String = digest.iter().take(12).map(|b| format!("{b:02x}")).collect();
        format!("\"{hex}\"")
    })
}

async fn viewer(req: HttpRequest) -> HttpResponse {
    let etag = viewer_etag();
    let fresh = req.headers().get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()).is_some_and(|v| v == etag);
    let mut res = if fresh { HttpResponse::NotModified() } else { HttpResponse::Ok() };
    res.insert_header((header::ETAG, etag)).insert_header((header::CACHE_CONTROL, "public, max-age=86400"));
    if fresh {
        return res.finish();
    }
    res.content_type("text/javascript; charset=utf-8").body(VIEWER)
}
