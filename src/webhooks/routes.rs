//! `/api/admin/webhooks`: a shop admin's endpoints and their delivery log.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::store::{self, Delivery, Webhook};
use crate::body::Body;
use crate::error::{AppError, FieldErrors};
use crate::openapi::{Access, Answer, Api, PAGE, Spec, schema};
use crate::pagination::{Page, PageQuery, Paginated};
use crate::state::AppState;
use crate::tenancy::resolve::ShopAdmin;

pub fn routes(api: &mut Api) {
    use Access::ShopAdmin as Admin;
    api.get(
        "/api/admin/webhooks",
        Spec::new("The shop's webhook endpoints", Admin, Answer::Json(200, schema::<Paginated<Webhook>>)).query(PAGE),
        list,
    )
    .post(
        "/api/admin/webhooks",
        Spec::new(
            "Register an endpoint; the answer holds its signing secret, shown once",
            Admin,
            Answer::Json(201, schema::<Created>),
        )
        .body_as(schema::<NewBody>, "WebhookCreate", &["url", "events"]),
        create,
    )
    .get("/api/admin/webhooks/{id}", Spec::new("One endpoint", Admin, Answer::Json(200, schema::<Webhook>)), show)
    .patch(
        "/api/admin/webhooks/{id}",
        Spec::new(
            "Change an endpoint; `active: true` re-enables a disabled one",
            Admin,
            Answer::Json(200, schema::<Webhook>),
        )
        .body_as(schema::<PatchBody>, "WebhookUpdate", &[]),
        update,
    )
    .delete("/api/admin/webhooks/{id}", Spec::new("Remove an endpoint and its log", Admin, Answer::NoContent), remove)
    .get(
        "/api/admin/webhooks/{id}/deliveries",
        Spec::new("The endpoint's deliveries, newest first", Admin, Answer::Json(200, schema::<Paginated<Delivery>>))
            .query(PAGE),
        deliveries,
    );
}

