//! Shop webhooks: endpoints a shop admin registers for `order.created`, `order.status_changed` and
//! `product.low_stock`. An event writes one delivery row per subscribed endpoint and queues a
//! `deliver_webhook` job for each; the job POSTs `{id, event, created_at, data}` signed with
//! `X-VergeFlow-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`, retried with
//! backoff by the queue. An endpoint failing for a day is disabled and the shop's admins are mailed.
//!
//! URLs are untrusted: unless `VERGEFLOW_WEBHOOK_ALLOW_PRIVATE` is set, an endpoint may not point
//! at loopback, private, link-local (cloud metadata), shared, multicast or unspecified addresses.
//! The check runs on the addresses the name resolves to, at registration and again on every
//! delivery, and the connection goes to exactly the addresses checked (no second lookup a DNS
//! rebinding could answer differently); redirects are not followed.

pub mod routes;
pub mod store;

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::error::AppError;
use crate::state::AppState;

pub const EVENTS: &[&str] = &["order.created", "order.status_changed", "product.low_stock"];
/// Attempts per delivery (the last about 4 hours after the first, with the default 10 s base).
pub const MAX_ATTEMPTS: i64 = 12;
/// An endpoint whose deliveries have failed this long is disabled.
pub const DISABLE_AFTER: Duration = Duration::from_secs(24 * 3600);
const TIMEOUT: Duration = Duration::from_secs(10);

/// Addresses a webhook may not reach unless private targets are allowed.
pub fn is_forbidden(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local() // 169.254/16: cloud metadata lives here
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || o[0] == 0
                || (o[0] == 100 && (64..128).contains(&o[1])) // shared address space (CGNAT)
                || (o[0] == 192 && o[1] == 0 && o[2] == 0) // IETF protocol assignments
                || (o[0] == 198 && (18..20).contains(&o[1])) // benchmarking
                || o[0] >= 240 // reserved
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_forbidden(IpAddr::V4(v4));
            }
            let seg = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (seg[0] & 0xfe00) == 0xfc00 // unique local (fd00:ec2::254 is a metadata address)
                || (seg[0] & 0xffc0) == 0xfe80 // link-local
                || (seg[0] == 0x64 && seg[1] == 0xff9b) // NAT64 of any IPv4
                || (seg[0] == 0x2001 && seg[1] == 0x0db8) // documentation
        }
    }
}

/// Checks a URL's shape: http(s), a host, no user info, no spaces; returns (host, port).
pub fn check_shape(url: &str) -> Result<(String, u16), String> {
    if url.len() > 2000 || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must be an http:// or https:// URL of at most 2000 characters without spaces".into());
    }
    let (rest, default_port) = if let Some(r) = url.strip_prefix("https://") {
        (r, 443)
    } else if let Some(r) = url.strip_prefix("http://") {
        (r, 80)
    } else {
        return Err("must start with http:// or https://".into());
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err("must not carry a user name or password".into());
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6.split_once(']').ok_or("has an unclosed [")?;
        (h.to_string(), after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (authority.to_string(), None),
        }
    };
    if host.is_empty() {
        return Err("has no host".into());
    }
    let port = match port {
        Some(p) => p.parse::<u16>().ok().filter(|p| *p > 0).ok_or("has an invalid port")?,
        None => default_port,
    };
    Ok((host.to_ascii_lowercase(), port))
}

/// Resolves `host:port` and refuses forbidden addresses (unless allowed). Blocking (DNS).
pub fn resolve_allowed(host: &str, port: u16, allow_private: bool) -> Result<Vec<SocketAddr>, String> {
    let addrs: Vec<SocketAddr> =
        (host, port).to_socket_addrs().map_err(|e| format!("{host} does not resolve: {e}"))?.collect();
    if addrs.is_empty() {
        return Err(format!("{host} does not resolve"));
    }
    if !allow_private && let Some(bad) = addrs.iter().find(|a| is_forbidden(a.ip())) {
        return Err(format!(
            "{host} resolves to {}, a loopback, private, link-local or reserved address; webhooks may only reach public addresses",
            bad.ip()
        ));
    }
    Ok(addrs)
}

/// `t=<unix>,v1=<hex>` over `"<t>.<body>"`.
pub fn signature(secret: &str, unix: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(format!("{unix}.{body}").as_bytes());
    let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    format!("t={unix},v1={hex}")
}

fn random_hex(bytes: usize) -> String {
    use rand::RngExt;
    let mut rng = rand::rng();
    (0..bytes).map(|_| format!("{:02x}", rng.random::<u8>())).collect()
}

/// A new endpoint secret (`whsec_` and 32 random bytes in hex).
pub fn new_secret() -> String {
    format!("whsec_{}", random_hex(32))
}

/// Records `event` for every active endpoint of the shop subscribed to it and queues the
/// deliveries, inside the caller's transaction. Returns how many were queued.
pub fn emit_in(
    tx: &rusqlite::Connection,
    client_id: i64,
    event: &str,
    data: &serde_json::Value,
) -> Result<usize, AppError> {
    let hooks = store::subscribed(tx, client_id, event)?;
    if hooks.is_empty() {
        return Ok(0);
    }
    let event_id = format!("evt_{}", random_hex(16));
    let created_at = crate::db::now_rfc3339(tx)?;
    let body =
        serde_json::json!({ "id": event_id, "event": event, "created_at": created_at, "data": data }).to_string();
    for hook in &hooks {
        let delivery_id = store::insert_delivery(tx, client_id, *hook, &event_id, event, &body)?;
        crate::jobs::enqueue(tx, &crate::jobs::Task::DeliverWebhook { client_id, delivery_id })?;
    }
    Ok(hooks.len())
}

