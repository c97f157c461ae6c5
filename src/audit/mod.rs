//! The audit log: every super-admin and shop-admin mutation that succeeded (who, from where, which
//! shop, what, on what), written by one middleware from the matched route so no endpoint can be
//! forgotten, and shop lifecycle events (`shop.*`) written by the code that makes them happen,
//! whoever started it (API, job, CLI, start-up). Lifecycle events also go to the server log as
//! structured lines (`audit_event=shop.deleted client_id=…`) an operator can alert on.

pub mod routes;
pub mod store;

use std::future::Future;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse};
use actix_web::{HttpMessage, web};

use crate::auth::Caller;
use crate::state::AppState;
use store::Entry;

/// Largest created-resource answer read to find the new id (bigger ones are logged without it).
const BODY_PEEK_LIMIT: usize = 256 * 1024;

/// Path segments that name what was done rather than a thing (`/backups/{name}/restore`).
const VERBS: &[&str] = &["restore", "retry", "migrate", "import", "export"];

fn singular(noun: &str) -> String {
    match noun {
        "failed" => "failed_job".into(),
        "categories" => "category".into(),
        "addresses" => "address".into(),
        "batches" => "batch".into(),
        n => n.strip_suffix('s').unwrap_or(n).replace('-', "_"),
    }
}

/// `("product.updated", "product")` for `PATCH /api/admin/products/{id}`, and so on.
pub fn action_for(template: &str, method: &actix_web::http::Method) -> (String, String) {
    let rest = template.trim_start_matches("/api/super-admin").trim_start_matches("/api/admin");
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty() && !s.starts_with('{')).collect();
    let Some(&last) = segments.last() else { return ("settings.updated".into(), "settings".into()) };
    if VERBS.contains(&last) && segments.len() >= 2 {
        let noun = singular(segments[segments.len() - 2]);
        return (format!("{noun}.{last}"), noun);
    }
    let noun = singular(last);
    let what = match *method {
        actix_web::http::Method::POST => "created",
        actix_web::http::Method::DELETE => "deleted",
        _ => "updated",
    };
    (format!("{noun}.{what}"), noun)
}

fn is_mutation(method: &actix_web::http::Method) -> bool {
    !matches!(*method, actix_web::http::Method::GET | actix_web::http::Method::HEAD | actix_web::http::Method::OPTIONS)
}

/// The id a 201 or 202 answer names: `id`, or `job.id`.
fn answered_id(body: &[u8]) -> Option<(String, i64)> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    if let Some(id) = v.get("id").and_then(|i| i.as_i64()) {
        return Some((String::new(), id));
    }
    v.get("job").and_then(|j| j.get("id")).and_then(|i| i.as_i64()).map(|id| ("job".to_string(), id))
}