#[derive(Deserialize, schemars::JsonSchema)]
#[schemars(example = serde_json::json!({"url": "https://hooks.example.com/vergeflow", "events": ["order.created"]}))]
pub(crate) struct NewBody {
    #[schemars(length(min = 10, max = 2000))]
    url: String,
    /// Any of `order.created`, `order.status_changed`, `product.low_stock`.
    events: Vec<String>,
    active: Option<bool>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[schemars(example = serde_json::json!({"active": true}))]
struct PatchBody {
    #[schemars(length(min = 10, max = 2000))]
    url: Option<String>,
    events: Option<Vec<String>>,
    active: Option<bool>,
}

/// The endpoint and its secret (`whsec_…`): receivers verify `X-VergeFlow-Signature` with it.
#[derive(Serialize, schemars::JsonSchema)]
struct Created {
    #[serde(flatten)]
    webhook: Webhook,
    secret: String,
}

fn check_events(errors: &mut FieldErrors, events: &[String]) -> Option<Vec<String>> {
    if events.is_empty() || events.len() > super::EVENTS.len() {
        errors.add("events", format!("must name 1 to {} of {}", super::EVENTS.len(), super::EVENTS.join(", ")));
        return None;
    }
    if let Some(bad) = events.iter().find(|e| !super::EVENTS.contains(&e.as_str())) {
        errors.add("events", format!("{bad:?} is not one of {}", super::EVENTS.join(", ")));
        return None;
    }
    let mut events = events.to_vec();
    events.sort();
    events.dedup();
    Some(events)
}

/// Shape first, then (off the async workers, since it resolves the name) the address rule.
async fn check_url(state: &AppState, url: &str) -> Result<String, AppError> {
    let url = url.trim().to_string();
    let (host, port) = super::check_shape(&url).map_err(|e| AppError::invalid_field("url", e))?;
    let allow = state.settings.webhook_allow_private;
    web::block(move || super::resolve_allowed(&host, port, allow))
        .await
        .map_err(|e| AppError::Internal(e.into()))?
        .map_err(|e| AppError::invalid_field("url", e))?;
    Ok(url)
}

fn not_found() -> AppError {
    AppError::not_found("webhook_not_found", "no such webhook")
}

pub(crate) async fn list(
    state: web::Data<AppState>,
    admin: ShopAdmin,
    q: web::Query<PageQuery>,
) -> Result<web::Json<Paginated<Webhook>>, AppError> {
    admin.0.client.features.require(crate::features::Feature::Webhooks)?;
    let page = Page::from_query(&q)?;
    let client_id = admin.0.client.id;
    let (rows, total) = state.main.run(move |c| Ok(store::list(c, client_id, page)?)).await?;
    Ok(web::Json(Paginated::new(rows, page, total)))
}

pub(crate) async fn create(
    state: web::Data<AppState>,
    admin: ShopAdmin,
    body: Body<NewBody>,
) -> Result<HttpResponse, AppError> {
    admin.0.client.features.require(crate::features::Feature::Webhooks)?;
    let body = body.into_inner();
    let mut errors = FieldErrors::default();
    let events = check_events(&mut errors, &body.events);
    errors.into_result()?;
    let url = check_url(&state, &body.url).await?;
    let (client_id, secret) = (admin.0.client.id, super::new_secret());
    let (events, active, s) = (events.unwrap_or_default(), body.active.unwrap_or(true), secret.clone());
    let webhook = state.main.run(move |c| Ok(store::insert(c, client_id, &url, &events, &s, active)?)).await?;
    tracing::info!(client_id, webhook_id = webhook.id, "webhook registered");
    Ok(HttpResponse::Created().json(Created { webhook, secret }))
}

async fn show(
    state: web::Data<AppState>,
    admin: ShopAdmin,
    id: web::Path<i64>,
) -> Result<web::Json<Webhook>, AppError> {
    admin.0.client.features.require(crate::features::Feature::Webhooks)?;
    let (client_id, id) = (admin.0.client.id, id.into_inner());
    state.main.run(move |c| Ok(store::find(c, client_id, id)?)).await?.map(web::Json).ok_or_else(not_found)
}

async fn update(
    state: web::Data<AppState>,
    admin: ShopAdmin,
    id: web::Path<i64>,
    body: Body<PatchBody>,
) -> Result<web::Json<Webhook>, AppError> {
    admin.0.client.features.require(crate::features::Feature::Webhooks)?;
    let body = body.into_inner();
    let mut errors = FieldErrors::default();
    let events = body.events.as_deref().map(|e| check_events(&mut errors, e));
    errors.into_result()?;
    let url = match &body.url {
        Some(u) => Some(check_url(&state, u).await?),
        None => None,
    };
    let (client_id, id, active) = (admin.0.client.id, id.into_inner(), body.active);
    let events = events.flatten();
    state
        .main
        .run(move |c| Ok(store::update(c, client_id, id, url.as_deref(), events.as_deref(), active)?))
        .await?
        .map(web::Json)
        .ok_or_else(not_found)
}

pub(crate) async fn remove(
    state: web::Data<AppState>,
    admin: ShopAdmin,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    admin.0.client.features.require(crate::features::Feature::Webhooks)?;
    let (client_id, id) = (admin.0.client.id, id.into_inner());
    if state.main.run(move |c| Ok(store::delete(c, client_id, id)?)).await? {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(not_found())
    }
}

pub(crate) async fn deliveries(
    state: web::Data<AppState>,
    admin: ShopAdmin,
    id: web::Path<i64>,
    q: web::Query<PageQuery>,
) -> Result<web::Json<Paginated<Delivery>>, AppError> {
    admin.0.client.features.require(crate::features::Feature::Webhooks)?;
    let page = Page::from_query(&q)?;
    let (client_id, id) = (admin.0.client.id, id.into_inner());
    let (rows, total) = state
        .main
        .run(move |c| {
            if store::find(c, client_id, id)?.is_none() {
                return Err(not_found());
            }
            Ok(store::deliveries(c, client_id, id, page)?)
        })
        .await?;
    Ok(web::Json(Paginated::new(rows, page, total)))
}