/// The `deliver_webhook` job: one attempt at one delivery.
pub fn deliver(state: &AppState, client_id: i64, delivery_id: i64) -> Result<serde_json::Value, AppError> {
    let pending = store::pending(&*state.main.get()?, client_id, delivery_id)?;
    let Some(p) = pending else {
        return Ok(serde_json::json!({ "delivery_id": delivery_id, "outcome": "gone" }));
    };
    if p.status != "pending" {
        return Ok(serde_json::json!({ "delivery_id": delivery_id, "outcome": p.status }));
    }
    if !p.active {
        store::mark_failed(&*state.main.get()?, delivery_id, "the endpoint is disabled")?;
        return Ok(serde_json::json!({ "delivery_id": delivery_id, "outcome": "endpoint_disabled" }));
    }
    match post(state.settings.webhook_allow_private, &p) {
        Ok(status) => {
            // Recorded as delivered with the job (`Task::on_success`), in the worker's one write.
            tracing::info!(client_id, delivery_id, webhook_id = p.webhook_id, status, event = %p.event, "webhook delivered");
            Ok(serde_json::json!({
                "delivery_id": delivery_id, "outcome": "delivered", "status": status, "webhook_id": p.webhook_id,
            }))
        }
        Err((status, error)) => {
            let conn = state.main.get()?;
            let disable = store::attempt_failed(
                &conn,
                delivery_id,
                p.webhook_id,
                status,
                &error,
                DISABLE_AFTER.as_secs() as i64,
            )?;
            if disable {
                disable_endpoint(&conn, client_id, p.webhook_id, &p.url, &error)?;
                store::mark_failed(&conn, delivery_id, &error)?;
                return Ok(serde_json::json!({ "delivery_id": delivery_id, "outcome": "endpoint_disabled" }));
            }
            Err(AppError::unavailable("webhook_not_delivered", format!("delivery {delivery_id} to {}: {error}", p.url)))
        }
    }
}

/// Disables an endpoint that failed for a day and mails the shop's admins.
fn disable_endpoint(
    conn: &rusqlite::Connection,
    client_id: i64,
    webhook_id: i64,
    url: &str,
    error: &str,
) -> Result<(), AppError> {
    let reason = format!("deliveries failed for a day (last: {error})");
    if !store::disable(conn, webhook_id, &reason)? {
        return Ok(());
    }
    tracing::warn!(client_id, webhook_id, url, "webhook endpoint disabled after failing for a day");
    let shop = crate::tenancy::registry::find(conn, client_id)?.map(|c| c.name).unwrap_or_default();
    for admin in crate::auth::users::admins_of(conn, client_id)? {
        let mail = crate::mail::templates::webhook_disabled(
            &crate::mail::templates::Addressing { client_id: Some(client_id), sender: &shop, to: &admin.email },
            url,
            &reason,
        );
        crate::mail::queue_in(conn, &mail)?;
    }
    Ok(())
}

/// One POST; Ok(status) for a 2xx, else (status if any, error).
fn post(allow_private: bool, p: &store::Pending) -> Result<u16, (Option<u16>, String)> {
    let (host, port) = check_shape(&p.url).map_err(|e| (None, e))?;
    // Resolved and checked here, on every delivery; the agent connects to these addresses only.
    let addrs = resolve_allowed(&host, port, allow_private).map_err(|e| (None, e))?;
    let agent =
        ureq::AgentBuilder::new().timeout(TIMEOUT).redirects(0).resolver(move |_: &str| Ok(addrs.clone())).build();
    let unix = time::OffsetDateTime::now_utc().unix_timestamp();
    let result = agent
        .post(&p.url)
        .set("Content-Type", "application/json")
        .set("User-Agent", concat!("VergeFlow-Webhooks/", env!("CARGO_PKG_VERSION")))
        .set("X-VergeFlow-Event", &p.event)
        .set("X-VergeFlow-Delivery", &p.event_id)
        .set("X-VergeFlow-Signature", &signature(&p.secret, unix, &p.payload))
        .send_string(&p.payload);
    match result {
        Ok(resp) if (200..300).contains(&resp.status()) => Ok(resp.status()),
        Ok(resp) => Err((Some(resp.status()), format!("answered {} (redirects are not followed)", resp.status()))),
        Err(ureq::Error::Status(code, _)) => Err((Some(code), format!("answered {code}"))),
        Err(ureq::Error::Transport(t)) => Err((None, t.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_metadata_addresses_are_forbidden() {
        for bad in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fd00:ec2::254",
            "fe80::1",
            "::ffff:127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "224.0.0.1",
        ] {
            assert!(is_forbidden(bad.parse().unwrap()), "{bad}");
        }
        for good in ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946", "8.8.8.8"] {
            assert!(!is_forbidden(good.parse().unwrap()), "{good}");
        }
    }

    #[test]
    fn shapes() {
        assert_eq!(check_shape("https://hooks.example.com/x?y=1").unwrap(), ("hooks.example.com".into(), 443));
        assert_eq!(check_shape("http://[::1]:8080/").unwrap(), ("::1".into(), 8080));
        for bad in ["ftp://x", "https://user:pw@x.com/", "https:///path", "http://x:0/", "http://x y/"] {
            assert!(check_shape(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn signature_is_hmac_sha256_of_t_dot_body() {
        // Known answer computed with Python: hmac.new(b"whsec_k", b"1700000000.{}", sha256).hexdigest()
        assert_eq!(
            signature("whsec_k", 1_700_000_000, "{}"),
            "t=1700000000,v1=8b20524faff2b12e1089e404a8cf60fbe577e5320e899ebff7329ebbcb9ada22"
        );
    }
}