/// Middleware body: records each successful admin mutation after it answered.
pub fn record_mutations<S, B>(
    req: ServiceRequest,
    srv: &S,
) -> impl Future<Output = Result<ServiceResponse<BoxBody>, actix_web::Error>> + use<S, B>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
    S::Future: 'static,
    B: MessageBody + 'static,
{
    let path = req.path();
    let watched =
        is_mutation(req.method()) && (path.starts_with("/api/super-admin/") || path.starts_with("/api/admin/"));
    // Reads and everything outside the admin APIs pass straight through.
    let state = watched.then(|| req.app_data::<web::Data<AppState>>().cloned()).flatten();
    let ip = state.as_ref().map(|s| crate::proxy::remote_address(req.request(), &s.settings));
    let fut = srv.call(req);
    async move {
        let res = fut.await?;
        let (Some(state), true) = (state, watched && res.status().is_success()) else {
            return Ok(res.map_into_boxed_body());
        };
        let request = res.request().clone();
        let caller = request.extensions().get::<Caller>().cloned();
        let (actor_id, role) = match caller {
            Some(Caller::SuperAdmin { user_id, .. }) => (user_id, "super_admin"),
            Some(Caller::Admin { user_id, .. }) => (user_id, "admin"),
            _ => return Ok(res.map_into_boxed_body()),
        };
        let Some(template) = request.extensions().get::<crate::observability::RouteTemplate>().map(|t| t.0) else {
            return Ok(res.map_into_boxed_body());
        };
        let (action, noun) = action_for(template, request.method());
        let shop = request.extensions().get::<crate::tenancy::resolve::Shop>().map(|s| s.client.id);
        let path_id = request.match_info().get("id").and_then(|i| i.parse::<i64>().ok());
        let last_param = request.match_info().iter().last().map(|(_, v)| v.to_string());
        let status = res.status().as_u16();
        // A created thing's id is in the answer: read it (bounded) and hand the same bytes on.
        // Only answers of a known, small size are read (JSON answers are); streams are left alone.
        let small = matches!(res.response().body().size(), actix_web::body::BodySize::Sized(n) if n as usize <= BODY_PEEK_LIMIT);
        let (res, created) = if matches!(status, 201 | 202) && small {
            let (req, res) = res.into_parts();
            let (head, body) = res.into_parts();
            match actix_web::body::to_bytes(body).await {
                Ok(bytes) => {
                    let created = answered_id(&bytes);
                    (ServiceResponse::new(req, head.set_body(bytes).map_into_boxed_body()), created)
                }
                Err(_) => {
                    tracing::error!(action, "audit: an answer could not be read to find the new id");
                    return Err(actix_web::error::ErrorInternalServerError("the answer could not be read"));
                }
            }
        } else {
            (res.map_into_boxed_body(), None)
        };
        let on_clients = template.starts_with("/api/super-admin/clients");
        let client_id = shop.or_else(|| {
            if !on_clients {
                return None;
            }
            path_id.or(created.as_ref().filter(|(k, _)| k.is_empty() && noun == "client").map(|(_, id)| *id))
        });
        let target = match (&created, &last_param) {
            (Some((kind, id)), _) if kind.is_empty() => Some(format!("{noun}:{id}")),
            (Some((kind, id)), Some(p)) => Some(format!("{noun}:{p} {kind}:{id}")),
            (Some((kind, id)), None) => Some(format!("{kind}:{id}")),
            (None, Some(p)) => Some(format!("{noun}:{p}")),
            (None, None) => None,
        };
        let entry = Entry {
            actor_id: Some(actor_id),
            actor_role: role.into(),
            client_id,
            action,
            target,
            ip,
            detail: Some(
                serde_json::json!({ "method": request.method().as_str(), "path": request.path(), "status": status }),
            ),
        };
        if let Err(err) = state.main.run(move |c| Ok(store::record(c, &entry)?)).await {
            tracing::error!(error = %err, "could not write the audit log");
        }
        Ok(res)
    }
}

/// Records a shop lifecycle event (`shop.created`, `shop.deleted`, …) in the audit log and as a
/// structured line in the server log. `by` is the acting user, if a person started it.
pub fn lifecycle(conn: &rusqlite::Connection, client_id: i64, event: &str, detail: serde_json::Value) {
    tracing::warn!(target: "vergeflow::audit", audit_event = event, client_id, %detail, "shop lifecycle event");
    let entry = Entry {
        actor_id: None,
        actor_role: "system".into(),
        client_id: Some(client_id),
        action: event.to_string(),
        target: Some(format!("client:{client_id}")),
        ip: None,
        detail: Some(detail),
    };
    if let Err(err) = store::record(conn, &entry) {
        tracing::error!(client_id, event, error = %err, "could not write a lifecycle event to the audit log");
    }
}

#[cfg(test)]
mod tests {
    use actix_web::http::Method;

    use super::action_for;

    #[test]
    fn actions_name_the_thing_and_what_happened() {
        for (template, method, action) in [
            ("/api/super-admin/clients", Method::POST, "client.created"),
            ("/api/super-admin/clients/{id}", Method::PATCH, "client.updated"),
            ("/api/super-admin/clients/{id}/backups/{name}/restore", Method::POST, "backup.restore"),
            ("/api/super-admin/clients/{id}/backups/{name}", Method::DELETE, "backup.deleted"),
            ("/api/super-admin/clients/import", Method::POST, "client.import"),
            ("/api/super-admin/jobs/failed/{id}/retry", Method::POST, "failed_job.retry"),
            ("/api/admin/categories/{id}", Method::DELETE, "category.deleted"),
            ("/api/admin/products", Method::POST, "product.created"),
            ("/api/super-admin/settings", Method::PUT, "setting.updated"),
        ] {
            assert_eq!(action_for(template, &method).0, action, "{method} {template}");
        }
    }
}
